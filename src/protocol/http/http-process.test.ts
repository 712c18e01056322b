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

test('a broker process whose disk has less free space than --disk-free-min-bytes refuses produces with 507 DISK_FREE_LOW and says so in its log', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-http-process-'));
  // 9 PB: more than any disk this runs on has free.
  const broker = await startBrokerProcess(dataDir, { args: ['--disk-free-min-bytes', '9000000000000000'] });
  try {
    const base = `http://127.0.0.1:${broker.httpPort}`;
    const refused = await fetch(`${base}/v1/topics/full/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ value: 'no room' }] }),
    });
    assert.equal(refused.status, 507);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = (await refused.json()) as { error: { code: string; message: string; retriable: boolean } };
    assert.equal(body.error.code, 'DISK_FREE_LOW');
    assert.equal(body.error.retriable, true);
    assert.match(body.error.message, /bytes free, below the minimum of 9000000000000000 \(--disk-free-min-bytes\)/);
    assert.equal((await fetch(`${base}/v1/topics/full`)).status, 404, 'no topic was created');
    assert.match(broker.log(), /warn .*bytes free, below the minimum of 9000000000000000/);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /\nweir_disk_free_bytes [1-9]\d*\n/);
  } finally {
    assert.equal(await broker.stop(), 0);
    await rm(dataDir, { recursive: true, force: true });
  }
});
