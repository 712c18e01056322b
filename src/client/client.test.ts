import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { batchPositions, readBatchHeader } from '../format/record-batch.js';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { Consumer, Producer, WeirError, connect, isWeirError, partitionForKey, type ClientStatus, type ConsumerMessage } from './index.js';
import { take } from './testing/take.js';
import { framesOf, startTcpProxy } from './testing/tcp-proxy.js';
import { apiKeys } from '../protocol/native/wire/messages.js';
import { waitFor } from '../util/testing/wait.js';

let harness: TestBroker;
before(async () => {
  harness = await startTestBroker();
});
after(async () => {
  await harness.stop();
});

test('produce then consume: every message, in order per partition, keys on their murmur2 partition', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('orders', { partitions: 4 });
    const producer = client.producer({ lingerMs: 2 });
    const sent = await producer.send(
      'orders',
      Array.from({ length: 200 }, (_, i) => ({ key: `customer-${i % 10}`, value: `order-${i}`, headers: { n: String(i) } })),
    );
    for (let i = 0; i < sent.length; i++) assert.equal(sent[i]!.partition, partitionForKey(Buffer.from(`customer-${i % 10}`), 4));
    const consumer = client.consumer({ topics: ['orders'], from: 'earliest', mode: 'push', prefetchMessages: 16 });
    const messages = await take(consumer, 200);
    await consumer.close();
    assert.equal(messages.length, 200);
    const byPartition = new Map<number, ConsumerMessage[]>();
    for (const m of messages) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    for (const [partition, list] of byPartition) {
      list.forEach((m, i) => assert.equal(m.offset, BigInt(i), `partition ${partition} in offset order`));
      const numbers = list.map((m) => Number(m.value!.toString().slice('order-'.length)));
      assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'send order kept within the partition');
      for (const m of list) assert.equal(m.partition, partitionForKey(m.key!, 4));
    }
    assert.equal(messages.find((m) => m.value!.toString() === 'order-7')!.headers[0]!.value!.toString(), '7');
    await producer.close();
  } finally {
    await client.close();
  }
});

test('commit(offsets) commits those positions, not what was consumed; a partition not assigned is refused and nothing is committed', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('ledger-written', { partitions: 1 });
    const producer = client.producer();
    await producer.send('ledger-written', Array.from({ length: 10 }, (_, i) => ({ value: `entry-${i}` })));
    await producer.close();
    const consumer = client.consumer({ groupId: 'writers', topics: ['ledger-written'], from: 'earliest', autoCommit: false });
    assert.equal((await take(consumer, 8)).length, 8);
    await consumer.commit([{ topic: 'ledger-written', partition: 0, offset: 3n }]);
    const committed = async () => (await client.admin().fetchOffsets('writers')).find((o) => o.topic === 'ledger-written')!.offset;
    assert.equal(await committed(), 3n, 'the position given, not the 8 consumed');
    await assert.rejects(
      consumer.commit([{ topic: 'ledger-written', partition: 0, offset: 5n }, { topic: 'ledger-written', partition: 1, offset: 1n }]),
      (e) => isWeirError(e, 'INVALID_REQUEST') && e.message === 'commit ledger-written/1: the partition is not assigned to this consumer',
    );
    await assert.rejects(consumer.commit([{ topic: 'ledger-written', partition: 0, offset: 5 as never }]), (e) => isWeirError(e, 'INVALID_REQUEST'));
    assert.equal(await committed(), 3n, 'nothing of a refused commit');
    await consumer.close();
    assert.equal(await committed(), 3n, 'close() without auto-commit commits nothing');
  } finally {
    await client.close();
  }
});

test('a member with autoCommit: false commits nothing when a rebalance comes: what it consumed is read again by the partition\'s next owner', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('ledger-rebalanced', { partitions: 2 });
    const producer = client.producer();
    for (const partition of [0, 1]) await producer.send('ledger-rebalanced', Array.from({ length: 5 }, (_, i) => ({ value: `${partition}-${i}`, partition })));
    await producer.close();
    const first = client.consumer({ groupId: 'rebalanced', topics: ['ledger-rebalanced'], from: 'earliest', autoCommit: false, heartbeatIntervalMs: 50 });
    assert.equal((await take(first, 10)).length, 10);
    const generation = (await admin.describeGroup('rebalanced')).generationId;
    const second = client.consumer({ groupId: 'rebalanced', topics: ['ledger-rebalanced'], from: 'earliest', autoCommit: false, heartbeatIntervalMs: 50 });
    await second.start();
    await waitFor(() => first.assignment.length === 1, 10_000, 'the first member rejoined with one partition');
    const group = await admin.describeGroup('rebalanced');
    assert.ok(group.generationId > generation, 'the group rebalanced');
    assert.deepEqual(group.offsets, [], 'nothing committed by the rebalance');
    const moved = second.assignment[0]!.partition;
    assert.deepEqual((await take(second, 5)).map((m) => m.value!.toString()), Array.from({ length: 5 }, (_, i) => `${moved}-${i}`), 'the new owner reads the moved partition from its start');
    await second.close();
    await first.close();
  } finally {
    await client.close();
  }
});

test('a consumer of a partition the topic does not have fails with UNKNOWN_PARTITION naming it, push and pull alike', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('two-partitions', { partitions: 2 });
    for (const mode of ['push', 'pull'] as const) {
      const consumer = client.consumer({ partitions: [{ topic: 'two-partitions', partition: 5 }], from: 'earliest', mode });
      await assert.rejects(take(consumer, 1), (e) => isWeirError(e, 'UNKNOWN_PARTITION') && /two-partitions/.test(e.message) && /\b5\b/.test(e.message), mode);
      await consumer.close();
    }
  } finally {
    await client.close();
  }
});

test('pull mode, seek and committed offsets', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('ledger', { partitions: 1 });
    const producer = client.producer();
    await producer.send('ledger', Array.from({ length: 30 }, (_, i) => ({ value: `entry-${i}` })));
    const consumer = client.consumer({ groupId: 'auditors', topics: ['ledger'], from: 'earliest', mode: 'pull', autoCommit: false });
    const first = await take(consumer, 10);
    assert.deepEqual(first.map((m) => m.offset), Array.from({ length: 10 }, (_, i) => BigInt(i)));
    await consumer.commit();
    await consumer.seek('ledger', 0, 25n);
    const afterSeek = await take(consumer, 5);
    assert.deepEqual(afterSeek.map((m) => m.offset), [25n, 26n, 27n, 28n, 29n]);
    await consumer.close();
    const offsets = await client.admin().fetchOffsets('auditors');
    assert.equal(offsets.find((o) => o.topic === 'ledger')!.offset, 10n);
    const again = client.consumer({ groupId: 'auditors', topics: ['ledger'], from: 'earliest', mode: 'pull', autoCommit: false });
    const resumed = await take(again, 1);
    assert.equal(resumed[0]!.offset, 10n, 'a new member resumes at the committed offset');
    await again.close();
  } finally {
    await client.close();
  }
});

