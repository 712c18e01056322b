/**
 * The broker-wide bounds an operator sets on `weir start`, against the real broker process: the
 * fetch, request and queue window memory bounds show on /metrics with the bytes held under them,
 * and --connections-max caps each listener's connections.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Connection } from '../client/connection.js';
import { encodeBatch } from '../format/record-batch.js';
import { RawClient } from '../protocol/kafka/kafka-raw-client.js';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { WeirError } from '../util/errors.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { metricSample } from './testing/metrics.js';
import { openSocket } from '../util/testing/socket.js';

const MiB = 1024 * 1024;

async function withBroker(args: string[], body: (broker: BrokerProcess) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-memory-bounds-'));
  const broker = await startBrokerProcess(dataDir, { args });
  try {
    await body(broker);
  } finally {
    assert.equal(await broker.stop(), 0);
    await rm(dataDir, { recursive: true, force: true });
  }
}

function open(broker: BrokerProcess, clientId: string): Promise<Connection> {
  return Connection.open({ host: '127.0.0.1', port: broker.port, clientId, connectTimeoutMs: 2000, requestTimeoutMs: 40_000 });
}

/** Scrapes until `name` satisfies `holds` (a gauge has no event to await); fails after 10 s. */
async function gaugeUntil(broker: BrokerProcess, name: string, holds: (value: number) => boolean): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await metricSample(broker, name);
    if (holds(value)) return value;
    assert.ok(Date.now() < deadline, `${name} still ${value} after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
}

test('the fetch, request, queue window and queue lease memory bounds given on weir start show on /metrics, with the bytes held under them', { timeout: 60_000 }, async () => {
  const args = ['--fetch-memory-bytes', String(3 * MiB), '--request-memory-bytes', String(5 * MiB), '--queue-window-memory-bytes', String(7 * MiB), '--queue-lease-memory-bytes', String(9 * MiB)];
  await withBroker(args, async (broker) => {
    assert.equal(await metricSample(broker, 'weir_fetch_memory_max_bytes'), 3 * MiB);
    assert.equal(await metricSample(broker, 'weir_request_memory_max_bytes'), 5 * MiB);
    assert.equal(await metricSample(broker, 'weir_queue_window_memory_max_bytes'), 7 * MiB);
    assert.equal(await metricSample(broker, 'weir_queue_lease_memory_max_bytes'), 9 * MiB);
    assert.equal(await metricSample(broker, 'weir_fetch_memory_bytes'), 0);
    assert.equal(await metricSample(broker, 'weir_request_memory_bytes'), 0);

    // A long poll on an empty partition holds its byte limit in the fetch memory while it waits.
    const client = await open(broker, 'poller');
    try {
      await client.request('createTopic', { name: 'polled', config: { partitions: 1 } as never });
      const polling = client.request('fetch', { waitMs: 30_000, bytesMin: 1, bytesMaxTotal: MiB, partitions: [{ topic: 'polled', partition: 0, offset: 0n, bytesMax: MiB }] });
      await gaugeUntil(broker, 'weir_fetch_memory_bytes', (bytes) => bytes === MiB);
      await client.request('produce', { topic: 'polled', partition: 0, acks: 'leader', batches: encodeBatch([{ value: Buffer.from('wake') }]) });
      const [answer] = await polling;
      assert.equal(answer!.errorCode, 0);
      await gaugeUntil(broker, 'weir_fetch_memory_bytes', (bytes) => bytes === 0);
    } finally {
      client.close();
    }

    // A connection part-way through a large request frame holds what it sent in the request memory.
    const hoarder = await openSocket(broker.port);
    hoarder.on('error', () => {});
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(4 * MiB);
    const sentBytes = 2 * MiB;
    hoarder.write(Buffer.concat([...encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'hoarder' }), prefix, Buffer.alloc(sentBytes, 1)]));
    await gaugeUntil(broker, 'weir_request_memory_bytes', (bytes) => bytes >= sentBytes);
    hoarder.destroy();
    await gaugeUntil(broker, 'weir_request_memory_bytes', (bytes) => bytes === 0);
  });
});

test('--connections-max 2 refuses a third connection on each listener; the first two go on', { timeout: 60_000 }, async () => {
  await withBroker(['--connections-max', '2'], async (broker) => {
    const first = await open(broker, 'first');
    const second = await open(broker, 'second');
    try {
      // The listener closes the third at accept: the client sees the connection closed (or reset,
      // when its hello was unread) before any answer to its hello.
      await assert.rejects(open(broker, 'third'), (error: unknown) => error instanceof WeirError && error.code === 'LIMIT_EXCEEDED' && /connection limit: this listener holds connectionsMax \(2\)/.test(error.message));
      assert.match(broker.log(), /native listener: refusing a connection, 2 are open/);
      assert.deepEqual(await first.request('listTopics', { includeInternal: false }), await second.request('listTopics', { includeInternal: false }));
    } finally {
      first.close();
      second.close();
    }

    const kafka = await Promise.all([RawClient.open(broker.kafkaPort!), RawClient.open(broker.kafkaPort!)]);
    const refused = await RawClient.open(broker.kafkaPort!);
    try {
      assert.equal(await refused.next(), null, 'the third Kafka connection is closed without an answer');
      assert.match(broker.log(), /kafka: connection limit reached/);
    } finally {
      for (const client of [...kafka, refused]) client.close();
    }

    const http = await Promise.all([openSocket(broker.httpPort!), openSocket(broker.httpPort!)]);
    const third = await openSocket(broker.httpPort!);
    third.on('error', () => {});
    try {
      // The third connection's request is answered 503 naming the limit, and is not run: the
      // message it carries is not produced (the topic is not even auto-created).
      let answered = '';
      third.on('data', (chunk: Buffer) => (answered += chunk.toString()));
      const body = JSON.stringify({ messages: [{ value: 'refused' }] });
      third.write(`POST /v1/topics/refused-topic/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      await closed(third);
      assert.match(answered, /^HTTP\/1\.1 503 /);
      assert.match(answered, /\r\nretry-after: 1\r\n/i);
      assert.match(answered, /\r\nconnection: close\r\n/i);
      assert.match(answered, /"code":"LIMIT_EXCEEDED".*connection limit: this listener holds connectionsMax \(2\)/);
      assert.match(broker.log(), /HTTP listener: refusing a connection, 2 are open/);
      // A WebSocket upgrade on a refused connection gets the same answer instead of a session.
      const upgrading = await openSocket(broker.httpPort!);
      upgrading.on('error', () => {});
      let upgradeAnswer = '';
      upgrading.on('data', (chunk: Buffer) => (upgradeAnswer += chunk.toString()));
      upgrading.write('GET /v1/topics/refused-topic/ws HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await closed(upgrading);
      assert.match(upgradeAnswer, /^HTTP\/1\.1 503 [^]*"code":"LIMIT_EXCEEDED"/);
      http[0]!.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
      let text = '';
      http[0]!.on('data', (chunk: Buffer) => (text += chunk.toString()));
      await closed(http[0]!);
      assert.match(text, /^HTTP\/1\.1 200 /);
      const lister = await open(broker, 'lister');
      const topics = await lister.request('listTopics', { includeInternal: false });
      lister.close();
      const names = topics.map((topic) => topic.name);
      assert.ok(!names.includes('refused-topic'), `the refused request was not run: ${names.join(', ')}`);
    } finally {
      for (const socket of [...http, third]) socket.destroy();
    }
  });
});
