import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBrokerProcess } from '../../server/testing/broker-process.js';

test('the broker process serves HTTP on the port its startup line names', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-http-process-'));
  const broker = await startBrokerProcess(dataDir);
  try {
    assert.equal(typeof broker.httpPort, 'number');
    assert.ok(broker.httpPort! > 0);
    const base = `http://127.0.0.1:${broker.httpPort}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const produced = await fetch(`${base}/v1/topics/proc/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ value: 'across the process boundary' }] }),
    });
    assert.equal(produced.status, 200);
    assert.deepEqual(await produced.json(), { results: [{ partition: 0, offset: 0 }] });
  } finally {
    assert.equal(await broker.stop(), 0);
    await rm(dataDir, { recursive: true, force: true });
  }
  const off = await startBrokerProcess(dataDir, { args: ['--no-http'] });
  try {
    assert.equal(off.httpPort, null);
  } finally {
    await off.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
