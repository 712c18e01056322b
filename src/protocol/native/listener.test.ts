import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { decodeBatches, encodeBatch } from '../../format/record-batch.js';
import { SharedByteBudget } from '../../util/byte-budget.js';
import { errorCatalog, errorCodeFromWire, isWeirError, type WeirError } from '../../util/errors.js';
import { Connection } from '../../client/connection.js';
import { startTestBroker, type TestBroker } from './testing-broker.js';
import type { Codec, CodecValue } from './wire/codec.js';
import { FrameReader, encodeRequest, errorMessageBytesMax, frameKinds, parseFrame, readErrorPart, type Frame } from './wire/frame.js';
import { apis, delivery as deliveryCodec, protocolVersionMax, queueDeliveries, type Delivery, type QueueDelivery } from './wire/messages.js';
import { peakOver } from '../../util/testing/peak.js';
import { openSocket } from '../../util/testing/socket.js';
import { waitFor } from '../../util/testing/wait.js';

let harness: TestBroker;
before(async () => {
  harness = await startTestBroker({ listener: { frameBytesMax: 1024 * 1024 } });
});
after(async () => {
  await harness.stop();
});

function open(options: { versionMin?: number; versionMax?: number } = {}): Promise<Connection> {
  return Connection.open({ host: '127.0.0.1', port: harness.port, clientId: 'test', connectTimeoutMs: 2000, requestTimeoutMs: 10_000, ...options });
}

/**
 * Makes `topic` with `count` messages and a pull queue subscription `s` for consumer 1, and leases
 * it the first message: that message's receipt fields, and the rest of a queueSettle request.
 */
async function leaseFirst(connection: Connection, topic: string, count = 1) {
  await connection.request('createTopic', { name: topic, config: {} as never });
  await connection.request('produce', { topic, partition: 0, acks: 'leader', batches: encodeBatch(records(count, topic)) });
  await connection.request('queueSubscribe', { consumerId: 1, topic, subscription: 's', configJson: null, push: false, credits: 0, ratePerSecond: 0 });
  const [delivery] = await connection.request('queueReceive', { consumerId: 1, max: 1, waitMs: 2000 });
  const leased = { partition: 0, offset: delivery!.baseOffset, count: 1, deliveryCount: delivery!.deliveryCount, leaseEpoch: delivery!.leaseEpoch };
  return { leased, settle: { topic, subscription: 's', consumerId: 1, credits: 0 } };
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.on('error', () => {});
    socket.resume(); // drain what the server sent, so that 'close' can follow its end
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const records = (count: number, tag: string) =>
  Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`${tag}-${i}`) }));

test('requests round trip: create, produce, fetch, describe, list offsets', async () => {
  const connection = await open();
  try {
    assert.equal(connection.hello?.version, protocolVersionMax);
    const created = await connection.request('createTopic', { name: 'basics', config: { partitions: 2 } as never });
    assert.equal(created.partitions.length, 2);
    const produced = await connection.request('produce', { topic: 'basics', partition: 1, acks: 'leader', batches: encodeBatch(records(3, 'a')) });
    assert.equal(produced.baseOffset, 0n);
    const fetched = await connection.request('fetch', {
      waitMs: 0,
      bytesMin: 1,
      bytesMaxTotal: 1 << 20,
      partitions: [{ topic: 'basics', partition: 1, offset: 0n, bytesMax: 1 << 20 }],
    });
    assert.equal(fetched[0]!.errorCode, 0);
    assert.equal(fetched[0]!.highWatermark, 3n);
    assert.ok(fetched[0]!.records.length > 61);
    const latest = await connection.request('listOffsets', { topic: 'basics', partition: 1, spec: 'latest' });
    assert.equal(latest.offset, 3n);
    await assert.rejects(connection.request('describeTopic', { name: 'missing', ensure: false, partition: -1 }), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
  } finally {
    connection.close();
  }
});

test('a topic created with timestampBehindMsMax refuses a produce holding a record older than that (INVALID_TIMESTAMP, nothing stored) and takes a fresh one', async () => {
  const connection = await open();
  try {
    const created = await connection.request('createTopic', { name: 'dated-behind', config: { timestampBehindMsMax: 60_000 } as never });
    assert.equal(created.config.timestampBehindMsMax, 60_000);
    assert.equal((await connection.request('describeTopic', { name: 'dated-behind', ensure: false, partition: -1 })).config.timestampBehindMsMax, 60_000);
    // One fresh batch and one whose second record is two minutes old, in one produce.
    const nowMs = Date.now();
    const batches = Buffer.concat([encodeBatch([{ value: Buffer.from('fresh'), timestamp: nowMs }]), encodeBatch([{ value: Buffer.from('now'), timestamp: nowMs }, { value: Buffer.from('old'), timestamp: nowMs - 120_000 }])]);
    await assert.rejects(
      connection.request('produce', { topic: 'dated-behind', partition: 0, acks: 'leader', batches }),
      (e) => isWeirError(e, 'INVALID_TIMESTAMP') && /ms behind the broker's clock; timestampBehindMsMax is 60000/.test(e.message),
    );
    assert.equal((await connection.request('listOffsets', { topic: 'dated-behind', partition: 0, spec: 'latest' })).offset, 0n, 'nothing of the refused produce is stored');
    const produced = await connection.request('produce', { topic: 'dated-behind', partition: 0, acks: 'leader', batches: encodeBatch(records(2, 'fresh')) });
    assert.equal(produced.baseOffset, 0n);
    // Without the bound (the default), the same old record is stored.
    await connection.request('createTopic', { name: 'dated-any', config: {} as never });
    assert.equal((await connection.request('produce', { topic: 'dated-any', partition: 0, acks: 'leader', batches })).baseOffset, 0n);
  } finally {
    connection.close();
  }
});

test('a long poll wakes up when data arrives', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'long-poll', config: {} as never });
    const started = Date.now();
    const fetching = connection.request(
      'fetch',
      { waitMs: 10_000, bytesMin: 1, bytesMaxTotal: 1 << 20, partitions: [{ topic: 'long-poll', partition: 0, offset: 0n, bytesMax: 1 << 20 }] },
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await connection.request('produce', { topic: 'long-poll', partition: 0, acks: 'leader', batches: encodeBatch(records(1, 'x')) });
    const [result] = await fetching;
    const elapsedMs = Date.now() - started;
    assert.ok(result!.records.length > 0, 'the fetch returned the new record');
    assert.ok(elapsedMs >= 150 && elapsedMs < 5_000, `woke after ${elapsedMs} ms`);
  } finally {
    connection.close();
  }
});

