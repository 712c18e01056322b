/**
 * The broker-wide bound on request bytes, against the real broker process: many connections
 * (Kafka and native) that each send most of a large request frame and never finish it keep the
 * broker's resident memory bounded, small produces on both listeners still go through while they
 * hold the bound, and once they are gone large produces do too, every message stored.
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
import { kafkaMessages as m } from '../protocol/kafka/wire/messages.js';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { sampleResidentPeak } from './testing/resident-memory.js';
import { openSocket } from '../util/testing/socket.js';

const topic = 'requests';
const frameBytes = 48 * 1024 * 1024;
/** What each hoarding connection sends of its frame: all but its last MiB. */
const sentBytes = frameBytes - 1024 * 1024;
const hoardingKafkaCount = 12;
const hoardingNativeCount = 8;
const chunk = Buffer.alloc(1024 * 1024, 1);

let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-request-memory-'));
  broker = await startBrokerProcess(dataDir);
  const setup = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'setup', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    await setup.request('createTopic', { name: topic, config: { partitions: 1 } as never });
  } finally {
    setup.close();
  }
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

function lengthPrefix(bytes: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(bytes);
  return prefix;
}

/** A connection sending `head` (ending in the prefix of a `frameBytes` frame), then `sentBytes` of the frame a MiB at a time; `sent` counts what the kernel took. */
class Hoarder {
  sent = 0;
  readonly done: Promise<void>;

  constructor(readonly socket: Socket, head: Buffer) {
    socket.on('error', () => {});
    this.done = (async () => {
      await this.#write(head);
      while (this.sent < sentBytes && !socket.destroyed) {
        const piece = chunk.subarray(0, Math.min(chunk.length, sentBytes - this.sent));
        await this.#write(piece);
        this.sent += piece.length;
      }
    })();
  }

  #write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }
}

async function hoardKafka(): Promise<Hoarder> {
  return new Hoarder(await openSocket(broker.kafkaPort!), lengthPrefix(frameBytes));
}

async function hoardNative(): Promise<Hoarder> {
  const hello = Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'hoarder' }));
  return new Hoarder(await openSocket(broker.port), Buffer.concat([hello, lengthPrefix(frameBytes)]));
}

/**
 * Resolves once every hoarder has sent all it means to (the broker read it all) or none has got
 * further for `quietMs` (the broker stopped reading them: its kernel buffers are full).
 */
async function sentOrStalled(hoarders: Hoarder[], quietMs: number): Promise<void> {
  const all = Promise.all(hoarders.map((h) => h.done));
  let finished = false;
  void all.then(() => (finished = true));
  let last = -1;
  let quietSinceMs = Date.now();
  for (;;) {
    if (finished) return;
    const total = hoarders.reduce((sum, h) => sum + h.sent, 0);
    if (total !== last) {
      last = total;
      quietSinceMs = Date.now();
    } else if (Date.now() - quietSinceMs >= quietMs) {
      return;
    }
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

/** The offset after the last record of `records` (stored batches), or `from` when empty. */
function offsetAfter(records: Buffer, from: bigint): bigint {
  let next = from;
  for (const { position } of batchPositions(records)) {
    next = records.readBigInt64BE(position + batchOffsets.baseOffset) + BigInt(records.readInt32BE(position + batchOffsets.lastOffsetDelta)) + 1n;
  }
  return next;
}

function values(count: number, bytes: number): { value: Buffer }[] {
  return Array.from({ length: count }, (_, index) => ({ value: Buffer.alloc(bytes, index) }));
}

/** One batch of `count` records of `bytes` each through each listener; resolves once both are acknowledged. */
async function produceBoth(count: number, bytes: number): Promise<void> {
  const native = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'producer', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  const kafka = await RawClient.open(broker.kafkaPort!);
  try {
    await native.request('produce', { topic, partition: 0, acks: 'leader', batches: encodeBatch(values(count, bytes)) });
    const response = await kafka.call(m.produce, 7, { acks: -1, timeoutMs: 10_000, topics: [{ name: topic, partitions: [{ index: 0, records: encodeBatch(values(count, bytes)) }] }] });
    assert.equal(response.responses[0]!.partitions[0]!.errorCode, 0);
  } finally {
    native.close();
    kafka.close();
  }
}

async function storedCount(): Promise<bigint> {
  const consumer = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'reader', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    let offset = 0n;
    for (;;) {
      const [result] = await consumer.request('fetch', { waitMs: 0, bytesMin: 1, bytesMaxTotal: 8 << 20, partitions: [{ topic, partition: 0, offset, bytesMax: 8 << 20 }] });
      assert.equal(result!.errorCode, 0);
      const next = offsetAfter(result!.records, offset);
      if (next === offset) return offset;
      offset = next;
    }
  } finally {
    consumer.close();
  }
}

test('connections that each send most of a large frame hold about the broker-wide request memory bound; producers on both listeners go on', { timeout: 90_000 }, async () => {
  const pid = broker.child.pid!;
  const peak = sampleResidentPeak(pid);
  const startBytes = await peak.stop();
  const sampling = sampleResidentPeak(pid);
  const hoarders: Hoarder[] = [];
  try {
    for (let i = 0; i < hoardingKafkaCount; i++) hoarders.push(await hoardKafka());
    for (let i = 0; i < hoardingNativeCount; i++) hoarders.push(await hoardNative());
    // 20 frames of 47 MiB offered, 940 MiB: without the bound the broker holds all of it.
    await sentOrStalled(hoarders, 1000);
    // While they hold the bound, small requests still go through: a connection holding next to
    // nothing of it always reads.
    await produceBoth(100, 100);
    const grownMiB = ((await sampling.stop()) - startBytes) / (1 << 20);
    // The bound (64 MiB), the one frame read on past it (48 MiB), and per connection up to a MiB of
    // its partial frame's last block and a read; and room for garbage not yet collected.
    assert.ok(grownMiB < 64 + 48 + 20 * 2 + 64, `the broker's resident memory grew by ${grownMiB.toFixed(0)} MiB`);
  } finally {
    for (const hoarder of hoarders) hoarder.socket.destroy();
  }
  // Their bytes are let go with them: larger produces (about 1 MB each) go through too.
  await produceBoth(1000, 1000);
  assert.equal(await storedCount(), 2n * 100n + 2n * 1000n);
});