test('a lost acknowledgement is retried on a new connection and stored once', async () => {
  await harness.broker.createTopic('payments', { partitions: 1 });
  const proxy = await startProxy(harness.port);
  const client = await connect(`weir://127.0.0.1:${proxy.port}`, { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 });
  try {
    const producer = client.producer({ lingerMs: 0, retryBackoffMsMin: 10 });
    await producer.send('payments', { value: 'warm-up' }); // topic metadata and producer id are in place
    proxy.dropNextAnswer = true; // the broker stores the next batch, its answer never arrives
    const metadata = await producer.send('payments', { value: 'pay 100' });
    assert.ok(proxy.drops >= 1, 'the answer was dropped');
    assert.equal(metadata.offset, 1n);
    const state = harness.broker.describeTopic('payments').partitions[0]!;
    assert.equal(state.offsetEnd, 2n, 'stored exactly once');
    await producer.close();
  } finally {
    await client.close();
    proxy.close();
  }
});

test('a stream of batches survives repeated dropped connections: each message stored once, in order', async () => {
  await harness.broker.createTopic('transfers', { partitions: 1 });
  const proxy = await startProxy(harness.port);
  const client = await connect(`weir://127.0.0.1:${proxy.port}`, { reconnectBackoffMsMin: 5, reconnectBackoffMsMax: 20 });
  try {
    const producer = client.producer({ lingerMs: 1, batchBytesMax: 512, retryBackoffMsMin: 5, retryBackoffMsMax: 20 });
    await producer.send('transfers', { value: 'warm-up' });
    const total = 3000;
    proxy.dropEvery = 3; // every 3rd chunk of answers is lost with its connection …
    proxy.dropsMax = 4; // … four times over
    const metadata = await producer.send('transfers', Array.from({ length: total }, (_, i) => ({ value: `t-${i}` })));
    assert.equal(proxy.drops, 4, 'the connection was cut four times');
    assert.deepEqual(metadata.map((m) => m.offset), Array.from({ length: total }, (_, i) => BigInt(i + 1)));
    assert.equal(harness.broker.describeTopic('transfers').partitions[0]!.offsetEnd, BigInt(total + 1), 'nothing stored twice');
    const consumer = client.consumer({ topics: ['transfers'], from: 1n, mode: 'pull' });
    const values = (await take(consumer, total)).map((m) => m.value!.toString());
    assert.deepEqual(values, Array.from({ length: total }, (_, i) => `t-${i}`));
    await consumer.close();
    await producer.close();
  } finally {
    await client.close();
    proxy.close();
  }
});