test('push: a subscription that grants 10 credits receives exactly 10 until it grants more', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'push', config: {} as never });
    for (let i = 0; i < 5; i++) {
      await connection.request('produce', { topic: 'push', partition: 0, acks: 'leader', batches: encodeBatch(records(7, `b${i}`)) });
    }
    const deliveries: Delivery[] = [];
    const counted = () => deliveries.reduce((sum, d) => sum + Number(d.offsetEnd - d.offsetFirst), 0);
    connection.subscribe(1, { onDelivery: (d) => deliveries.push(d), onEnd: () => {} });
    await connection.request('subscribe', {
      subscriptionId: 1,
      source: { kind: 'partitions', partitions: [{ topic: 'push', partition: 0, offset: 0n }] },
      creditMessages: 10,
      creditBytes: 1 << 20,
      deliveryBytesMax: 1 << 20,
    });
    await waitFor(() => counted() >= 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(counted(), 10, 'no more than the credits');
    assert.equal(deliveries.at(-1)!.offsetEnd, 10n);
    await connection.request('credit', { subscriptionId: 1, messages: 100, bytes: 1 << 20 });
    await waitFor(() => counted() >= 35);
    assert.equal(counted(), 35);
    // Windows are contiguous from offset 0.
    let expected = 0n;
    for (const d of deliveries) {
      assert.equal(d.offsetFirst, expected);
      expected = d.offsetEnd;
    }
    await connection.request('unsubscribe', { subscriptionId: 1 });
    await connection.request('produce', { topic: 'push', partition: 0, acks: 'leader', batches: encodeBatch(records(3, 'late')) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(counted(), 35, 'nothing after unsubscribe');
  } finally {
    connection.close();
  }
});

test('push: a subscription naming a partition the topic does not have, or one partition twice, is refused up front; the connection stays usable', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'push-two', config: { partitions: 2 } as never });
    const subscribe = (partitions: { topic: string; partition: number; offset: bigint }[]) =>
      connection.request('subscribe', { subscriptionId: 7, source: { kind: 'partitions', partitions }, creditMessages: 10, creditBytes: 1 << 20, deliveryBytesMax: 1 << 20 });
    await assert.rejects(
      subscribe([{ topic: 'push-two', partition: 0, offset: 0n }, { topic: 'push-two', partition: 77, offset: 0n }]),
      (e) => isWeirError(e, 'UNKNOWN_PARTITION') && e.message === 'topic push-two has partitions 0..1, not 77',
    );
    await assert.rejects(
      subscribe([{ topic: 'push-two', partition: 1, offset: 0n }, { topic: 'push-two', partition: 1, offset: 5n }]),
      (e) => isWeirError(e, 'INVALID_REQUEST') && e.message === 'push-two/1 is named twice in one subscription',
    );
    connection.subscribe(7, { onDelivery: () => {}, onEnd: () => {} });
    await subscribe([{ topic: 'push-two', partition: 1, offset: 0n }]);
    await connection.request('unsubscribe', { subscriptionId: 7 });
  } finally {
    connection.close();
  }
});

test('push: a group member subscribes to its assignment from the committed offsets', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'group-push', config: { partitions: 2 } as never });
    for (const partition of [0, 1]) {
      await connection.request('produce', { topic: 'group-push', partition, acks: 'leader', batches: encodeBatch(records(4, `p${partition}`)) });
    }
    const joined = await connection.request(
      'joinGroup',
      { groupId: 'pushers', memberId: '', groupInstanceId: null, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, topics: ['group-push'] },
      10_000,
    );
    assert.deepEqual(joined.assignment, [{ topic: 'group-push', partitions: [0, 1] }]);
    const ref = { groupId: 'pushers', generationId: joined.generationId, memberId: joined.memberId };
    await connection.request('commitOffsets', { ...ref, offsets: [{ topic: 'group-push', partition: 1, offset: 3n, metadata: null }] });
    const deliveries: Delivery[] = [];
    connection.subscribe(2, { onDelivery: (d) => deliveries.push(d), onEnd: () => {} });
    const positions = await connection.request('subscribe', {
      subscriptionId: 2,
      source: { kind: 'group', groupId: 'pushers', memberId: joined.memberId, generationId: joined.generationId, from: 'earliest' },
      creditMessages: 100,
      creditBytes: 1 << 20,
      deliveryBytesMax: 1 << 20,
    });
    assert.deepEqual(
      positions.map((p) => [p.partition, p.offset]).sort(),
      [[0, 0n], [1, 3n]],
    );
    await waitFor(() => deliveries.reduce((sum, d) => sum + Number(d.offsetEnd - d.offsetFirst), 0) >= 5);
    await assert.rejects(
      connection.request('subscribe', {
        subscriptionId: 3,
        source: { kind: 'group', groupId: 'pushers', memberId: joined.memberId, generationId: joined.generationId + 1, from: 'earliest' },
        creditMessages: 1,
        creditBytes: 1,
        deliveryBytesMax: 1,
      }),
      (e) => isWeirError(e, 'ILLEGAL_GENERATION'),
    );
    await connection.request('leaveGroup', { groupId: 'pushers', memberId: joined.memberId });
  } finally {
    connection.close();
  }
});

