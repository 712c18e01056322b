/**
 * The process-wide bound on memory held by fetch answers, against the real broker process: many
 * connections that each send one large fetch and never read their socket (native and Kafka) keep
 * the broker's resident memory bounded, while a consumer on another connection reads on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Connection } from '../client/connection.js';
import { batchOffsets, batchPositions, encodeBatch } from '../format/record-batch.js';
import { RawClient } from '../protocol/kafka/kafka-raw-client.js';
import { encodeRequest as encodeKafkaRequest } from '../protocol/kafka/wire/codec.js';
import { kafkaMessages as m } from '../protocol/kafka/wire/messages.js';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { requestsAnswered } from './testing/metrics.js';
import { residentBytes } from './testing/resident-memory.js';
import { openSocket } from '../util/testing/socket.js';
import { waitFor } from '../util/testing/wait.js';

const topic = 'hoard';
/** 64 batches of 64 records of 1,000 bytes: about 4 MB, every fetch from offset 0 could take it all. */
const batchCount = 64;
const recordsPerBatch = 64;
const greedyBytesMax = 64 * 1024 * 1024;
const greedyNativeCount = 200;
const greedyKafkaCount = 100;

let broker: BrokerProcess;
let dataDir: string;
let setup: Connection;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-fetch-memory-'));
  broker = await startBrokerProcess(dataDir);
  setup = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'setup', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  await setup.request('createTopic', { name: topic, config: { partitions: 1 } as never });
  const value = Buffer.alloc(1000, 7);
  for (let i = 0; i < batchCount; i++) {
    await setup.request('produce', { topic, partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: recordsPerBatch }, () => ({ value }))) });
  }
});

after(async () => {
  setup?.close();
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

/** A native connection that says hello, asks for everything in one fetch and never reads. */
async function greedyNative(): Promise<Socket> {
  const socket = await openSocket(broker.port);
  socket.pause();
  socket.on('error', () => {});
  socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'greedy' })));
  socket.write(Buffer.concat(encodeRequest(2, apis.fetch.key, apis.fetch.request, {
    waitMs: 0,
    bytesMin: 0,
    bytesMaxTotal: greedyBytesMax,
    partitions: [{ topic, partition: 0, offset: 0n, bytesMax: greedyBytesMax }],
  })));
  return socket;
}

async function greedyKafka(): Promise<Socket> {
  const socket = await openSocket(broker.kafkaPort!);
  socket.pause();
  socket.on('error', () => {});
  socket.write(encodeKafkaRequest(m.fetch, { apiKey: m.fetch.apiKey, apiVersion: 11, correlationId: 1, clientId: 'greedy' }, {
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: greedyBytesMax,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: greedyBytesMax }] }],
  }));
  return socket;
}

/** The offset after the last record of `records` (stored batches), or `from` when empty. */
function offsetAfter(records: Buffer, from: bigint): bigint {
  let next = from;
  for (const { position } of batchPositions(records)) {
    next = records.readBigInt64BE(position + batchOffsets.baseOffset) + BigInt(records.readInt32BE(position + batchOffsets.lastOffsetDelta)) + 1n;
  }
  return next;
}

/** A consumer that reads the topic to its end, asking as much as the greedy connections. */
async function readToEnd(end: bigint): Promise<void> {
  const consumer = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'reader', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    let offset = 0n;
    while (offset < end) {
      const [result] = await consumer.request('fetch', { waitMs: 0, bytesMin: 1, bytesMaxTotal: greedyBytesMax, partitions: [{ topic, partition: 0, offset, bytesMax: greedyBytesMax }] });
      assert.equal(result!.errorCode, 0);
      const next = offsetAfter(result!.records, offset);
      assert.ok(next > offset, `the fetch at ${offset} returned records`);
      offset = next;
    }
  } finally {
    consumer.close();
  }
}

/** The same over the Kafka listener. */
async function readToEndKafka(end: bigint): Promise<void> {
  const consumer = await RawClient.open(broker.kafkaPort!);
  try {
    let offset = 0n;
    while (offset < end) {
      const body = await consumer.call(m.fetch, 11, { maxWaitMs: 0, minBytes: 1, maxBytes: greedyBytesMax, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: greedyBytesMax }] }] });
      const partition = body.responses![0]!.partitions![0]!;
      assert.equal(partition.errorCode, 0);
      const next = offsetAfter(partition.records!, offset);
      assert.ok(next > offset, `the fetch at ${offset} returned records`);
      offset = next;
    }
  } finally {
    consumer.close();
  }
}

test('connections that each send one large fetch and never read hold about the broker-wide fetch memory bound; other consumers read on meanwhile', { timeout: 60_000 }, async () => {
  const pid = broker.child.pid!;
  const startBytes = await residentBytes(pid);
  const nativeBefore = await requestsAnswered(broker, 'native', 'fetch');
  const kafkaBefore = await requestsAnswered(broker, 'kafka', 'Fetch');
  const greedy: Socket[] = [];
  let peakBytes = startBytes;
  try {
    // Every answer would hold the topic's 4 MB, of which the kernel takes at most about 2 MB
    // (the client does not read): without a broker-wide bound 300 of them hold over 500 MB.
    for (let i = 0; i < greedyNativeCount; i++) greedy.push(await greedyNative());
    for (let i = 0; i < greedyKafkaCount; i++) greedy.push(await greedyKafka());
    await waitFor(async () => {
      peakBytes = Math.max(peakBytes, await residentBytes(pid));
      const native = (await requestsAnswered(broker, 'native', 'fetch')) - nativeBefore;
      const kafka = (await requestsAnswered(broker, 'kafka', 'Fetch')) - kafkaBefore;
      return native >= greedyNativeCount && kafka >= greedyKafkaCount;
    }, 30_000, 'every greedy fetch answered');
    // The bound is full of answers nobody reads; consumers that read still get every message,
    // in smaller fetches.
    const end = BigInt(batchCount * recordsPerBatch);
    await readToEnd(end);
    await readToEndKafka(end);
    peakBytes = Math.max(peakBytes, await residentBytes(pid));
    const grownMiB = (peakBytes - startBytes) / (1 << 20);
    // The bound (128 MiB), about 64 KiB or a first batch per connection beyond it, and room for
    // garbage not yet collected; without the bound this grows by 500 MiB or more.
    assert.ok(grownMiB < 128 + 96, `the broker's resident memory grew by ${grownMiB.toFixed(0)} MiB`);
  } finally {
    for (const socket of greedy) socket.destroy();
  }
});