test('a refused batch does not break the batches behind it (renumbered, same producer id)', async () => {
  await harness.broker.createTopic('strict', { partitions: 1, messageBytesMax: 1024 });
  const client = await connect(harness.url);
  try {
    const producer = client.producer({ lingerMs: 0, retryBackoffMsMin: 5 });
    await producer.send('strict', { value: 'first' });
    const small = (text: string) => producer.send('strict', { value: text });
    const results = await Promise.allSettled([
      small('a'),
      producer.send('strict', { value: Buffer.alloc(2000, 1) }),
      small('c'),
      small('d'),
    ]);
    assert.equal(results[1]!.status, 'rejected');
    assert.ok(isWeirError((results[1] as PromiseRejectedResult).reason, 'MESSAGE_TOO_LARGE'));
    const offsets = [results[0], results[2], results[3]].map((r) => (r as PromiseFulfilledResult<{ offset: bigint }>).value.offset);
    assert.deepEqual(offsets, [1n, 2n, 3n]);
    const [fetched] = await harness.broker.fetch({ partitions: [{ topic: 'strict', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
    const producerIds = new Set<bigint>();
    for (const { position } of batchPositions(fetched!.records)) producerIds.add(readBatchHeader(fetched!.records, position).producerId);
    assert.equal(producerIds.size, 1, 'every batch under one producer id: no reset was needed');
    await producer.close();
  } finally {
    await client.close();
  }
});

test('while a partition cannot send, its open batch keeps filling instead of queueing small ones', async () => {
  await harness.broker.createTopic('grow', { partitions: 1 });
  const proxy = await startProxy(harness.port);
  const client = await connect(`weir://127.0.0.1:${proxy.port}`);
  try {
    const producer = client.producer({ inFlightBatchesPerPartitionMax: 1 });
    await producer.send('grow', { value: 'warm-up' });
    proxy.hold(); // the next answers wait: the partition's only slot stays taken
    const sends = [producer.send('grow', { value: 'alone' })];
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve)); // one message per turn of the loop
      sends.push(producer.send('grow', { value: `m${i}` }));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    proxy.release();
    const offsets = (await Promise.all(sends)).map((m) => m.offset);
    assert.deepEqual(offsets, Array.from({ length: 11 }, (_, i) => BigInt(i + 1)));
    const [fetched] = await harness.broker.fetch({ partitions: [{ topic: 'grow', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
    const batches = [...batchPositions(fetched!.records)].length;
    assert.equal(batches, 3, 'warm-up, "alone", then the ten messages of ten turns in one batch');
    await producer.close();
  } finally {
    await client.close();
    proxy.close();
  }
});

test('the client reconnects after a listener restart', async () => {
  const client = await connect(harness.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  const statuses: ClientStatus[] = [];
  client.onStatus((status) => statuses.push(status));
  try {
    const producer = client.producer({ lingerMs: 1 });
    await producer.send('restarts', { value: 'before' });
    await harness.restartListener();
    const metadata = await producer.send('restarts', { value: 'after' });
    assert.equal(metadata.offset, 1n);
    assert.ok(statuses.some((s) => s.type === 'disconnected'), JSON.stringify(statuses.map((s) => s.type)));
    assert.ok(statuses.some((s) => s.type === 'connected'));
    const consumer = client.consumer({ topics: ['restarts'], from: 'earliest' });
    const messages = await take(consumer, 2);
    assert.deepEqual(messages.map((m) => m.value!.toString()), ['before', 'after']);
    await consumer.close();
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a group of two consumers splits the partitions and re-spreads them when one leaves', async () => {
  await harness.broker.createTopic('events', { partitions: 4 });
  const client = await connect(harness.url);
  try {
    const options = { groupId: 'workers', topics: ['events'], from: 'earliest' as const, heartbeatIntervalMs: 100, sessionTimeoutMs: 6_000 };
    const a = client.consumer(options);
    await a.start();
    assert.equal(a.assignment.length, 4);
    const b = client.consumer(options);
    await b.start();
    await waitFor(() => a.assignment.length === 2 && b.assignment.length === 2, 10_000, 'a 2/2 split');
    const all = [...a.assignment, ...b.assignment].map((p) => p.partition).sort();
    assert.deepEqual(all, [0, 1, 2, 3]);
    // Each member reads the messages of its own partitions.
    const producer = client.producer();
    await producer.send('events', [0, 1, 2, 3].map((partition) => ({ value: `p${partition}`, partition })));
    const [fromA, fromB] = await Promise.all([take(a, 2), take(b, 2)]);
    assert.deepEqual(fromA.map((m) => m.partition).sort(), a.assignment.map((p) => p.partition).sort());
    assert.deepEqual(fromB.map((m) => m.partition).sort(), b.assignment.map((p) => p.partition).sort());
    await b.close();
    await waitFor(() => a.assignment.length === 4, 10_000, 'a takes every partition back');
    await a.close();
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a handler that holds a message longer than the session timeout keeps its partitions: heartbeats do not wait for the loop', async () => {
  await harness.broker.createTopic('held-long', { partitions: 1 });
  const client = await connect(harness.url);
  try {
    await client.producer({ lingerMs: 0 }).send('held-long', [{ value: 'm0' }, { value: 'm1' }]);
    const consumer = client.consumer({ groupId: 'holders', topics: ['held-long'], from: 'earliest', sessionTimeoutMs: 1_000, heartbeatIntervalMs: 200 });
    const iterator = consumer[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.value?.toString(), 'm0');
    const generation = harness.broker.describeGroup('holders').generationId;
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the handler's work, past the session timeout
    const group = harness.broker.describeGroup('holders');
    assert.equal(group.generationId, generation, 'no rebalance');
    assert.deepEqual(consumer.assignment, [{ topic: 'held-long', partition: 0 }]);
    assert.equal((await iterator.next()).value?.value?.toString(), 'm1', 'the next message, not m0 again');
    await consumer.close();
  } finally {
    await client.close();
  }
});

test('a member left without partitions waits quietly (no rebalance storm)', async () => {
  await harness.broker.createTopic('single', { partitions: 1 });
  const client = await connect(harness.url);
  try {
    const options = { groupId: 'crowd', topics: ['single'], from: 'earliest' as const, heartbeatIntervalMs: 100 };
    const a = client.consumer(options);
    await a.start();
    const b = client.consumer(options);
    await b.start();
    await waitFor(() => a.assignment.length + b.assignment.length === 1 && harness.broker.describeGroup('crowd').state === 'Stable', 10_000);
    const generation = harness.broker.describeGroup('crowd').generationId;
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(harness.broker.describeGroup('crowd').generationId, generation, 'no further rebalances');
    await Promise.all([a.close(), b.close()]);
  } finally {
    await client.close();
  }
});

test('admin: topics, groups with lag, offsets', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    const created = await admin.createTopic('audit', { partitions: 2, retentionMs: 3_600_000 });
    assert.equal(created.config.retentionMs, 3_600_000);
    await assert.rejects(admin.createTopic('audit'), (e) => isWeirError(e, 'TOPIC_EXISTS'));
    assert.ok((await admin.listTopics()).some((t) => t.name === 'audit'));
    const producer = client.producer();
    const before = Date.now();
    await producer.send('audit', Array.from({ length: 5 }, (_, i) => ({ value: `a${i}`, partition: 0 })));
    assert.equal(await admin.latestOffset('audit', 0), 5n);
    assert.equal(await admin.earliestOffset('audit', 0), 0n);
    assert.equal((await admin.offsetForTime('audit', 0, before - 1000)).offset, 0n);
    await admin.commitOffsets('auditing', [{ topic: 'audit', partition: 0, offset: 2n }]);
    const group = await admin.describeGroup('auditing');
    const entry = group.offsets.find((o) => o.topic === 'audit' && o.partition === 0)!;
    assert.equal(entry.offset, 2n);
    assert.equal(entry.lag, 3n);
    assert.ok((await admin.listGroups()).some((g) => g.groupId === 'auditing'));
    await admin.deleteTopic('audit');
    await assert.rejects(admin.describeTopic('audit'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a send naming a partition the defaults would not give a missing topic is refused and creates no topic; the other sends create it', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    const producer = client.producer();
    // Topics are created with one partition by default.
    await assert.rejects(producer.send('placed', { value: 'p3', partition: 3 }), (e) => isWeirError(e, 'UNKNOWN_PARTITION'));
    await assert.rejects(admin.describeTopic('placed'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'), 'no topic was made');

    const sends = [
      producer.send('placed', { value: 'p2', partition: 2 }),
      producer.send('placed', { value: 'p4', partition: 4 }),
      producer.send('placed', { value: 'any' }),
      producer.send('placed', { value: 'p0', partition: 0 }),
    ];
    const settled = await Promise.allSettled(sends);
    assert.deepEqual(
      settled.map((result) => (result.status === 'fulfilled' ? 'stored' : (result.reason as { code: string }).code)),
      ['UNKNOWN_PARTITION', 'UNKNOWN_PARTITION', 'stored', 'stored'],
    );
    assert.equal((await admin.describeTopic('placed')).partitions.length, 1);
    assert.equal(await admin.latestOffset('placed', 0), 2n);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('the producer buffer is bounded: sendNoWait refuses when full until ready()', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('bounded', { partitions: 1 });
    const producer = client.producer({ bufferBytesMax: 64 * 1024, lingerMs: 50 });
    await producer.send('bounded', { value: 'metadata' });
    const value = Buffer.alloc(1000, 1);
    let accepted = 0;
    let acknowledged = 0;
    while (producer.sendNoWait('bounded', { value }, (error) => { if (!error) acknowledged++; })) accepted++;
    assert.ok(accepted >= 50 && accepted <= 70, `accepted ${accepted} messages of 1 kB into a 64 kB buffer`);
    assert.ok(producer.bufferedBytes <= 64 * 1024 + 1100);
    await producer.ready();
    assert.ok(producer.sendNoWait('bounded', { value }));
    await producer.flush();
    assert.equal(acknowledged, accepted);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a batch refused as too large is split and stored even when describing its topic again fails once', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('shrunk', { partitions: 1 });
    const producer = client.producer({ retryBackoffMsMin: 20, retryBackoffMsMax: 50 });
    await producer.send('shrunk', { value: 'described' });
    await admin.alterTopic('shrunk', { messageBytesMax: 2048 });
    // The describe after the refusal fails as a timeout would (retriable); the next one goes through.
    const request = client.request.bind(client) as (...args: unknown[]) => Promise<unknown>;
    let failed = false;
    (client as unknown as { request: (...args: unknown[]) => Promise<unknown> }).request = (name, ...rest) => {
      if (name === 'describeTopic' && !failed) {
        failed = true;
        // After the batch's retry is held for this description (a timeout takes a while too).
        return new Promise((_, reject) => setTimeout(() => reject(new WeirError('TIMEOUT', 'no answer in time (injected)')), 300));
      }
      return request(name, ...rest);
    };
    const values = [0, 1, 2, 3].map((i) => `part-${i}-${'x'.repeat(800)}`);
    const stored = await producer.send('shrunk', values.map((value) => ({ value })));
    assert.ok(failed, 'the describe failed once');
    assert.deepEqual(stored.map((metadata) => metadata.offset), [1n, 2n, 3n, 4n]);
    assert.equal((await producer.send('shrunk', { value: 'after' })).offset, 5n, 'the partition goes on');
    await producer.close();
  } finally {
    await client.close();
  }
});

test('messages waiting for their topic\'s description count at their size against the producer buffer', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('bounded-waiting', { partitions: 1 });
    const producer = client.producer({ bufferBytesMax: 64 * 1024 });
    const value = Buffer.alloc(1000, 1);
    let accepted = 0;
    let acknowledged = 0;
    // All in one turn of the event loop: the topic is still being described, so every message waits.
    while (producer.sendNoWait('bounded-waiting', { value }, (error) => { if (!error) acknowledged++; })) accepted++;
    assert.ok(accepted >= 50 && accepted <= 70, `accepted ${accepted} messages of 1 kB into a 64 kB buffer before the topic was described`);
    await producer.flush();
    assert.equal(acknowledged, accepted);
    assert.equal(producer.bufferedBytes, 0);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a message of the wrong type fails alone with INVALID_REQUEST; the others are stored, and flush and close end', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('mixed', { partitions: 1 });
    const producer = client.producer();
    const invalid = (e: unknown): boolean => isWeirError(e, 'INVALID_REQUEST');
    // Sent in one turn of the event loop, so that they would share a batch.
    const outcomes = await Promise.allSettled([
      producer.send('mixed', { value: 'good-1' }),
      producer.send('mixed', { value: 42 as never }),
      producer.send('mixed', { value: 'x', timestamp: new Date('not a date') }),
      producer.send('mixed', { value: 'x', headers: { h: 7 as never } }),
      producer.send('mixed', { value: 'x', partition: '0' as never }),
      producer.send('mixed', null as never),
      producer.send('mixed', { value: 'good-2', headers: [{ key: 'h', value: 'text' as never }] }),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected', 'fulfilled']);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(invalid(o.reason), String(o.reason));
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /value must be a string, a Buffer or null/);
    // A bad message in an array fails the send (no unhandled rejection), and the producer stays usable.
    await assert.rejects(producer.send('mixed', [{ value: 'a' }, { value: 'b', delayMs: -1 }, { value: 'c' }]), invalid);
    // The first message to a topic not yet described takes another path to the batch.
    await assert.rejects(client.producer().send('mixed-new', { value: 'x', delayMs: -1 }), invalid);
    await producer.flush();
    await producer.close();
    const consumer = client.consumer({ topics: ['mixed'], from: 'earliest' });
    const stored = await take(consumer, 4, 2_000);
    await consumer.close();
    assert.equal(stored.length, 3);
    assert.equal(stored[0]!.value!.toString(), 'good-1');
    assert.equal(stored[1]!.value!.toString(), 'good-2');
    assert.equal(stored[1]!.headers[0]!.value!.toString(), 'text', 'a string header value in the array form is stored as UTF-8');
    assert.equal(stored[2]!.value!.toString(), 'a', 'the array send stored what came before its bad message');
  } finally {
    await client.close();
  }
});

test('auto-commit and close() leave out the message whose handler is running; a second close() waits for the first', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('slow-work', { partitions: 1 });
    const producer = client.producer();
    await producer.send('slow-work', ['m0', 'm1', 'm2'].map((value) => ({ value })));
    const consumer = client.consumer({ groupId: 'slow-workers', topics: ['slow-work'], from: 'earliest', autoCommitIntervalMs: 50 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const running = consumer.run({
      eachMessage: async (message) => {
        if (message.offset === 1n) await released;
        handled.push(message.value!.toString());
      },
    });
    const committed = async (): Promise<bigint | undefined> =>
      (await admin.describeGroup('slow-workers')).offsets.find((o) => o.topic === 'slow-work')?.offset;
    await waitFor(() => handled.length === 1, 10_000, 'm0 handled');
    await new Promise((resolve) => setTimeout(resolve, 400)); // several auto-commit intervals
    assert.equal(await committed(), 1n, 'm1 is still being handled: the commit stops before it');
    const first = consumer.close();
    await consumer.close(); // the second call waits for the whole close: commit and leave
    assert.equal(await committed(), 1n, 'closing while m1 is handled does not commit it');
    const group = await admin.describeGroup('slow-workers');
    assert.equal(group.members.length, 0, 'the member left before the second close() returned');
    await first;
    release();
    await running;
    await producer.close();
  } finally {
    await client.close();
  }
});

for (const mode of ['push', 'pull'] as const) {
  test(`${mode}: break out of for await closes the consumer: what it consumed is committed, it leaves its group, close() after is the same close`, async () => {
    const client = await connect(harness.url);
    try {
      const admin = client.admin();
      const topic = `left-early-${mode}`;
      await admin.createTopic(topic, { partitions: 1 });
      const producer = client.producer();
      await producer.send(topic, ['m0', 'm1', 'm2', 'm3', 'm4'].map((value) => ({ value })));
      await producer.close();
      // No auto-commit meanwhile: only the close on break commits.
      const consumer = client.consumer({ groupId: `left-early-${mode}`, topics: [topic], from: 'earliest', mode, autoCommitIntervalMs: 600_000 });
      const seen: string[] = [];
      for await (const message of consumer) {
        seen.push(message.value!.toString());
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ['m0', 'm1', 'm2']);
      const group = await admin.describeGroup(`left-early-${mode}`);
      assert.equal(group.members.length, 0, 'the member left when the loop did');
      assert.equal(group.offsets.find((o) => o.topic === topic)?.offset, 3n, 'the three messages handled, the last included, are committed');
      await consumer.close(); // the same close: nothing more to do, no error
      assert.deepEqual(await take(consumer, 1, 200), [], 'a closed consumer yields nothing');
    } finally {
      await client.close();
    }
  });
}

test('close() rejects with the code when the broker refuses its final commit, and closes all the same', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('refused-commits', { partitions: 1 });
    const producer = client.producer();
    await producer.send('refused-commits', ['r0', 'r1'].map((value) => ({ value })));
    const member = client.consumer({ groupId: 'refusers', topics: ['refused-commits'], from: 'latest' });
    await member.start();
    // Commits under the group without membership: refused while the group has a live member.
    const outsider = client.consumer({ groupId: 'refusers', partitions: [{ topic: 'refused-commits', partition: 0 }], from: 'earliest', mode: 'pull' });
    const values: string[] = [];
    const refused = (e: unknown): boolean =>
      isWeirError(e, 'UNKNOWN_MEMBER') && /^group refusers: the broker refused the final commit, .*: group refusers has active members/.test(e.message);
    // The break closes the consumer: the refusal of its final commit is thrown from the loop.
    await assert.rejects(async () => {
      for await (const message of outsider) {
        values.push(message.value!.toString());
        if (values.length === 2) break;
      }
    }, refused);
    assert.deepEqual(values, ['r0', 'r1']);
    await assert.rejects(outsider.close(), refused, 'close() reports the refusal of the close the loop made');
    await assert.rejects(outsider.close(), refused, 'a second close() reports the same refusal');
    assert.deepEqual(await take(outsider, 1, 500), [], 'closed all the same: it hands out nothing more');
    assert.deepEqual((await admin.describeGroup('refusers')).offsets, [], 'nothing was committed');
    await member.close(); // a commit with nothing consumed: nothing refused
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a message larger than the topic allows fails at once with MESSAGE_TOO_LARGE, also past the 64 MiB frame limit', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('roomy', { partitions: 1, messageBytesMax: 64 * 1024 * 1024 });
    const producer = client.producer({ deliveryTimeoutMs: 10_000 });
    await assert.rejects(producer.send('roomy', { value: Buffer.alloc(70_000_000) }), (e) => isWeirError(e, 'MESSAGE_TOO_LARGE') && /messageBytesMax 67108864/.test(e.message));
    // The largest batch the topic allows still fits in a frame.
    const [stored] = await producer.send('roomy', [{ value: Buffer.alloc(64 * 1024 * 1024 - 200) }]);
    assert.equal(stored!.offset, 0n);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('at the edge of messageBytesMax the producer refuses exactly what the broker would, before sending it', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('edge', { partitions: 1, messageBytesMax: 1024 });
    const producer = client.producer({ lingerMs: 0 });
    const outcomes: string[] = [];
    for (const headers of [undefined, { trace: 'x'.repeat(40) }]) {
      for (let size = 900; size <= 1000; size++) {
        const sent = await producer.send('edge', { key: 'k', value: Buffer.alloc(size), headers }).then(
          () => 'stored',
          (e: unknown) => (isWeirError(e, 'MESSAGE_TOO_LARGE') && /as a record\) does not fit in a batch of topic edge's messageBytesMax 1024/.test(e.message) ? 'refused' : String(e)),
        );
        outcomes.push(sent);
      }
    }
    // Each run is stored up to a size and refused by the producer itself from the next one on.
    for (const run of [outcomes.slice(0, 101), outcomes.slice(101)]) {
      const firstRefused = run.indexOf('refused');
      assert.ok(firstRefused > 0, run.join());
      assert.deepEqual(new Set(run.slice(0, firstRefused)), new Set(['stored']), run.join());
      assert.deepEqual(new Set(run.slice(firstRefused)), new Set(['refused']), run.join());
    }
    await producer.close();
  } finally {
    await client.close();
  }
});

test('the producer gives back every byte it counted: bufferedBytes is 0 when idle', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('accounted', { partitions: 2 });
    const producer = client.producer();
    for (let i = 0; i < 200; i++) await producer.send('accounted', { value: `m${i}`, key: String(i % 7), headers: { i: String(i) } });
    await producer.send('accounted', Array.from({ length: 500 }, (_, i) => ({ value: Buffer.alloc(i % 300) })));
    assert.equal(producer.bufferedBytes, 0);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('compressed batches, run({ eachMessage }) and starting from a time', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('compressed', { partitions: 1 });
    for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const producer = client.producer({ compression });
      await producer.send('compressed', Array.from({ length: 50 }, (_, i) => ({ value: `${compression}-${i}`.repeat(10) })));
      await producer.close();
    }
    // A millisecond apart from the records on both sides (a timestamp equal to it would match).
    await new Promise((resolve) => setTimeout(resolve, 20));
    const middle = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const producer = client.producer();
    await producer.send('compressed', { value: 'after the middle' });
    const consumer = client.consumer({ topics: ['compressed'], from: 'earliest', mode: 'pull' });
    const values: string[] = [];
    const running = consumer.run({
      eachMessage: async (message) => {
        values.push(message.value!.toString());
        if (values.length === 201) await consumer.close();
      },
    });
    await running;
    assert.equal(values.length, 201);
    assert.equal(values[0], 'gzip-0'.repeat(10));
    assert.equal(values[199], 'zstd-49'.repeat(10));
    const fromTime = client.consumer({ topics: ['compressed'], from: middle });
    const [first] = await take(fromTime, 1);
    assert.equal(first!.value!.toString(), 'after the middle');
    assert.equal(first!.offset, 200n);
    await fromTime.close();
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a message the broker never acknowledges fails with TIMEOUT after deliveryTimeoutMs', async () => {
  const own = await startTestBroker();
  const client = await connect(own.url, { reconnectBackoffMsMin: 50, reconnectBackoffMsMax: 200 });
  try {
    const producer = client.producer({ deliveryTimeoutMs: 1_500, lingerMs: 1 });
    await producer.send('stalled', { value: 'first' });
    await own.listener.close();
    const started = Date.now();
    await assert.rejects(producer.send('stalled', { value: 'second' }), (e) => isWeirError(e, 'TIMEOUT'));
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs >= 1_400 && elapsedMs < 5_000, `failed after ${elapsedMs} ms`);
  } finally {
    await client.close();
    await own.stop();
  }
});

test('a message retried through a refusal until deliveryTimeoutMs fails with TIMEOUT naming the refusal', async () => {
  const full = await startTestBroker({ broker: { diskFreeMinBytes: 9e15 } }); // 9 PB: more than any disk here has free
  const client = await connect(full.url);
  try {
    await client.admin().createTopic('existing');
    const producer = client.producer({ deliveryTimeoutMs: 1_000, lingerMs: 1 });
    const sent = producer.send('existing', { value: 'no room' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(producer.retryingAfter?.code, 'DISK_FREE_LOW');
    await assert.rejects(sent, (e) => {
      assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, /not acknowledged within deliveryTimeoutMs \(1000 ms\); the broker kept refusing it with DISK_FREE_LOW: .* bytes free, below the minimum/);
      assert.ok(isWeirError(e.cause, 'DISK_FREE_LOW'));
      return true;
    });
    assert.equal(producer.retryingAfter, null);
  } finally {
    await client.close();
    await full.stop();
  }
});

test('messagesPerSecondMax paces the consumer', async () => {
  const client = await connect(harness.url);
  try {
    const producer = client.producer();
    await producer.send('paced', Array.from({ length: 12 }, (_, i) => ({ value: `m${i}` })));
    const consumer = client.consumer({ topics: ['paced'], from: 'earliest', messagesPerSecondMax: 20 });
    await consumer.start();
    const started = performance.now();
    const messages = await take(consumer, 12);
    const elapsedMs = performance.now() - started;
    assert.equal(messages.length, 12);
    assert.ok(elapsedMs >= 500, `12 messages at 20/s took ${elapsedMs.toFixed(0)} ms`);
    await consumer.close();
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a consumer of a missing topic fails with UNKNOWN_TOPIC, with a group too (and leaves it)', async () => {
  const client = await connect(harness.url);
  try {
    for (const group of [{}, { groupId: 'of-no-such-topic' }]) {
      const consumer = client.consumer({ ...group, topics: ['no-such-topic'], from: 'earliest' });
      await assert.rejects(take(consumer, 1), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
      await consumer.close();
    }
    await waitFor(() => harness.broker.describeGroup('of-no-such-topic').members.length === 0, 2_000, 'the member left');
  } finally {
    await client.close();
  }
});

test('a group consumer whose only topic is deleted fails with UNKNOWN_TOPIC and leaves its group; close() resolves (push and pull)', { timeout: 10_000 }, async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    const producer = client.producer({ lingerMs: 0 });
    for (const mode of ['push', 'pull'] as const) {
      const topic = `deleted-whole-${mode}`;
      await admin.createTopic(topic, { partitions: 2 });
      await producer.send(topic, { value: 'before', partition: 0 });
      const consumer = client.consumer({ groupId: topic, topics: [topic], from: 'earliest', mode, heartbeatIntervalMs: 100 });
      const iterator = consumer[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.value?.toString(), 'before');
      await admin.deleteTopic(topic);
      await assert.rejects(iterator.next(), (e) => isWeirError(e, 'UNKNOWN_TOPIC') && e.message.includes(topic), mode);
      await waitFor(() => harness.broker.describeGroup(topic).members.length === 0, 2_000, `${mode}: the member left`);
      await consumer.close();
    }
    await producer.close();
  } finally {
    await client.close();
  }
});

test('status events arrive as an async iterator and end with closed', async () => {
  const client = await connect(harness.url);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const status of client.status()) seen.push(status.type);
  })();
  await client.close();
  await reading;
  assert.deepEqual(seen, ['closed']);
});

test('concurrent close() calls both wait for the producers to flush, and closed is reported once', async () => {
  const client = await connect(harness.url);
  const seen: string[] = [];
  client.onStatus((status) => seen.push(status.type));
  const producer = client.producer({ lingerMs: 200 });
  let stored = false;
  const sent = producer.send('closing-twice', { value: 'lingering' }).then(() => (stored = true));
  const closes = [client.close(), client.close()];
  for (const close of closes) {
    await close;
    assert.ok(stored, 'each close() resolves once the lingering message is stored');
  }
  await sent;
  await client.close();
  assert.deepEqual(seen, ['closed']);
});

test('client.close() closes producers and consumers built with new as it does those of its factory methods: flushed, committed, out of the group', async () => {
  const admin = await connect(harness.url);
  const client = await connect(harness.url);
  try {
    await admin.admin().createTopic('built-with-new', { partitions: 1 });
    await admin.producer().send('built-with-new', ['m0', 'm1', 'm2'].map((value) => ({ value })));
    const consumer = new Consumer(client, { groupId: 'built-with-new', topics: ['built-with-new'], from: 'earliest', autoCommitIntervalMs: 600_000 });
    const seen = (await take(consumer, 3)).map((message) => message.value!.toString());
    assert.deepEqual(seen, ['m0', 'm1', 'm2']);
    const producer = new Producer(client, { lingerMs: 200 });
    let sent: unknown = 'pending';
    producer.send('built-with-new', { value: 'lingering' }).then(() => (sent = 'stored'), (error: unknown) => (sent = error));
    await client.close();
    const group = await admin.admin().describeGroup('built-with-new');
    assert.equal(group.members.length, 0, 'the consumer left its group');
    assert.equal(group.offsets.find((o) => o.topic === 'built-with-new')?.offset, 2n, 'the two messages handled are committed, not the one in hand');
    assert.equal(sent, 'stored', 'the producer was flushed');
    assert.deepEqual(await take(consumer, 1, 2_000), [], 'the closed consumer yields nothing');
  } finally {
    await client.close();
    await admin.close();
  }
});

test('connect rejects a wrong version range with UNSUPPORTED_VERSION', async () => {
  await assert.rejects(connect(harness.url, { versionMin: 50, versionMax: 60 }), (e) => isWeirError(e, 'UNSUPPORTED_VERSION'));
});

/** A TCP proxy that can swallow the broker's next answer and cut the connection. */
async function startProxy(
  targetPort: number,
): Promise<{
  port: number;
  dropNextAnswer: boolean;
  dropEvery: number;
  dropsMax: number;
  drops: number;
  hold(): void;
  release(): void;
  close(): void;
}> {
  const held: (() => void)[] = [];
  let holding = false;
  const state = {
    port: 0,
    dropNextAnswer: false,
    dropEvery: 0,
    dropsMax: 0,
    drops: 0,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const send of held.splice(0)) send();
    },
    close: () => {},
  };
  let answers = 0;
  const proxy = await startTcpProxy(targetPort, (client, upstream) => (chunk) => {
    answers++;
    const periodic = state.dropEvery > 0 && state.drops < state.dropsMax && answers % state.dropEvery === 0;
    if (state.dropNextAnswer || periodic) {
      state.dropNextAnswer = false;
      state.drops++;
      client.destroy();
      upstream.destroy();
      return;
    }
    if (holding) held.push(() => client.write(chunk));
    else client.write(chunk);
  });
  state.port = proxy.port;
  state.close = proxy.close;
  return state;
}

test('a topic deleted and created again with fewer partitions: the producer fails what it had routed there, then follows the new count', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('resized', { partitions: 4 });
    const producer = client.producer({ lingerMs: 0 });
    const keyOn3 = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => partitionForKey(Buffer.from(k), 4) === 3)!;
    assert.equal((await producer.send('resized', { key: keyOn3, value: 'before' })).partition, 3);

    await admin.deleteTopic('resized');
    await admin.createTopic('resized', { partitions: 2 });
    // Still routed by the four partitions it knew: the broker refuses partition 3.
    await assert.rejects(producer.send('resized', { key: keyOn3, value: 'lost' }), (e) => isWeirError(e, 'UNKNOWN_PARTITION'));
    // Described again: the same key now lands where every Kafka client would put it.
    const after = await producer.send('resized', { key: keyOn3, value: 'after' });
    assert.equal(after.partition, partitionForKey(Buffer.from(keyOn3), 2));
    assert.equal(after.offset, 0n);
    const sent = await producer.send('resized', Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })));
    for (const [i, metadata] of sent.entries()) assert.equal(metadata.partition, partitionForKey(Buffer.from(`k${i}`), 2));
    await producer.close();
  } finally {
    await client.close();
  }
});