test('push: a group member\'s subscription ends with UNKNOWN_MEMBER when its session does, and delivers nothing after', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'group-lapse', config: { partitions: 1 } as never });
    const joined = await connection.request(
      'joinGroup',
      { groupId: 'lapsing', memberId: '', groupInstanceId: null, sessionTimeoutMs: 1_000, rebalanceTimeoutMs: 1_000, topics: ['group-lapse'] },
      10_000,
    );
    const deliveries: Delivery[] = [];
    let ended: WeirError | null = null;
    connection.subscribe(2, { onDelivery: (d) => deliveries.push(d), onEnd: (error) => (ended = error) });
    await connection.request('subscribe', {
      subscriptionId: 2,
      source: { kind: 'group', groupId: 'lapsing', memberId: joined.memberId, generationId: joined.generationId, from: 'earliest' },
      creditMessages: 100,
      creditBytes: 1 << 20,
      deliveryBytesMax: 1 << 20,
    });
    await connection.request('produce', { topic: 'group-lapse', partition: 0, acks: 'leader', batches: encodeBatch(records(1, 'member')) });
    await waitFor(() => deliveries.length === 1);
    // No heartbeats: the session ends after a second.
    await waitFor(() => ended !== null, 5_000);
    assert.equal(ended!.code, 'UNKNOWN_MEMBER');
    assert.match(ended!.message, /missed its session timeout of 1000 ms/);
    await connection.request('produce', { topic: 'group-lapse', partition: 0, acks: 'leader', batches: encodeBatch(records(1, 'after')) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(deliveries.length, 1, 'nothing is pushed to a former member');
    await assert.rejects(connection.request('unsubscribe', { subscriptionId: 2 }), (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION'));
  } finally {
    connection.close();
  }
});

test('a first join whose connection closes before the rebalance answers it leaves the group: its partitions go to the members that remain', async () => {
  const staying = await open();
  const leaving = await open();
  try {
    await staying.request('createTopic', { name: 'group-abandoned', config: { partitions: 2 } as never });
    const join = (connection: Connection, memberId: string) =>
      connection.request('joinGroup', { groupId: 'abandoned', memberId, groupInstanceId: null, sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 30_000, topics: ['group-abandoned'] }, 30_000);
    const first = await join(staying, '');
    // The second join waits for the first member to rejoin; its connection closes meanwhile.
    const abandoned = join(leaving, '').catch((error: unknown) => error);
    await waitFor(() => harness.broker.describeGroup('abandoned').members.length === 2);
    leaving.close();
    assert.ok(isWeirError(await abandoned, 'CLOSED'));
    await waitFor(() => harness.broker.describeGroup('abandoned').members.length === 1, 2_000);
    const rejoined = await join(staying, first.memberId);
    assert.deepEqual(rejoined.assignment, [{ topic: 'group-abandoned', partitions: [0, 1] }], 'no partition is held by the member nobody can reach');
  } finally {
    staying.close();
    leaving.close();
  }
});

test('a client id of 60 kB joins a group: its member id starts with the first 200 characters (whole ones), and the group describes', async () => {
  const clientId = `${'c'.repeat(199)}${'\u{1F600}'.repeat(15_000)}`; // a cut after 200 UTF-16 units would halve an emoji
  const connection = await Connection.open({ host: '127.0.0.1', port: harness.port, clientId, connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    await connection.request('createTopic', { name: 'long-client', config: {} as never });
    const joined = await connection.request(
      'joinGroup',
      { groupId: 'long-client', memberId: '', groupInstanceId: null, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, topics: ['long-client'] },
      10_000,
    );
    assert.ok(joined.memberId.startsWith(`${'c'.repeat(199)}\u{1F600}-`), joined.memberId.slice(0, 300));
    await connection.request('heartbeat', { groupId: 'long-client', generationId: joined.generationId, memberId: joined.memberId });
    const described = await connection.request('describeGroup', { groupId: 'long-client' });
    assert.deepEqual(described.members.map((m) => [m.memberId, m.clientId]), [[joined.memberId, clientId]]);
  } finally {
    connection.close();
  }
});

test('a fetch naming a 64 kB topic gets UNKNOWN_TOPIC with a cut message for that partition, and the other partitions\' records', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'beside-long', config: {} as never });
    await connection.request('produce', { topic: 'beside-long', partition: 0, acks: 'leader', batches: encodeBatch(records(2, 'kept')) });
    const long = '\u0001'.repeat(65_535); // its message ("topic … does not exist") passes a string's 65,535 bytes
    const results = await connection.request('fetch', {
      waitMs: 0,
      bytesMin: 0,
      bytesMaxTotal: 1 << 16,
      partitions: [
        { topic: long, partition: 0, offset: 0n, bytesMax: 1 << 16 },
        { topic: 'beside-long', partition: 0, offset: 0n, bytesMax: 1 << 16 },
      ],
    });
    assert.equal(results[0]!.errorCode, errorCatalog.UNKNOWN_TOPIC.wire);
    assert.ok(results[0]!.errorMessage.endsWith('…') && Buffer.byteLength(results[0]!.errorMessage) <= errorMessageBytesMax, results[0]!.errorMessage.length.toString());
    assert.equal(results[1]!.errorCode, 0);
    assert.ok(results[1]!.records.length > 0, 'the other partition\'s records came');
  } finally {
    connection.close();
  }
});

test('push to a client that stops reading: the server queues at most about one delivery', async () => {
  const connection = await open();
  try {
    await connection.request('createTopic', { name: 'flood', config: {} as never });
    const value = Buffer.alloc(1000, 7);
    // 10 MB in batches of about 50 kB (a delivery always holds at least one whole batch).
    for (let i = 0; i < 200; i++) {
      const batch = encodeBatch(Array.from({ length: 50 }, () => ({ value })));
      await connection.request('produce', { topic: 'flood', partition: 0, acks: 'leader', batches: batch });
    }
    // A raw client: subscribes with credits for everything, then never reads.
    const socket = await openSocket(harness.port);
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'slow' })));
    socket.write(
      Buffer.concat(
        encodeRequest(2, apis.subscribe.key, apis.subscribe.request, {
          subscriptionId: 1,
          source: { kind: 'partitions', partitions: [{ topic: 'flood', partition: 0, offset: 0n }] },
          creditMessages: 0xffff_ffff,
          creditBytes: 0xffff_ffff,
          deliveryBytesMax: 64 * 1024,
        }),
      ),
    );
    socket.pause();
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, harness.listener.outboundBytes);
    }
    assert.ok(peak > 0, 'deliveries were queued (the test measures something)');
    assert.ok(peak <= 64 * 1024 + 70_000 + 16 * 1024, `at most one delivery past the high-water mark was queued (peak ${peak} bytes of 10 MB)`);
    socket.destroy();
  } finally {
    connection.close();
  }
});

