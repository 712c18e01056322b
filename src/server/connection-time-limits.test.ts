/**
 * `weir start --native-hello-ms-max` and `--frame-arrival-ms-max` against the real broker process:
 * a native connection that says nothing, and a native or Kafka connection that stalls part-way
 * through a frame, are closed once the limit given passes (the defaults would wait 10 s and 30 s),
 * with a warning naming the limit.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { openSocket } from '../util/testing/socket.js';

const limitMs = 300;
/** Far under the defaults (10 s for hello, 30 s for a frame), so only the flags can close in time. */
const closeWithinMs = 5_000;
let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-connection-time-limits-'));
  broker = await startBrokerProcess(dataDir, { args: ['--native-hello-ms-max', String(limitMs), '--frame-arrival-ms-max', String(limitMs)] });
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

/** How long after `sinceMs` the socket closed; fails if it is still open after closeWithinMs. */
function closedAfter(socket: Socket, sinceMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open ${closeWithinMs} ms on`)), closeWithinMs);
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - sinceMs);
    });
  });
}

test('--native-hello-ms-max: a native connection that sends nothing is closed once it passes', { timeout: 20_000 }, async () => {
  const socket = await openSocket(broker.port);
  const connectedAt = Date.now();
  try {
    const waitedMs = await closedAfter(socket, connectedAt);
    assert.ok(waitedMs >= limitMs - 50, `closed ${waitedMs} ms after connecting`);
    assert.match(broker.log(), /warn +native connection .* closed: no hello within 300 ms \(hello limit\)/);
  } finally {
    socket.destroy();
  }
});

test('--frame-arrival-ms-max: a native connection stalled part-way through a frame is closed once it passes', { timeout: 20_000 }, async () => {
  const socket = await openSocket(broker.port);
  try {
    const hello = Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 2, clientId: 'staller' }));
    const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(hello);
    await answered;
    // The first bytes of a second frame, and no more.
    const begunAt = Date.now();
    socket.write(hello.subarray(0, 6));
    const waitedMs = await closedAfter(socket, begunAt);
    assert.ok(waitedMs >= limitMs - 50, `closed ${waitedMs} ms after the frame began`);
    assert.match(broker.log(), /warn +native connection .*\(staller\) closed: a frame begun \d+ ms ago has not all arrived \(frame arrival limit 300 ms\)/);
  } finally {
    socket.destroy();
  }
});

test('--frame-arrival-ms-max: a Kafka connection stalled part-way through a request is closed once it passes', { timeout: 20_000 }, async () => {
  const socket = await openSocket(broker.kafkaPort!);
  try {
    // A request declaring 100 bytes, of which 2 arrive.
    const begunAt = Date.now();
    socket.write(Buffer.from([0, 0, 0, 100, 0, 18]));
    const waitedMs = await closedAfter(socket, begunAt);
    assert.ok(waitedMs >= limitMs - 50, `closed ${waitedMs} ms after the request began`);
    assert.match(broker.log(), /warn +kafka: closing connection from .*: a frame begun \d+ ms ago has not all arrived \(frame arrival limit 300 ms\)/);
  } finally {
    socket.destroy();
  }
});