test('partitions added to a topic: the group rebalances onto them and producers spread keys over them after their next metadata refresh', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('growing', { partitions: 2 });
    const consumer = client.consumer({ groupId: 'growers', topics: ['growing'], from: 'earliest', heartbeatIntervalMs: 100 });
    await consumer.start();
    assert.equal(consumer.assignment.length, 2);
    const producer = client.producer({ metadataMaxAgeMs: 100 });
    await producer.send('growing', { key: 'a', value: 'before' });

    const altered = await admin.alterTopic('growing', { partitions: 6, retentionMs: null });
    assert.equal(altered.partitions.length, 6);
    assert.equal(altered.config.retentionMs, null);
    await waitFor(() => consumer.assignment.length === 6, 10_000, 'the member reads all six partitions');

    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
    let sent: { partition: number }[] = [];
    const deadline = Date.now() + 10_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 150));
      sent = await producer.send('growing', keys.map((key) => ({ key, value: key })));
    } while (sent.some((m, i) => m.partition !== partitionForKey(Buffer.from(keys[i]!), 6)) && Date.now() < deadline);
    sent.forEach((m, i) => assert.equal(m.partition, partitionForKey(Buffer.from(keys[i]!), 6), `${keys[i]} over six partitions`));
    assert.ok(new Set(sent.map((m) => m.partition)).size > 2, 'the new partitions are used');

    const received = await take(consumer, 1 + 60);
    assert.ok(received.some((m) => m.partition >= 2), 'messages of the new partitions reach the group');
    await consumer.close();
    await producer.close();
  } finally {
    await client.close();
  }
});

