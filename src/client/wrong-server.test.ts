/**
 * A client pointed at something that is not a Weir native listener — the broker's own Kafka or
 * HTTP port, or a server that accepts and says nothing — fails its connect at once (or after
 * connectTimeoutMs) with a message that says so, instead of a frame-length error or a 30 s request
 * timeout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBrokerProcess, type BrokerProcess } from '../server/testing/broker-process.js';
import { connect, isWeirError } from './index.js';

let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-wrong-server-'));
  broker = await startBrokerProcess(dataDir);
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

const hint = /is it a Weir native listener\? \(its port is 7400 unless --port says otherwise/;

test("the broker's HTTP port: the answer is named as not a Weir frame, with its first bytes", async () => {
  assert.ok(broker.httpPort !== null);
  const started = Date.now();
  await assert.rejects(connect(`weir://127.0.0.1:${broker.httpPort}`), (e) => {
    assert.ok(isWeirError(e, 'CONNECTION_CLOSED'), String(e));
    assert.match(e.message, /answered hello with data that is not a Weir frame \(.*it began "HTTP\/1\.1 /);
    assert.match(e.message, hint);
    return true;
  });
  assert.ok(Date.now() - started < 5_000);
});

test("the broker's Kafka port: the connection closed before the hello was answered", async () => {
  await assert.rejects(connect(`weir://127.0.0.1:${broker.kafkaPort}`), (e) => {
    assert.ok(isWeirError(e, 'CONNECTION_CLOSED'), String(e));
    assert.match(e.message, /closed the connection before answering hello/);
    assert.match(e.message, hint);
    return true;
  });
});

test('a server that accepts and never answers: TIMEOUT after connectTimeoutMs, not requestTimeoutMs', async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  try {
    const started = Date.now();
    await assert.rejects(connect(`weir://127.0.0.1:${port}`, { connectTimeoutMs: 400, requestTimeoutMs: 30_000 }), (e) => {
      assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, /did not answer hello within connectTimeoutMs \(400 ms\)/);
      assert.match(e.message, hint);
      return true;
    });
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs >= 350 && elapsedMs < 5_000, `failed after ${elapsedMs} ms`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('the native port still connects', async () => {
  const client = await connect(`weir://127.0.0.1:${broker.port}`);
  try {
    assert.deepEqual(await client.admin().listTopics(), []);
  } finally {
    await client.close();
  }
});
