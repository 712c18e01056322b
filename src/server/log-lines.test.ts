/**
 * The broker's log lines, end to end: the real broker process, a raw client on a real socket.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { logMessageCharsMax } from '../util/logger.js';
import { startBrokerProcess } from './testing/broker-process.js';

test('a client id of 60 000 characters is cut in the connection log line, which still ends with the reason', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-log-lines-'));
  const broker = await startBrokerProcess(dataDir);
  try {
    const clientId = `long-${'x'.repeat(60_000)}-end`;
    const socket = netConnect({ host: '127.0.0.1', port: broker.port });
    await once(socket, 'connect');
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId })));
    await once(socket, 'data'); // the hello answer: the broker knows the client id now
    // A frame length past any bound: the broker logs the connection and closes it.
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(0xffff_ffff);
    socket.write(oversized);
    const logged = new Promise<string>((resolve) => {
      const check = (): void => {
        const line = broker.log().split('\n').find((l) => l.includes('native connection'));
        if (line === undefined) return;
        broker.child.stderr!.off('data', check);
        resolve(line);
      };
      broker.child.stderr!.on('data', check);
      check();
    });
    socket.resume();
    await once(socket, 'close');
    const line = await logged;
    assert.ok(line.length < logMessageCharsMax + 100, `a line of ${line.length} characters`);
    assert.match(line, /warn  native connection 127\.0\.0\.1:\d+ \(long-x+…\[cut \d+ chars\]…x+-end\) closed: .*4294967295/);
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('each listener announces itself as NAME listening on HOST:PORT, before the ready line', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-log-lines-'));
  const broker = await startBrokerProcess(dataDir);
  try {
    const lines = broker.log().split('\n');
    const ready = lines.findIndex((line) => line.includes('weir broker ready'));
    const announced = (name: string, port: number | null): void => {
      const index = lines.findIndex((line) => line.endsWith(`info  ${name} listening on 127.0.0.1:${port}`));
      assert.ok(index >= 0 && index < ready, `no "${name} listening on 127.0.0.1:${port}" before the ready line in:\n${broker.log()}`);
    };
    announced('native protocol', broker.port);
    announced('Kafka', broker.kafkaPort);
    announced('HTTP', broker.httpPort);
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