test('closing a pull consumer does not wait for its parked fetch', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('quiet', { partitions: 1 });
    const consumer = client.consumer({ topics: ['quiet'], from: 'latest', mode: 'pull', fetchWaitMs: 20_000 });
    await consumer.start();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the fetch is parked at the broker now
    const started = Date.now();
    await consumer.close();
    // Before, close waited for the fetch, at most consumerCloseWaitMs (2 s).
    assert.ok(Date.now() - started < 1_000, `closed after ${Date.now() - started} ms, not after waiting for the parked fetch`);
  } finally {
    await client.close();
  }
});

test('a consumer of a whole topic without a group reads partitions added to it (push and pull)', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('widening', { partitions: 1 });
    const consumers = (['push', 'pull'] as const).map((mode) => client.consumer({ topics: ['widening'], from: 'latest', mode, metadataMaxAgeMs: 100 }));
    for (const consumer of consumers) await consumer.start();
    await client.admin().alterTopic('widening', { partitions: 3 });
    const producer = client.producer();
    await producer.send('widening', [{ value: 'p2', partition: 2 }, { value: 'p1', partition: 1 }, { value: 'p0', partition: 0 }]);
    for (const consumer of consumers) {
      const received = await take(consumer, 3);
      assert.deepEqual(received.map((m) => `${m.partition}:${m.value}`).sort(), ['0:p0', '1:p1', '2:p2']);
      assert.equal(consumer.assignment.length, 3);
      await consumer.close();
    }
    await producer.close();
  } finally {
    await client.close();
  }
});