test('fetches pipelined by a client that never reads hold about fetchBytesInFlightMax of output; all answer once it reads', async () => {
  const small = await startTestBroker({ listener: { fetchBytesInFlightMax: 1 << 20, outboundBytesMax: 256 * 1024 } });
  const socket = await openSocket(small.port);
  try {
    await small.broker.createTopic('fetched', {});
    const value = Buffer.alloc(1000, 3);
    for (let i = 0; i < 40; i++) {
      await small.broker.produce({ topic: 'fetched', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'greedy' })));
    const fetches = 100;
    for (let i = 0; i < fetches; i++) {
      socket.write(Buffer.concat(encodeRequest(10 + i, apis.fetch.key, apis.fetch.request, {
        waitMs: 0,
        bytesMin: 0,
        bytesMaxTotal: 1 << 20,
        partitions: [{ topic: 'fetched', partition: 0, offset: 0n, bytesMax: 1 << 20 }],
      })));
    }
    socket.pause();
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, small.listener.outboundBytes);
    }
    assert.ok(peak > 256 * 1024, `responses were queued (the test measures something): ${peak}`);
    assert.ok(peak <= 2 * (1 << 20), `about fetchBytesInFlightMax was queued (peak ${peak} bytes of ${fetches} responses of 1 MiB)`);
    const reader = new FrameReader();
    let answered = 0;
    socket.on('data', (chunk: Buffer) => reader.push(chunk, (bytes) => void (parseFrame(bytes).id >= 10 && answered++)));
    socket.resume();
    await waitFor(() => answered === fetches, 20_000);
  } finally {
    socket.destroy();
    await small.stop();
  }
});

test('fetch memory shared by connections: a client that never reads holds about its bound, another still reads everything in fetches shrunk to about grantBytesMin, nothing stays held once both are gone', async () => {
  const fetchMemory = new SharedByteBudget({ bytesMax: 8 << 20, grantBytesMin: 64 * 1024 });
  const small = await startTestBroker({ listener: { fetchMemory } });
  const socket = await openSocket(small.port);
  try {
    await small.broker.createTopic('shared', {});
    // 12 MB in batches of about 50 KB: more than the bound, and every fetch from 0 could take it all.
    const value = Buffer.alloc(1000, 4);
    for (let i = 0; i < 240; i++) {
      await small.broker.produce({ topic: 'shared', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    const bigFetch = { waitMs: 0, bytesMin: 0, bytesMaxTotal: 16 << 20, partitions: [{ topic: 'shared', partition: 0, offset: 0n, bytesMax: 16 << 20 }] };
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'greedy' })));
    const fetches = 5;
    for (let i = 0; i < fetches; i++) socket.write(Buffer.concat(encodeRequest(10 + i, apis.fetch.key, apis.fetch.request, bigFetch)));
    socket.pause();
    // Its first fetch takes the whole bound; its answer, unread, holds it.
    await waitFor(() => fetchMemory.held >= fetchMemory.bytesMax - 64 * 1024);
    // Its further fetches wait for that answer, though its own bound (64 MiB) has room for them.
    const peak = await peakOver(() => fetchMemory.held);
    assert.ok(peak <= fetchMemory.bytesMax + 64 * 1024, `about the bound is held (peak ${peak} bytes)`);
    // Another client asking as much still reads it all, in fetches of about 64 KiB.
    const reader = await Connection.open({ host: '127.0.0.1', port: small.port, clientId: 'reader', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
    let offset = 0n;
    let largest = 0;
    try {
      while (offset < 12_000n) {
        const [result] = await reader.request('fetch', { ...bigFetch, partitions: [{ ...bigFetch.partitions[0]!, offset }] });
        assert.equal(result!.errorCode, 0);
        assert.ok(result!.records.length > 0, `the fetch at ${offset} returned records`);
        largest = Math.max(largest, result!.records.length);
        offset = decodeBatches(result!.records, { decompressedBytesMax: 1 << 24, offsetMin: offset }).at(-1)!.offset + 1n;
      }
    } finally {
      reader.close();
    }
    assert.ok(largest <= 64 * 1024, `fetches shrunk to grantBytesMin (largest answer ${largest} bytes)`);
    // Once the greedy client reads, its waiting fetches run and answer.
    const frames = new FrameReader();
    let answered = 0;
    socket.on('data', (chunk: Buffer) => frames.push(chunk, (bytes) => void (parseFrame(bytes).id >= 10 && answered++)));
    socket.resume();
    await waitFor(() => answered === fetches, 20_000);
    socket.destroy();
    await waitFor(() => fetchMemory.held === 0);
  } finally {
    socket.destroy();
    await small.stop();
  }
});

test('push subscriptions of a client that never reads share one read budget: many hold about fetchBytesInFlightMax of output; all deliver once it reads', async () => {
  const small = await startTestBroker({ listener: { fetchBytesInFlightMax: 1 << 20, outboundBytesMax: 256 * 1024 } });
  const socket = await openSocket(small.port);
  try {
    await small.broker.createTopic('pushed', {});
    const value = Buffer.alloc(1000, 5);
    for (let i = 0; i < 40; i++) {
      await small.broker.produce({ topic: 'pushed', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'greedy' })));
    const subscriptions = 20;
    for (let i = 1; i <= subscriptions; i++) {
      socket.write(Buffer.concat(encodeRequest(10 + i, apis.subscribe.key, apis.subscribe.request, {
        subscriptionId: i,
        source: { kind: 'partitions', partitions: [{ topic: 'pushed', partition: 0, offset: 0n }] },
        creditMessages: 0xffff_ffff,
        creditBytes: 0xffff_ffff,
        deliveryBytesMax: 1 << 20,
      })));
    }
    socket.pause();
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, small.listener.outboundBytes);
    }
    assert.ok(peak > 256 * 1024, `deliveries were queued (the test measures something): ${peak}`);
    assert.ok(peak <= 2 * (1 << 20), `about fetchBytesInFlightMax was queued (peak ${peak} bytes; ${subscriptions} subscriptions of 2 MB each)`);
    const reader = new FrameReader();
    const delivered = new Map<number, bigint>();
    socket.on('data', (chunk: Buffer) => reader.push(chunk, (bytes) => {
      const frame = parseFrame(bytes);
      if (frame.kind !== frameKinds.delivery) return;
      delivered.set(frame.id, deliveryCodec.read(frame.reader).offsetEnd);
    }));
    socket.resume();
    await waitFor(() => delivered.size === subscriptions && [...delivered.values()].every((end) => end === 2000n), 20_000);
  } finally {
    socket.destroy();
    await small.stop();
  }
});

