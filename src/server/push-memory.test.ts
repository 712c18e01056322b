/**
 * Push subscriptions within the process-wide fetch memory, against the real broker process: many
 * push subscribers that never read their socket, or that take one message and never grant more,
 * keep the broker's resident memory bounded, and afterwards a push consumer and a fetch consumer
 * read everything.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Connection } from '../client/connection.js';
import { connect } from '../client/index.js';
import { take } from '../client/testing/take.js';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { requestsAnswered } from './testing/metrics.js';
import { residentBytes, sampleResidentPeak } from './testing/resident-memory.js';

const topic = 'pushed';
/** 17 produces of 15 batches of 64 records of 1,000 bytes: about 16 MB, one delivery could take it all. */
const produceCount = 17;
const batchesPerProduce = 15;
const recordsPerBatch = 64;
const messageCount = produceCount * batchesPerProduce * recordsPerBatch;
const deliveryBytesMax = 16 * 1024 * 1024;
/** Connections whose one subscription has every credit and whose socket is never read. */
const unreadCount = 40;
/** Connections that read but whose subscriptions take one message each and never grant more. */
const starvedCount = 8;
const starvedSubscriptions = 4;

let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-push-memory-'));
  broker = await startBrokerProcess(dataDir);
  const setup = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'setup', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    await setup.request('createTopic', { name: topic, config: { partitions: 1 } as never });
    const value = Buffer.alloc(1000, 7);
    const batch = encodeBatch(Array.from({ length: recordsPerBatch }, () => ({ value })));
    for (let i = 0; i < produceCount; i++) {
      await setup.request('produce', { topic, partition: 0, acks: 'leader', batches: Buffer.concat(Array.from({ length: batchesPerProduce }, () => batch)) });
    }
  } finally {
    setup.close();
  }
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

/** A raw connection that says hello and subscribes from each of `offsets` with `creditMessages`. */
async function subscriber(offsets: bigint[], creditMessages: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port: broker.port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'hoarder' })));
  offsets.forEach((offset, index) => {
    socket.write(Buffer.concat(encodeRequest(2 + index, apis.subscribe.key, apis.subscribe.request, {
      subscriptionId: 1 + index,
      source: { kind: 'partitions', partitions: [{ topic, partition: 0, offset }] },
      creditMessages,
      creditBytes: 0xffff_ffff,
      deliveryBytesMax,
    })));
  });
  return socket;
}

/** Reads the topic to its end with fetches as large as a delivery; returns the messages read. */
async function fetchAll(): Promise<number> {
  const consumer = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'fetcher', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    let offset = 0n;
    let read = 0;
    while (offset < BigInt(messageCount)) {
      const [result] = await consumer.request('fetch', { waitMs: 0, bytesMin: 1, bytesMaxTotal: deliveryBytesMax, partitions: [{ topic, partition: 0, offset, bytesMax: deliveryBytesMax }] });
      assert.equal(result!.errorCode, 0);
      const records = decodeBatches(result!.records, { decompressedBytesMax: 1 << 26, offsetMin: offset });
      assert.ok(records.length > 0, `the fetch at ${offset} returned records`);
      read += records.length;
      offset = records.at(-1)!.offset + 1n;
    }
    return read;
  } finally {
    consumer.close();
  }
}

test('push subscribers that never read, or never grant more credit, hold about the broker-wide fetch memory bound; then a push and a fetch consumer read everything', { timeout: 60_000 }, async () => {
  const pid = broker.child.pid!;
  const startBytes = await residentBytes(pid);
  const subscribedBefore = await requestsAnswered(broker, 'native', 'subscribe');
  const sampler = sampleResidentPeak(pid);
  const sockets: Socket[] = [];
  try {
    // Unbounded, each of the first would hold a 16 MB delivery and each of the second about
    // 40 MB of records kept for credits (their connection's own bound): about 900 MB together.
    for (let i = 0; i < unreadCount; i++) {
      const socket = await subscriber([0n], 0xffff_ffff);
      socket.pause();
      sockets.push(socket);
    }
    const spacing = BigInt(messageCount / starvedSubscriptions);
    for (let i = 0; i < starvedCount; i++) {
      const socket = await subscriber(Array.from({ length: starvedSubscriptions }, (_, index) => BigInt(index) * spacing), 1);
      socket.on('data', () => {});
      sockets.push(socket);
    }
    const subscriptions = unreadCount + starvedCount * starvedSubscriptions;
    const deadline = Date.now() + 20_000;
    while ((await requestsAnswered(broker, 'native', 'subscribe')) - subscribedBefore < subscriptions) {
      assert.ok(Date.now() < deadline, 'every subscribe answered within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The subscribers hold what they hold; consumers that read get every message meanwhile.
    const client = await connect(broker.url);
    try {
      const consumer = client.consumer({ topics: [topic], from: 'earliest', mode: 'push' });
      const pushed = await take(consumer, messageCount, 20_000);
      await consumer.close();
      assert.equal(pushed.length, messageCount, 'the push consumer read everything');
      assert.deepEqual([pushed[0]!.offset, pushed.at(-1)!.offset], [0n, BigInt(messageCount - 1)]);
    } finally {
      await client.close();
    }
    assert.equal(await fetchAll(), messageCount, 'the fetch consumer read everything');
    const grownMiB = ((await sampler.stop()) - startBytes) / (1 << 20);
    // The bound (128 MiB), a 64 KiB read per connection beyond it, and room for garbage not yet
    // collected; without the bound this grows by about 900 MiB.
    assert.ok(grownMiB < 128 + 96, `the broker's resident memory grew by ${grownMiB.toFixed(0)} MiB`);
  } finally {
    await sampler.stop();
    for (const socket of sockets) socket.destroy();
  }
});