test('deleting one of a consumer\'s topics: it goes on with the others where it was (push and pull, with and without a group)', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    const producer = client.producer({ lingerMs: 0 });
    for (const mode of ['push', 'pull'] as const) {
      for (const grouped of [true, false]) {
        const keep = `keep-${mode}-${grouped}`;
        const drop = `drop-${mode}-${grouped}`;
        await admin.createTopic(keep);
        await admin.createTopic(drop);
        const group = grouped ? { groupId: `g-${keep}`, heartbeatIntervalMs: 100 } : {};
        const consumer = client.consumer({ ...group, topics: [keep, drop], from: 'earliest', mode });
        await producer.send(keep, { value: 'k1' });
        await producer.send(drop, { value: 'd1' });
        const first = await take(consumer, 2);
        assert.deepEqual(first.map((m) => m.value!.toString()).sort(), ['d1', 'k1'], `${mode} ${grouped}`);

        await admin.deleteTopic(drop);
        await producer.send(keep, { value: 'k2' });
        const after = await take(consumer, 1);
        assert.deepEqual(after.map((m) => `${m.topic}:${m.value}`), [`${keep}:k2`], `${mode} ${grouped}: nothing again, nothing skipped`);
        await waitFor(() => consumer.assignment.every((p) => p.topic === keep), 10_000, 'the deleted topic leaves the assignment');
        if (grouped) {
          const described = await admin.describeGroup(`g-${keep}`);
          assert.deepEqual(described.members.map((m) => m.assignment), [[{ topic: keep, partitions: [0] }]], 'the group rebalanced without it');
          assert.ok(described.offsets.every((o) => o.topic === keep));
        }
        await consumer.close();
      }
    }
    await producer.close();
  } finally {
    await client.close();
  }
});