test('push subscriptions read within the broker-wide fetch memory: connections that never read hold about its bound, a push and a fetch consumer still read everything, and all is released', async () => {
  const fetchMemory = new SharedByteBudget({ bytesMax: 8 << 20, grantBytesMin: 64 * 1024 });
  const small = await startTestBroker({ listener: { fetchMemory } });
  const sockets: Socket[] = [];
  const subscribe = (id: number, offset: bigint, creditMessages: number): Buffer =>
    Buffer.concat(encodeRequest(10 + id, apis.subscribe.key, apis.subscribe.request, {
      subscriptionId: id,
      source: { kind: 'partitions', partitions: [{ topic: 'pushed-shared', partition: 0, offset }] },
      creditMessages,
      creditBytes: 0xffff_ffff,
      deliveryBytesMax: 16 << 20,
    }));
  const hello = Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'greedy' }));
  try {
    await small.broker.createTopic('pushed-shared', {});
    // 12 MB in batches of about 50 KB: more than the bound, and one delivery could carry it all.
    const value = Buffer.alloc(1000, 6);
    for (let i = 0; i < 240; i++) {
      await small.broker.produce({ topic: 'pushed-shared', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    // Subscribers with all the credit there is that never read their socket...
    const unread: Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const socket = await openSocket(small.port);
      socket.pause();
      socket.write(Buffer.concat([hello, subscribe(1, 0n, 0xffff_ffff)]));
      unread.push(socket);
    }
    // ...and subscribers that read but take one message, each of their reads keeping the rest.
    for (let i = 0; i < 4; i++) {
      const socket = await openSocket(small.port);
      socket.on('data', () => {});
      socket.write(Buffer.concat([hello, ...[1, 2, 3].map((id) => subscribe(id, BigInt(id * 3000), 1))]));
      sockets.push(socket);
    }
    sockets.push(...unread);
    // The first read takes the whole bound; its delivery, unread, holds it.
    await waitFor(() => fetchMemory.held >= fetchMemory.bytesMax - 64 * 1024);
    // Each further connection gets a read of grantBytesMin (one 50 KB batch), its delivery held until read.
    const peak = await peakOver(() => fetchMemory.held);
    assert.ok(peak <= fetchMemory.bytesMax + sockets.length * 2 * 65 * 1024, `about the bound is held (peak ${peak} bytes)`);
    // A push consumer and a fetch consumer on other connections read everything meanwhile.
    const reader = await Connection.open({ host: '127.0.0.1', port: small.port, clientId: 'reader', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
    try {
      let pushedEnd = 0n;
      reader.subscribe(1, { onDelivery: (d) => void (pushedEnd = d.offsetEnd), onEnd: () => {} });
      await reader.request('subscribe', {
        subscriptionId: 1,
        source: { kind: 'partitions', partitions: [{ topic: 'pushed-shared', partition: 0, offset: 0n }] },
        creditMessages: 0xffff_ffff,
        creditBytes: 0xffff_ffff,
        deliveryBytesMax: 16 << 20,
      });
      let offset = 0n;
      while (offset < 12_000n) {
        const [result] = await reader.request('fetch', { waitMs: 0, bytesMin: 0, bytesMaxTotal: 16 << 20, partitions: [{ topic: 'pushed-shared', partition: 0, offset, bytesMax: 16 << 20 }] });
        assert.equal(result!.errorCode, 0);
        offset = decodeBatches(result!.records, { decompressedBytesMax: 1 << 24, offsetMin: offset }).at(-1)!.offset + 1n;
      }
      await waitFor(() => pushedEnd === 12_000n, 10_000);
    } finally {
      reader.close();
    }
    // Once the subscribers that never read do, theirs deliver everything too.
    const ends = unread.map((socket) => {
      const end = { offset: 0n };
      const frames = new FrameReader();
      socket.on('data', (chunk: Buffer) => frames.push(chunk, (bytes) => {
        const frame = parseFrame(bytes);
        if (frame.kind === frameKinds.delivery) end.offset = deliveryCodec.read(frame.reader).offsetEnd;
      }));
      socket.resume();
      return end;
    });
    await waitFor(() => ends.every((end) => end.offset === 12_000n), 20_000);
    for (const socket of sockets) socket.destroy();
    await waitFor(() => fetchMemory.held === 0);
  } finally {
    for (const socket of sockets) socket.destroy();
    await small.stop();
  }
});

test('before hello a frame may be at most 64 KiB', async () => {
  const socket = await openSocket(harness.port);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(100 * 1024); // within frameBytesMax (1 MiB), over the limit before hello
  socket.write(length);
  assert.ok(await closedWithin(socket, 2000), 'closed on the length alone');
  assert.ok(harness.logs.some((line) => line.includes('exceeds the limit of 65536 bytes')), harness.logs.join('\n'));
});

test('a malformed frame closes only that connection, with a logged reason', async () => {
  const healthy = await open();
  try {
    const bad = await openSocket(harness.port);
    const hello = encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'bad' });
    bad.write(Buffer.concat(hello));
    // A well-framed request whose body is garbage: a topic name length past the end.
    const garbage = Buffer.from([0, 0, 0, 11, 1, 0, 0, 0, 2, 0, apis.describeTopic.key, 0xff, 0xff, 0, 0]);
    bad.write(garbage);
    assert.ok(await closedWithin(bad, 2000), 'the bad connection was closed');
    assert.ok(harness.logs.some((line) => line.includes('closed') && line.includes('bad')), harness.logs.join('\n'));
    const topics = await healthy.request('listTopics', { includeInternal: false });
    assert.ok(Array.isArray(topics), 'the other connection still works');
  } finally {
    healthy.close();
  }
});