test('the message being handled is not handed over again when its consumer restarts fetching (a rebalance that keeps its partition, a reconnect), and is committed only once the loop moves on', async () => {
  const client = await connect(harness.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  try {
    const admin = client.admin();
    const producer = client.producer({ lingerMs: 0 });
    for (const mode of ['push', 'pull'] as const) {
      const keep = `handled-${mode}`;
      const drop = `handled-drop-${mode}`;
      const groupId = `g-${keep}`;
      await admin.createTopic(keep);
      await admin.createTopic(drop);
      const consumer = client.consumer({ groupId, topics: [keep, drop], from: 'earliest', mode, heartbeatIntervalMs: 100, autoCommitIntervalMs: 50 });
      await producer.send(keep, { value: 'k1' });
      const loop = consumer[Symbol.asyncIterator]();
      assert.equal(String((await loop.next()).value!.value), 'k1'); // being handled from here on

      // A rebalance (the other topic is deleted) that gives the same partition back to this member.
      const generationBefore = (await admin.describeGroup(groupId)).generationId;
      await admin.deleteTopic(drop);
      await waitFor(() => consumer.assignment.length === 1 && consumer.assignment[0]!.topic === keep, 10_000, `${mode}: the deleted topic leaves the assignment`);
      assert.ok((await admin.describeGroup(groupId)).generationId > generationBefore, `${mode}: the group rebalanced`);
      // A reconnect: every fetch or subscription starts again.
      await harness.restartListener();
      await new Promise((resolve) => setTimeout(resolve, 300)); // auto-commits run meanwhile
      const committedOffset = async (): Promise<bigint | undefined> => (await admin.describeGroup(groupId)).offsets.find((o) => o.topic === keep)?.offset;
      assert.ok(((await committedOffset()) ?? 0n) === 0n, `${mode}: the message being handled is not committed`);

      await producer.send(keep, { value: 'k2' });
      const next = await loop.next();
      assert.equal(`${next.value!.value}`, 'k2', `${mode}: the next message, not the one handled again`);
      await loop.return(undefined); // leaves the loop: k2 counts as handled
      await consumer.close();
      assert.equal(await committedOffset(), 2n, `${mode}: both counted once the loop moved on`);
    }
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a member that rejoins into the next generation keeps where it got to on the partition it keeps, though its commit before the rejoin was lost: nothing is handed to it twice', async () => {
  const topic = 'kept-positions';
  const groupId = 'g-kept-positions';
  const setup = await connect(harness.url);
  // The member's connection goes through a proxy that, once armed, cuts the connection instead of
  // forwarding its next commit: the commit it makes before rejoining never reaches the broker.
  let cutNextCommit = false;
  let commitsCut = 0;
  const proxy = await startTcpProxy(harness.port, (client) => (chunk) => client.write(chunk), (client, upstream) => framesOf((frame) => {
    const isCommit = frame.readUInt8(4) === 1 && frame.readUInt16BE(9) === apiKeys.commitOffsets;
    if (isCommit && cutNextCommit) {
      cutNextCommit = false;
      commitsCut++;
      client.destroy();
      return;
    }
    upstream.write(frame);
  }));
  const memberClient = await connect(`weir://127.0.0.1:${proxy.port}`, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  const member = memberClient.consumer({ groupId, topics: [topic], from: 'earliest', heartbeatIntervalMs: 50, autoCommitIntervalMs: 600_000 });
  let other: ReturnType<typeof setup.consumer> | null = null;
  try {
    await setup.admin().createTopic(topic, { partitions: 2 });
    const producer = setup.producer({ lingerMs: 0 });
    for (const partition of [0, 1]) await producer.send(topic, ['a', 'b', 'c'].map((v) => ({ value: `${partition}-${v}`, partition })));
    const handed: string[] = [];
    const handedWaiters: (() => void)[] = [];
    const reading = (async () => {
      for await (const message of member) {
        handed.push(message.value!.toString());
        for (const wake of handedWaiters.splice(0)) wake();
      }
    })();
    const handedAtLeast = async (count: number): Promise<void> => {
      while (handed.length < count) await new Promise<void>((resolve) => handedWaiters.push(resolve));
    };
    await handedAtLeast(6); // all six consumed, none committed (no auto-commit meanwhile)
    const generationBefore = (await setup.admin().describeGroup(groupId)).generationId;

    // A second member joins: the first sees the rebalance, its commit is lost, it rejoins.
    cutNextCommit = true;
    other = setup.consumer({ groupId, topics: [topic], from: 'earliest', heartbeatIntervalMs: 50 });
    await other.start();
    await waitFor(() => member.assignment.length === 1, 10_000, 'the first member rejoined with one partition');
    assert.equal(commitsCut, 1, 'the commit before the rejoin was lost');
    const group = await setup.admin().describeGroup(groupId);
    assert.equal(group.generationId, generationBefore + 1, 'the next generation, with the same member');
    assert.equal(group.offsets.length, 0, 'nothing was committed');

    // A new message on the partition it kept: it comes after anything handed to it again.
    const kept = member.assignment[0]!.partition;
    await producer.send(topic, { value: `${kept}-d`, partition: kept });
    await handedAtLeast(7);
    assert.deepEqual(handed.slice(6), [`${kept}-d`], 'the next message of its partition, not its earlier ones again');
    assert.equal(new Set(handed).size, handed.length, `nothing handed twice: ${handed.join(' ')}`);
    await producer.close();
    await member.close();
    await reading;
  } finally {
    await other?.close();
    await member.close().catch(() => {});
    await memberClient.close();
    await setup.close();
    proxy.close();
  }
});

test('a group that reads from latest and has committed nothing yet gets the first messages of partitions added to its topic', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('latest-uncommitted', { partitions: 1 });
    const consumer = client.consumer({ groupId: 'latest-uncommitted', topics: ['latest-uncommitted'], heartbeatIntervalMs: 100 }); // from: 'latest'
    await consumer.start();
    assert.deepEqual((await admin.describeGroup('latest-uncommitted')).offsets, [], 'nothing committed (auto-commit is 5 s away)');

    await admin.alterTopic('latest-uncommitted', { partitions: 2 });
    // Sent at once, before the group has rebalanced onto the new partition.
    const producer = client.producer({ lingerMs: 0 });
    await producer.send('latest-uncommitted', [{ value: 'new-0', partition: 1 }, { value: 'new-1', partition: 1 }]);
    const got = await take(consumer, 2, 5_000);
    assert.deepEqual(got.map((m) => `${m.partition}:${m.value}`), ['1:new-0', '1:new-1']);
    await Promise.all([producer.close(), consumer.close()]);
  } finally {
    await client.close();
  }
});

test('a group that reads from latest gets the first messages of partitions added to its topic', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('latest-widening', { partitions: 1 });
    const consumer = client.consumer({ groupId: 'latest-wideners', topics: ['latest-widening'], heartbeatIntervalMs: 100 }); // from: 'latest'
    await consumer.start();
    const before = client.producer({ lingerMs: 0 });
    await before.send('latest-widening', { value: 'first', partition: 0 });
    assert.deepEqual((await take(consumer, 1)).map((m) => m.value!.toString()), ['first']);
    await consumer.commit();

    await admin.alterTopic('latest-widening', { partitions: 2 });
    // Sent at once, before the group has rebalanced onto the new partition.
    const after = client.producer({ lingerMs: 0 });
    await after.send('latest-widening', [{ value: 'new-0', partition: 1 }, { value: 'new-1', partition: 1 }]);
    const got = await take(consumer, 2);
    assert.deepEqual(got.map((m) => `${m.partition}:${m.value}`), ['1:new-0', '1:new-1']);
    await Promise.all([before.close(), after.close(), consumer.close()]);
  } finally {
    await client.close();
  }
});