test('an oversized frame length is rejected before the frame arrives', async () => {
  const socket = await openSocket(harness.port);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(1024 * 1024 * 1024); // 1 GiB: far over the 1 MiB limit, and never sent
  socket.write(length);
  assert.ok(await closedWithin(socket, 2000), 'closed on the length alone');
  assert.ok(harness.logs.some((line) => line.includes('exceeds the limit')), harness.logs.join('\n'));
});

test('a client that ends its side after sending requests gets every answer (a long poll at once), then the server ends', async () => {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const opened = netConnect({ host: '127.0.0.1', port: harness.port, allowHalfOpen: true }, () => resolve(opened));
    opened.once('error', reject);
  });
  const answered: number[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => reader.push(chunk, (bytes) => {
    const frame = parseFrame(bytes);
    assert.equal(readErrorPart(frame.reader), undefined);
    answered.push(frame.id);
  }));
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  const request = <N extends keyof typeof apis>(id: number, name: N, body: CodecValue<(typeof apis)[N]['request']>): Buffer =>
    Buffer.concat(encodeRequest(id, apis[name].key, apis[name].request as Codec<unknown>, body));
  socket.write(request(1, 'hello', { versionMin: 1, versionMax: 1, clientId: 'half-close' }));
  socket.write(request(2, 'createTopic', { name: 'half-closed', config: {} as never }));
  socket.write(request(3, 'fetch', { waitMs: 30_000, bytesMin: 1, bytesMaxTotal: 1024, partitions: [{ topic: 'half-closed', partition: 0, offset: 0n, bytesMax: 1024 }] }));
  socket.end();
  await ended;
  assert.deepEqual(answered.sort(), [1, 2, 3]);
  socket.destroy();
});

test('a request before hello closes the connection', async () => {
  const socket = await openSocket(harness.port);
  socket.write(Buffer.concat(encodeRequest(1, apis.listGroups.key, apis.listGroups.request, {})));
  assert.ok(await closedWithin(socket, 2000));
});

test('an unsupported version is answered cleanly with the server range', async () => {
  await assert.rejects(open({ versionMin: 7, versionMax: 9 }), (error) => {
    assert.ok(isWeirError(error, 'UNSUPPORTED_VERSION'), String(error));
    assert.match(error.message, /server speaks 1\.\.2/);
    return true;
  });
  const connection = await open({ versionMin: 1, versionMax: 9 });
  assert.equal(connection.hello?.version, 2, 'the highest common version is chosen');
  const older = await open({ versionMin: 1, versionMax: 1 });
  assert.equal(older.hello?.version, 1, 'a client of version 1 is still served');
  older.close();
  connection.close();
});

test('an unknown api is answered with INVALID_REQUEST and the connection goes on', async () => {
  const socket = await openSocket(harness.port);
  const frames: Frame[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => reader.push(chunk, (frame) => void frames.push(parseFrame(frame))));
  socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'raw' })));
  socket.write(Buffer.concat(encodeRequest(2, 999, apis.listGroups.request, {})));
  socket.write(Buffer.concat(encodeRequest(3, apis.listGroups.key, apis.listGroups.request, {})));
  await waitFor(() => frames.length === 3);
  socket.destroy();
  const [hello, unknown, groups] = frames as [Frame, Frame, Frame];
  assert.equal(readErrorPart(hello.reader), undefined);
  assert.equal(unknown.id, 2);
  assert.equal(readErrorPart(unknown.reader)?.code, 'INVALID_REQUEST');
  assert.equal(groups.id, 3);
  assert.equal(readErrorPart(groups.reader), undefined);
});

test('an int64 value past 2^53 gets INVALID_CONFIG (a topic setting) or INVALID_REQUEST naming the field, and the connection goes on', async () => {
  const socket = await openSocket(harness.port);
  const frames: Frame[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => reader.push(chunk, (frame) => void frames.push(parseFrame(frame))));
  socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'raw' })));
  socket.write(Buffer.concat(encodeRequest(2, apis.createTopic.key, apis.createTopic.request, { name: 'huge-retention', config: { partitions: undefined, retentionMs: 2 ** 60, retentionBytes: undefined, flush: undefined, messageBytesMax: undefined, segmentBytesMax: undefined, segmentAgeMsMax: undefined, messageTtlMs: undefined, timestampAheadMsMax: undefined, timestampBehindMsMax: undefined } })));
  socket.write(Buffer.concat(encodeRequest(3, apis.listOffsets.key, apis.listOffsets.request, { topic: 'huge-retention', partition: 0, spec: { timestampMs: -(2 ** 62) } })));
  socket.write(Buffer.concat(encodeRequest(4, apis.listGroups.key, apis.listGroups.request, {})));
  await waitFor(() => frames.length === 4);
  socket.destroy();
  const [, config, offsets, groups] = frames as [Frame, Frame, Frame, Frame];
  const configError = readErrorPart(config.reader);
  assert.equal(configError?.code, 'INVALID_CONFIG');
  assert.match(configError!.message, /^createTopic request: config\.retentionMs 1152921504606846976 is outside the range/);
  const offsetsError = readErrorPart(offsets.reader);
  assert.equal(offsetsError?.code, 'INVALID_REQUEST');
  assert.match(offsetsError!.message, /^listOffsets request: spec\.timestampMs -4611686018427387904 is outside the range/);
  assert.equal(groups.id, 4);
  assert.equal(readErrorPart(groups.reader), undefined);
  assert.throws(() => harness.broker.describeTopic('huge-retention'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
});

test('queueSettleQuiet settles and returns credits without an answer', async () => {
  const socket = await openSocket(harness.port);
  const frames: Frame[] = [];
  const deliveries: QueueDelivery[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) =>
    reader.push(chunk, (bytes) => {
      const frame = parseFrame(bytes);
      if (frame.kind === frameKinds.queueDelivery) deliveries.push(...queueDeliveries.read(frame.reader));
      else frames.push(frame);
    }),
  );
  const delivered = () => deliveries.reduce((n, d) => n + d.count, 0);
  const send = <N extends keyof typeof apis>(id: number, name: N, body: CodecValue<(typeof apis)[N]['request']>) =>
    socket.write(Buffer.concat(encodeRequest(id, apis[name].key, apis[name].request as Codec<typeof body>, body)));
  const answered = (id: number) => frames.find((f) => f.kind === frameKinds.response && f.id === id);
  try {
    send(1, 'hello', { versionMin: 1, versionMax: 1, clientId: 'raw' });
    send(2, 'createTopic', { name: 'quiet', config: {} as never });
    send(3, 'produce', { topic: 'quiet', partition: 0, acks: 'leader', batches: encodeBatch(records(5, 'q')) });
    send(4, 'createSubscription', { topic: 'quiet', name: 'w', configJson: null });
    await waitFor(() => answered(4) !== undefined);
    send(5, 'queueSubscribe', { consumerId: 7, topic: 'quiet', subscription: 'w', configJson: null, push: true, credits: 3, ratePerSecond: 0 });
    await waitFor(() => delivered() >= 3);
    assert.deepEqual(deliveries.map((d) => d.count), [3]);
    const settle = { topic: 'quiet', subscription: 'w', consumerId: 7, credits: 3 };
    const ack = { action: 'ack' as const, partition: 0, offset: 0n, count: 3, deliveryCount: 1, leaseEpoch: deliveries[0]!.leaseEpoch, ms: 0, reason: '' };
    send(6, 'queueSettleQuiet', { ...settle, settlements: [ack] });
    // The returned credits bring the other two messages.
    await waitFor(() => delivered() >= 5);
    assert.deepEqual(deliveries.map((d) => d.count), [3, 2]);
    // An answered settlement after it comes back once everything before it is durable.
    send(7, 'queueSettle', { ...settle, credits: 0, settlements: [] });
    await waitFor(() => answered(7) !== undefined);
    send(8, 'describeSubscription', { topic: 'quiet', name: 'w' });
    await waitFor(() => answered(8) !== undefined);
    const described = answered(8)!.reader;
    assert.equal(readErrorPart(described), undefined);
    const description = JSON.parse(apis.describeSubscription.response.read(described).json) as { ackedTotal: number; inFlight: number };
    assert.equal(description.ackedTotal, 3);
    assert.equal(description.inFlight, 2);
    assert.equal(answered(6), undefined, 'no answer to the quiet settlement');
  } finally {
    socket.destroy();
  }
});

test('a settle action release on a version 1 connection is refused with UNSUPPORTED_VERSION naming it; nothing is settled and the connection goes on', async () => {
  const connection = await open({ versionMax: 1 });
  try {
    assert.equal(connection.hello?.version, 1);
    const { leased, settle } = await leaseFirst(connection, 'release-v1', 2);
    const receipt = { ...leased, ms: 0, reason: '' };
    await assert.rejects(connection.request('queueSettle', { ...settle, settlements: [{ ...receipt, action: 'ack' }, { ...receipt, action: 'release' }] }), (error) => {
      assert.ok(isWeirError(error, 'UNSUPPORTED_VERSION'), String(error));
      assert.match(error.message, /settlement 1: the settle action release \(tag 4\) needs native protocol version 2; this connection agreed on version 1/);
      return true;
    });
    // Neither settlement took effect (the ack beside the release neither), and the consumer still receives.
    const [next] = await connection.request('queueReceive', { consumerId: 1, max: 1, waitMs: 2000 });
    assert.equal(next?.count, 1, 'deliveries to the consumer were not stopped: the second message comes');
    assert.deepEqual(await connection.request('queueSettle', { ...settle, settlements: [{ ...receipt, action: 'ack' }] }), [], 'the first message is still leased to it');
    const described = JSON.parse((await connection.request('describeSubscription', { topic: 'release-v1', name: 's' })).json) as { ackedTotal: number; inFlight: number };
    assert.deepEqual([described.ackedTotal, described.inFlight], [1, 1]);
  } finally {
    connection.close();
  }
});

test('queueSettle refuses a reject whose reason is empty or white space, that settlement alone with INVALID_REQUEST naming it; the message stays leased', async () => {
  const connection = await open();
  try {
    const { leased, settle } = await leaseFirst(connection, 'reject-reason');
    const receipt = { ...leased, ms: 0, action: 'reject' as const };
    const failures = await connection.request('queueSettle', {
      ...settle,
      settlements: [
        { ...receipt, reason: '' },
        { ...receipt, reason: ' \t\n' },
        { ...receipt, reason: `${' '.repeat(1_000)}cut off` },
      ],
    });
    assert.deepEqual(failures.map((f) => [f.index, errorCodeFromWire(f.errorCode), f.errorMessage]), [
      [0, 'INVALID_REQUEST', "a reject's reason must say why the message is rejected: it is empty"],
      [1, 'INVALID_REQUEST', "a reject's reason must say why the message is rejected: it is only white space"],
      [2, 'INVALID_REQUEST', "a reject's reason must say why the message is rejected: its first 1000 characters, which the dead letter keeps, are white space"],
    ]);
    assert.deepEqual(await connection.request('queueSettle', { ...settle, settlements: [{ ...receipt, reason: 'cannot parse' }] }), [], 'none of them settled the message: it is still leased');
  } finally {
    connection.close();
  }
});

test('queueSettle refuses a nack delay below 0 (other than -1, the backoff), an extension below 1 ms and either above 7 days, each alone with INVALID_REQUEST; the message stays leased', async () => {
  const connection = await open();
  try {
    const { leased, settle } = await leaseFirst(connection, 'settle-bounds');
    const receipt = { ...leased, reason: '' };
    const failures = await connection.request('queueSettle', {
      ...settle,
      settlements: [
        { ...receipt, action: 'nack', ms: -5 },
        { ...receipt, action: 'nack', ms: 604_800_001 },
        { ...receipt, action: 'extend', ms: 0 },
        { ...receipt, action: 'extend', ms: -1 },
        { ...receipt, action: 'extend', ms: 604_800_001 },
      ],
    });
    const range = (min: number) => `is invalid: expected a whole number of milliseconds from ${min} to 604800000 (7 days)`;
    assert.deepEqual(failures.map((f) => [f.index, errorCodeFromWire(f.errorCode), f.errorMessage]), [
      [0, 'INVALID_REQUEST', `delayMs -5 ${range(0)}`],
      [1, 'INVALID_REQUEST', `delayMs 604800001 ${range(0)}`],
      [2, 'INVALID_REQUEST', `extendMs 0 ${range(1)}`],
      [3, 'INVALID_REQUEST', `extendMs -1 ${range(1)}`],
      [4, 'INVALID_REQUEST', `extendMs 604800001 ${range(1)}`],
    ]);
    assert.deepEqual(await connection.request('queueSettle', { ...settle, settlements: [{ ...receipt, action: 'ack', ms: 0 }] }), [], 'none of them settled the message: it is still leased');
  } finally {
    connection.close();
  }
});

test('subscriptionsMax holds for pipelined subscribes too', async () => {
  await harness.broker.createTopic('many-subs', {});
  const socket = await openSocket(harness.port);
  const frames: Frame[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => reader.push(chunk, (bytes) => void frames.push(parseFrame(bytes))));
  const send = <N extends keyof typeof apis>(id: number, name: N, body: CodecValue<(typeof apis)[N]['request']>) =>
    socket.write(Buffer.concat(encodeRequest(id, apis[name].key, apis[name].request as Codec<typeof body>, body)));
  try {
    send(1, 'hello', { versionMin: 1, versionMax: 1, clientId: 'raw' });
    const count = 300;
    for (let i = 0; i < count; i++) {
      send(100 + i, 'subscribe', {
        subscriptionId: i,
        source: { kind: 'partitions', partitions: [{ topic: 'many-subs', partition: 0, offset: 0n }] },
        creditMessages: 0,
        creditBytes: 0,
        deliveryBytesMax: 1024,
      });
    }
    const responses = () => frames.filter((f) => f.kind === frameKinds.response && f.id >= 100);
    await waitFor(() => responses().length === count);
    const refused = responses().filter((f) => isWeirError(readErrorPart(f.reader), 'LIMIT_EXCEEDED')).length;
    assert.equal(refused, count - 256);
  } finally {
    socket.destroy();
  }
});

test('close lets a parked long poll answer before the connection closes', async () => {
  const own = await startTestBroker();
  try {
    const connection = await Connection.open({ host: '127.0.0.1', port: own.port, clientId: 'closing', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
    await connection.request('createTopic', { name: 'parked', config: {} as never });
    const fetching = connection.request(
      'fetch',
      { waitMs: 20_000, bytesMin: 1, bytesMaxTotal: 1 << 20, partitions: [{ topic: 'parked', partition: 0, offset: 0n, bytesMax: 1 << 20 }] },
      20_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await own.listener.close();
    const [result] = await fetching;
    assert.equal(result!.records.length, 0, 'answered (empty) rather than cut off');
    assert.ok(Date.now() - started < 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(connection.closed, 'then the connection was closed');
  } finally {
    await own.stop();
  }
});

test('close ends within closeTimeoutMs when a push subscriber never reads its socket: the connection is cut, with a logged reason', async () => {
  const own = await startTestBroker({ listener: { closeTimeoutMs: 300 } });
  const socket = await openSocket(own.port);
  try {
    await own.broker.createTopic('unread', {});
    const value = Buffer.alloc(1000, 9);
    // 10 MB: more than the kernel's socket buffers take, so output waits in the broker.
    for (let i = 0; i < 200; i++) {
      await own.broker.produce({ topic: 'unread', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 1, clientId: 'unread' })));
    socket.write(Buffer.concat(encodeRequest(2, apis.subscribe.key, apis.subscribe.request, {
      subscriptionId: 1,
      source: { kind: 'partitions', partitions: [{ topic: 'unread', partition: 0, offset: 0n }] },
      creditMessages: 0xffff_ffff,
      creditBytes: 0xffff_ffff,
      deliveryBytesMax: 64 * 1024,
    })));
    socket.pause();
    await waitFor(() => own.listener.outboundBytes > 0); // the subscription now waits for a drain that never comes
    const closing = own.listener.close().then(() => 'closed' as const);
    const outcome = await Promise.race([closing, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 3_000))]);
    assert.equal(outcome, 'closed', 'close finished within the bound');
    assert.ok(own.logs.some((line) => /^warn: native connection .*\(unread\) closed: still busy 300 ms after closing began/.test(line)), own.logs.join('\n'));
  } finally {
    socket.destroy();
    await own.stop();
  }
});

test('at inFlightRequestsMax the server stops reading until a request finishes', async () => {
  const own = await startTestBroker({ listener: { inFlightRequestsMax: 2 } });
  try {
    const connection = await Connection.open({ host: '127.0.0.1', port: own.port, clientId: 'busy', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
    await connection.request('createTopic', { name: 'busy', config: {} as never });
    const parked = () =>
      connection.request(
        'fetch',
        { waitMs: 800, bytesMin: 1, bytesMaxTotal: 1 << 20, partitions: [{ topic: 'busy', partition: 0, offset: 0n, bytesMax: 1 << 20 }] },
        5_000,
      );
    const started = Date.now();
    const fetches = [parked(), parked()];
    const listedAfterMs = await connection.request('listTopics', { includeInternal: false }).then(() => Date.now() - started);
    await Promise.all(fetches);
    assert.ok(listedAfterMs >= 700, `the third request waited for a slot (${listedAfterMs} ms)`);
    connection.close();
  } finally {
    await own.stop();
  }
});

