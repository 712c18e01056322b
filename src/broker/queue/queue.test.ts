import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeBatch, type RecordInput } from '../../format/record-batch.js';
import { isWeirError } from '../../util/errors.js';
import { CrashFileSystem } from '../../storage/testing/crash-file-system.js';
import { Broker } from '../broker.js';
import { queueHeaders, type QueueConsumer, type QueueDelivery, type QueueReceipt } from '../types.js';
import { queueDeliveryMessages, windowReadAheadBytesMax } from './queue-partition.js';
import { leaseEpochAfter, leaseEpochSteps, leaseEpochsCount, windowMessagesMax, windowRefillBelow } from './queue-subscription.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-queue-'));
  dirs.push(dir);
  return dir;
}

interface Received {
  receipt: QueueReceipt;
  value: string;
  key: string | null;
  headers: Map<string, string>;
  timestampMs: number;
  at: number;
}

/** The leased messages of deliveries, decoded. */
function messagesOf(deliveries: QueueDelivery[]): Received[] {
  const out: Received[] = [];
  for (const delivery of deliveries) {
    for (const record of queueDeliveryMessages(delivery)) {
      const leased = record;
      out.push({
        receipt: { partition: delivery.partition, offset: leased.offset, deliveryCount: leased.deliveryCount, leaseEpoch: delivery.leaseEpoch },
        value: record.value!.toString(),
        key: record.key?.toString() ?? null,
        headers: new Map(record.headers.map((h) => [h.key, h.value?.toString() ?? ''])),
        timestampMs: record.timestampMs,
        at: Date.now(),
      });
    }
  }
  return out;
}

async function produce(broker: Broker, topic: string, partition: number, records: RecordInput[]): Promise<void> {
  await broker.produce({ topic, partition, batches: encodeBatch(records), acks: 'leader' });
}

const values = (n: number, prefix = 'm'): RecordInput[] => Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`${prefix}${i}`) }));

async function receive(consumer: QueueConsumer, max: number, waitMs = 2000): Promise<Received[]> {
  return messagesOf(await consumer.receive(max, waitMs));
}

test('competing pull consumers drain every message once; acks are not redelivered', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('jobs', { partitions: 3 });
    await broker.createSubscription('jobs', 'workers');
    for (let p = 0; p < 3; p++) await produce(broker, 'jobs', p, values(500, `p${p}-`));
    const consumers = await Promise.all([0, 1, 2, 3].map(() => broker.openQueueConsumer({ topic: 'jobs', subscription: 'workers' })));
    const seen = new Map<string, number>();
    const perConsumer = [0, 0, 0, 0];
    for (let round = 0; round < 100 && seen.size < 1500; round++) {
      await Promise.all(consumers.map(async (consumer, i) => {
        const got = await receive(consumer, 50, 200);
        perConsumer[i]! += got.length;
        for (const m of got) seen.set(m.value, (seen.get(m.value) ?? 0) + 1);
        const failures = await broker.settle('jobs', 'workers', got.map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
        assert.deepEqual(failures, []);
      }));
    }
    assert.equal(seen.size, 1500);
    assert.ok([...seen.values()].every((n) => n === 1), 'no message twice');
    assert.ok(perConsumer.every((n) => n > 0), `every consumer got work: ${perConsumer}`);
    const described = broker.describeSubscription('jobs', 'workers');
    assert.equal(described.backlogMessages, 0);
    assert.equal(described.ackedTotal, 1500);
    assert.deepEqual(await receive(consumers[0]!, 10, 50), []);
  } finally {
    await broker.close();
  }
});

test('a window reads a backlog ahead before any consumer comes: a refill of small messages, up to its byte limit of large ones', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  /** Waits until the window stops growing; returns partition 0's state. */
  const settledWindow = async (topic: string) => {
    let last = -1;
    for (let i = 0; i < 200; i++) {
      const state = broker.describeSubscription(topic, 's').partitions[0]!;
      if (state.windowMessages === last) return state;
      last = state.windowMessages;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.fail(`the window of ${topic} kept changing`);
  };
  try {
    await broker.createSubscription('small', 's');
    for (let i = 0; i < windowMessagesMax + 2_000; i += 1_000) await produce(broker, 'small', 0, values(1_000, `m${i}-`));
    const small = await settledWindow('small');
    assert.ok(small.windowMessages >= windowRefillBelow, `the window holds a refill's worth: ${small.windowMessages}`);
    assert.ok(small.windowMessages <= windowMessagesMax);
    assert.equal(small.backlogMessages, windowMessagesMax + 2_000);

    await broker.createSubscription('large', 's');
    const value = Buffer.alloc(100 * 1024, 0x61);
    for (let i = 0; i < 120; i += 4) await produce(broker, 'large', 0, Array.from({ length: 4 }, () => ({ value })));
    const large = await settledWindow('large');
    assert.ok(large.windowBytes >= windowReadAheadBytesMax, `the window reads ahead up to its byte limit: ${large.windowBytes}`);
    assert.ok(large.windowBytes < windowReadAheadBytesMax + 1024 * 1024, `and not much past it: ${large.windowBytes}`);
    assert.ok(large.windowMessages < 120, `so it holds part of the backlog: ${large.windowMessages}`);

    // Consumers drain all of it: the window reads on as it empties.
    const consumer = await broker.openQueueConsumer({ topic: 'large', subscription: 's' });
    let received = 0;
    for (let round = 0; round < 100 && received < 120; round++) {
      const got = await receive(consumer, 50, 500);
      received += got.length;
      assert.deepEqual(await broker.settle('large', 's', got.map((m) => ({ action: 'ack' as const, receipt: m.receipt }))), []);
    }
    assert.equal(received, 120);
    assert.equal(broker.describeSubscription('large', 's').partitions[0]!.windowBytes, 0);
  } finally {
    await broker.close();
  }
});

test('nack redelivers with the count raised; past deliveriesMax the message is dead-lettered once with its reasons', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('orders', 'billing', { deliveriesMax: 3, backoff: { kind: 'fixed', delayMs: 10 } });
    await produce(broker, 'orders', 0, [{ key: Buffer.from('k1'), value: Buffer.from('poison'), headers: [{ key: 'trace', value: Buffer.from('abc') }] }]);
    const consumer = await broker.openQueueConsumer({ topic: 'orders', subscription: 'billing' });
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [m] = await receive(consumer, 10);
      assert.ok(m, `delivery ${i + 1}`);
      counts.push(m.receipt.deliveryCount);
      assert.deepEqual(await broker.settle('orders', 'billing', [{ action: 'nack', receipt: m.receipt }]), []);
    }
    assert.deepEqual(counts, [1, 2, 3]);
    assert.deepEqual(await receive(consumer, 10, 200), [], 'not delivered a fourth time');
    let letters = await broker.listDeadLetters('orders.billing.dlq');
    for (let i = 0; i < 50 && letters.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      letters = await broker.listDeadLetters('orders.billing.dlq');
    }
    assert.equal(letters.length, 1);
    const [letter] = letters;
    assert.equal(letter!.value!.toString(), 'poison');
    assert.equal(letter!.key!.toString(), 'k1');
    assert.deepEqual(letter!.headers.map((h) => [h.key, h.value?.toString()]), [['trace', 'abc']]);
    assert.equal(letter!.originalTopic, 'orders');
    assert.equal(letter!.originalOffset, 0n);
    assert.equal(letter!.subscription, 'billing');
    assert.equal(letter!.deliveryCount, 3);
    assert.match(letter!.reason, /delivered 3 times/);
    assert.equal(broker.describeSubscription('orders', 'billing').deadLettersTotal, 1);

    // Replay sends it back to the original topic, without the dead-letter headers.
    assert.deepEqual(await broker.replayDeadLetters('orders.billing.dlq'), { replayed: 1 });
    const [again] = await receive(consumer, 10);
    assert.equal(again!.value, 'poison');
    assert.equal(again!.receipt.deliveryCount, 1);
    assert.equal(again!.headers.get(queueHeaders.reason), undefined);
  } finally {
    await broker.close();
  }
});

test('reject dead-letters at once; stale receipts are INVALID_RECEIPT; an expired lease is delivered again', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('t', 's', { ackTimeoutMs: 200, backoff: { kind: 'fixed', delayMs: 0 } });
    await produce(broker, 't', 0, values(3));
    const consumer = await broker.openQueueConsumer({ topic: 't', subscription: 's' });
    const [first, second, third] = await receive(consumer, 3);
    assert.deepEqual(await broker.settle('t', 's', [{ action: 'reject', receipt: first!.receipt, reason: 'bad payload' }]), []);
    // A long reason keeps its first 1000 characters after the prefix.
    const long = `${'x'.repeat(999)}yz`;
    assert.deepEqual(await broker.settle('t', 's', [{ action: 'reject', receipt: third!.receipt, reason: long }]), []);
    // second is never acknowledged: its lease runs out and it comes back with count 2.
    const [redelivered] = await receive(consumer, 1, 2000);
    assert.equal(redelivered!.value, second!.value);
    assert.equal(redelivered!.receipt.deliveryCount, 2);
    const [stale] = await broker.settle('t', 's', [{ action: 'ack', receipt: second!.receipt }]);
    assert.ok(isWeirError(stale?.error, 'INVALID_RECEIPT'), String(stale?.error));
    assert.deepEqual(await broker.settle('t', 's', [{ action: 'ack', receipt: redelivered!.receipt }]), []);
    // The reject's answer came once the letter was written.
    const [letter, longLetter] = await broker.listDeadLetters('t.s.dlq');
    assert.equal(letter!.reason, 'rejected: bad payload');
    assert.equal(longLetter!.reason, `rejected: ${'x'.repeat(999)}y`);
  } finally {
    await broker.close();
  }
});

test('a subscription created again has a new lease epoch: receipts of the deleted one settle nothing of it', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('t', 's', { ackTimeoutMs: 60_000 });
    await produce(broker, 't', 0, values(2));
    const early = await broker.openQueueConsumer({ topic: 't', subscription: 's' });
    const held = await receive(early, 2);
    await broker.deleteSubscription('t', 's');
    await broker.createSubscription('t', 's', { ackTimeoutMs: 60_000 });
    const late = await broker.openQueueConsumer({ topic: 't', subscription: 's' });
    const current = await receive(late, 2);
    assert.deepEqual(current.map((m) => [m.value, m.receipt.offset, m.receipt.deliveryCount]), held.map((m) => [m.value, m.receipt.offset, m.receipt.deliveryCount]));
    assert.notEqual(current[0]!.receipt.leaseEpoch, held[0]!.receipt.leaseEpoch);
    const failures = await broker.settle('t', 's', [
      { action: 'ack', receipt: held[0]!.receipt },
      { action: 'reject', receipt: held[1]!.receipt, reason: 'stale' },
    ]);
    assert.deepEqual(failures.map((f) => [f.index, f.error.code]), [[0, 'INVALID_RECEIPT'], [1, 'INVALID_RECEIPT']]);
    assert.match(failures[0]!.error.message, /earlier lease epoch/);
    assert.equal(broker.describeSubscription('t', 's').inFlight, 2, 'the current leases stand');
    assert.deepEqual(await broker.settle('t', 's', current.map((m) => ({ action: 'ack' as const, receipt: m.receipt }))), []);
    assert.equal(broker.describeSubscription('t', 's').deadLettersTotal, 0);
  } finally {
    await broker.close();
  }
});

test('delayed messages are not delivered early and arrive promptly; expired ones are dropped', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('t', 's');
    const now = Date.now();
    const deliverAt = now + 400;
    await produce(broker, 't', 0, [
      { value: Buffer.from('later'), headers: [{ key: queueHeaders.deliverAt, value: Buffer.from(String(deliverAt)) }] },
      { value: Buffer.from('expired'), headers: [{ key: queueHeaders.expiresAt, value: Buffer.from(String(now - 1)) }] },
      { value: Buffer.from('now') },
    ]);
    const consumer = await broker.openQueueConsumer({ topic: 't', subscription: 's' });
    const [immediate] = await receive(consumer, 10);
    assert.equal(immediate!.value, 'now');
    await broker.settle('t', 's', [{ action: 'ack', receipt: immediate!.receipt }]);
    const [later] = await receive(consumer, 10, 2000);
    assert.equal(later!.value, 'later');
    assert.ok(later!.at >= deliverAt, 'not early');
    assert.ok(later!.at - deliverAt <= 100, `late by ${later!.at - deliverAt} ms`);
    await broker.settle('t', 's', [{ action: 'ack', receipt: later!.receipt }]);
    assert.equal(broker.describeSubscription('t', 's').backlogMessages, 0, 'the expired message left the backlog');
  } finally {
    await broker.close();
  }
});

test('a message delayed past 2^31 ms (about 25 days) waits without a busy timer; the others go at once', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('far', 's');
    const deliverAt = Date.now() + 30 * 24 * 3_600_000;
    await produce(broker, 'far', 0, [
      { value: Buffer.from('in 30 days'), headers: [{ key: queueHeaders.deliverAt, value: Buffer.from(String(deliverAt)) }] },
      { value: Buffer.from('now') },
    ]);
    const consumer = await broker.openQueueConsumer({ topic: 'far', subscription: 's' });
    const [immediate] = await receive(consumer, 10);
    assert.equal(immediate!.value, 'now');
    await broker.settle('far', 's', [{ action: 'ack', receipt: immediate!.receipt }]);
    assert.deepEqual(await receive(consumer, 10, 300), [], 'not delivered early');
    // Node runs a longer setTimeout after 1 ms, warning each time: the schedule would spin.
    assert.deepEqual(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning')), []);
    assert.equal(broker.describeSubscription('far', 's').scheduled, 1);
  } finally {
    process.off('warning', onWarning);
    await broker.close();
  }
});

test('reject overflow refuses a batch with QUEUE_FULL and stores nothing; drop-oldest makes room', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('full', 's', { backlogMessagesMax: 10, overflow: 'reject' });
    await produce(broker, 'full', 0, values(8));
    await assert.rejects(produce(broker, 'full', 0, values(3)), (e) => isWeirError(e, 'QUEUE_FULL') && /backlogMessagesMax 10/.test(e.message));
    assert.equal(broker.describeTopic('full').partitions[0]!.offsetEnd, 8n, 'nothing stored');
    await produce(broker, 'full', 0, values(2));

    await broker.createSubscription('shed', 's', { backlogMessagesMax: 5, overflow: 'drop-oldest' });
    for (let i = 0; i < 4; i++) await produce(broker, 'shed', 0, values(5, `b${i}-`));
    const consumer = await broker.openQueueConsumer({ topic: 'shed', subscription: 's' });
    let got: Received[] = [];
    for (let i = 0; i < 20 && got.length < 5; i++) got = got.concat(await receive(consumer, 100, 100));
    assert.ok(got.length <= 5, `at most the bound: ${got.map((m) => m.value)}`);
    assert.ok(got.some((m) => m.value.startsWith('b3-')), 'the newest messages survive');
    assert.ok(!got.some((m) => m.value.startsWith('b0-')), 'the oldest were dropped');
  } finally {
    await broker.close();
  }
});

test('QUEUE_FULL counts in the singular for 1 and in the plural otherwise', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('counted', 's', { backlogMessagesMax: 1, overflow: 'reject' });
    const full = (text: string) => (e: unknown): boolean => isWeirError(e, 'QUEUE_FULL') && e.message === text;
    await assert.rejects(produce(broker, 'counted', 0, values(2)), full(
      'queue subscription s of topic counted is full: it holds 0 messages (backlogMessagesMax 1) and about 0 bytes (backlogBytesMax none); 2 more messages were refused and nothing was stored',
    ));
    await produce(broker, 'counted', 0, values(1));
    const bytes = broker.describeSubscription('counted', 's').partitions[0]!.backlogBytes;
    assert.ok(bytes > 1, `the stored message takes bytes: ${bytes}`);
    await assert.rejects(produce(broker, 'counted', 0, values(1)), full(
      `queue subscription s of topic counted is full: it holds 1 message (backlogMessagesMax 1) and about ${bytes} bytes (backlogBytesMax none); 1 more message was refused and nothing was stored`,
    ));
  } finally {
    await broker.close();
  }
});

test('a produce whose write fails leaves no mark: the end offset and the backlog are what was stored, and drop-oldest drops nothing for it', async () => {
  const disk = new CrashFileSystem();
  const broker = await Broker.open({ dataDir: '/data', fileSystem: disk.view() });
  try {
    await broker.createTopic('torn', { partitions: 2 });
    await broker.createSubscription('torn', 's', { backlogMessagesMax: 10, overflow: 'drop-oldest' });
    const consumer = await broker.openQueueConsumer({ topic: 'torn', subscription: 's' });
    await produce(broker, 'torn', 1, values(6, 'c'));
    let held: Received[] = [];
    for (let i = 0; i < 20 && held.length < 6; i++) held = held.concat(await receive(consumer, 100, 100));
    assert.deepEqual(await broker.settle('torn', 's', held.slice(1).map((m) => ({ action: 'ack' as const, receipt: m.receipt }))), []);
    await produce(broker, 'torn', 0, values(3, 'a'));
    disk.failNext('write', 'ENOSPC');
    await assert.rejects(produce(broker, 'torn', 1, values(3, 'lost')), (e) => isWeirError(e, 'DISK_FULL'));
    assert.equal(broker.describeTopic('torn').partitions[1]!.offsetEnd, 6n);
    const backlog = broker.describeSubscription('torn', 's');
    assert.equal(backlog.backlogMessages, 4, 'three on partition 0, one held on partition 1');
    const [p0, p1] = broker.describeTopic('torn').partitions;
    const stored = p0!.sizeBytes + p1!.sizeBytes / 6; // the held message counts a share of its batch
    assert.ok(Math.abs(backlog.backlogBytes - stored) <= 10, `about ${stored} bytes, those stored: ${backlog.backlogBytes}`);
    await produce(broker, 'torn', 0, values(6, 'b'));
    assert.equal(broker.describeSubscription('torn', 's').backlogMessages, 10);
    let got: Received[] = [];
    for (let i = 0; i < 20 && got.length < 9; i++) got = got.concat(await receive(consumer, 100, 100));
    assert.deepEqual(got.map((m) => m.value), [...values(3, 'a'), ...values(6, 'b')].map((r) => r.value!.toString()), 'none was dropped');
  } finally {
    await broker.close().catch(() => undefined);
  }
});

test('a subscription create or update whose state cannot be stored (DISK_FULL) is not in force', async () => {
  const disk = new CrashFileSystem();
  const broker = await Broker.open({ dataDir: '/data', fileSystem: disk.view() });
  try {
    await broker.createTopic('jobs');
    await broker.createSubscription('jobs', 'kept', { deliveriesMax: 5 });
    disk.failNext('write', 'ENOSPC');
    await assert.rejects(broker.createSubscription('jobs', 'workers'), (e) => isWeirError(e, 'DISK_FULL'));
    assert.deepEqual(broker.listSubscriptions('jobs').map((s) => s.name), ['kept']);
    assert.throws(() => broker.describeSubscription('jobs', 'workers'), (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION'));
    await assert.rejects(broker.createSubscription('jobs', 'kept', { deliveriesMax: 9 }), (e) => isWeirError(e, 'DISK_FULL'));
    assert.equal(broker.describeSubscription('jobs', 'kept').config.deliveriesMax, 5);
  } finally {
    await broker.close().catch(() => undefined);
  }
});

test('messages retention deletes before a subscription reads them leave its backlog: the count is what a consumer can still get', async () => {
  const broker = await Broker.open({ dataDir: await tempDir(), retentionCheckIntervalMs: 50 });
  try {
    await broker.createTopic('short', { segmentBytesMax: 16 * 1024, messageBytesMax: 16 * 1024, retentionBytes: 48 * 1024 });
    await broker.createSubscription('short', 's', { backlogMessagesMax: 32_000, overflow: 'reject' });
    for (let i = 0; i < 60; i++) await produce(broker, 'short', 0, values(500, `b${i}-`));
    const deadline = Date.now() + 10_000;
    while (broker.describeTopic('short').partitions[0]!.offsetStart < 20_000n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const { offsetStart, offsetEnd } = broker.describeTopic('short').partitions[0]!;
    assert.ok(offsetStart >= 20_000n, `retention deleted the older segments (start ${offsetStart})`);
    const reported = broker.describeSubscription('short', 's').backlogMessages;
    assert.ok(reported < 30_000, `the deleted messages are not counted: ${reported} of ${offsetEnd}`);
    await broker.alterTopic('short', { retentionBytes: 1 << 30 }); // no more deletions while it drains
    // The bound counts what is left: 5,000 more messages fit under 32,000.
    for (let i = 0; i < 10; i++) await produce(broker, 'short', 0, values(500, `more${i}-`));

    const expected = broker.describeSubscription('short', 's').backlogMessages;
    const consumer = await broker.openQueueConsumer({ topic: 'short', subscription: 's' });
    let received = 0;
    for (let round = 0; round < 200; round++) {
      const got = await receive(consumer, 1000, 100);
      if (got.length === 0 && round > 5) break;
      received += got.length;
      assert.deepEqual(await broker.settle('short', 's', got.map((m) => ({ action: 'ack' as const, receipt: m.receipt }))), []);
    }
    assert.equal(received, expected, 'the backlog counted exactly the messages still deliverable');
    assert.equal(broker.describeSubscription('short', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('key-ordered mode: one key is never in flight twice and keeps its order; other keys go in parallel', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('k', 's', { keyOrdered: true, backoff: { kind: 'fixed', delayMs: 0 } });
    const records: RecordInput[] = [];
    for (let i = 0; i < 60; i++) records.push({ key: Buffer.from(`key${i % 3}`), value: Buffer.from(`key${i % 3}:${Math.floor(i / 3)}`) });
    await produce(broker, 'k', 0, records);
    const consumers = await Promise.all([0, 1, 2].map(() => broker.openQueueConsumer({ topic: 'k', subscription: 's' })));
    const next = new Map<string, number>();
    let done = 0;
    for (let round = 0; round < 200 && done < 60; round++) {
      const batches = await Promise.all(consumers.map((c) => receive(c, 10, 100)));
      const inFlight = batches.flat();
      const keys = inFlight.map((m) => m.key!);
      assert.equal(new Set(keys).size, keys.length, `a key twice in flight: ${keys}`);
      for (const m of inFlight) {
        const [key, index] = m.value.split(':');
        if (Number(index) === 5 && m.receipt.deliveryCount === 1) {
          // A failure holds back only its own key.
          await broker.settle('k', 's', [{ action: 'nack', receipt: m.receipt, delayMs: 0 }]);
          continue;
        }
        assert.equal(Number(index), next.get(key!) ?? 0, `order of ${key}`);
        next.set(key!, Number(index) + 1);
        await broker.settle('k', 's', [{ action: 'ack', receipt: m.receipt }]);
        done++;
      }
    }
    assert.equal(done, 60);
  } finally {
    await broker.close();
  }
});

test('release: the delivery does not count and is no redelivery; the message is ready at once, ahead of its key\'s later messages', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('rel', 's', { keyOrdered: true, deliveriesMax: 2, backoff: { kind: 'fixed', delayMs: 60_000 } });
    const keyed = (key: string, value: string): RecordInput => ({ key: Buffer.from(key), value: Buffer.from(value) });
    await produce(broker, 'rel', 0, [keyed('a', 'a0'), keyed('a', 'a1'), keyed('b', 'b0')]);
    const consumer = await broker.openQueueConsumer({ topic: 'rel', subscription: 's' });
    const counts = (messages: Received[]) => messages.map((m) => [m.value, m.receipt.deliveryCount]);
    const release = (m: Received) => broker.settle('rel', 's', [{ action: 'release', receipt: m.receipt }]);

    const first = await receive(consumer, 10);
    assert.deepEqual(counts(first), [['a0', 1], ['b0', 1]]);
    assert.deepEqual(await release(first[0]!), []);
    const [stale] = await release(first[0]!);
    assert.equal(stale?.error.code, 'INVALID_RECEIPT', 'a released message is no longer leased');
    const again = await receive(consumer, 10, 0);
    assert.deepEqual(counts(again), [['a0', 1]], 'at once (not after the 60 s backoff), at the same count, and a1 still waits behind it');

    await broker.settle('rel', 's', [{ action: 'nack', receipt: again[0]!.receipt, delayMs: 0 }]);
    const last = await receive(consumer, 10);
    assert.deepEqual(counts(last), [['a0', 2]], 'its last delivery');
    assert.equal(broker.describeSubscription('rel', 's').redeliveriesTotal, 1);
    assert.deepEqual(await release(last[0]!), []);
    const lastAgain = await receive(consumer, 10);
    assert.deepEqual(counts(lastAgain), [['a0', 2]], 'given back unseen, the last delivery is not used up');
    assert.equal(broker.describeSubscription('rel', 's').redeliveriesTotal, 1, 'a release is no redelivery');

    await broker.settle('rel', 's', [{ action: 'ack', receipt: lastAgain[0]!.receipt }, { action: 'ack', receipt: first[1]!.receipt }]);
    const rest = await receive(consumer, 10);
    assert.deepEqual(counts(rest), [['a1', 1]], 'the key goes on in order');
    await broker.settle('rel', 's', [{ action: 'ack', receipt: rest[0]!.receipt }]);
    const described = broker.describeSubscription('rel', 's');
    assert.deepEqual([described.ackedTotal, described.deadLettersTotal, described.backlogMessages], [3, 0, 0]);
  } finally {
    await broker.close();
  }
});

test('lease epochs step from 2^32 - 1 to 1, and the steps between two are counted across the wrap', () => {
  for (const [base, steps] of [[1, 0], [7, 3], [leaseEpochsCount, 1], [leaseEpochsCount - 1, 5]] as const) {
    const epoch = leaseEpochAfter(base, steps);
    assert.ok(epoch >= 1 && epoch <= leaseEpochsCount, `${epoch} is an epoch`);
    assert.equal(leaseEpochSteps(base, epoch), steps);
  }
  assert.equal(leaseEpochAfter(leaseEpochsCount, 1), 1);
  assert.equal(leaseEpochSteps(5, 4), leaseEpochsCount - 1, 'an epoch before the base is far ahead of it');
});

test('a released receipt settles nothing: the message\'s next lease, at the same delivery count, is not its to settle; after a restart neither', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  try {
    await broker.createSubscription('rel-receipt', 's', { ackTimeoutMs: 60_000 });
    await produce(broker, 'rel-receipt', 0, values(1));
    const first = await broker.openQueueConsumer({ topic: 'rel-receipt', subscription: 's' });
    const [released] = await receive(first, 1);
    assert.deepEqual(await broker.settle('rel-receipt', 's', [{ action: 'release', receipt: released!.receipt }]), []);
    const second = await broker.openQueueConsumer({ topic: 'rel-receipt', subscription: 's' });
    const [leased] = await receive(second, 1);
    assert.equal(leased!.receipt.deliveryCount, released!.receipt.deliveryCount, 'a release does not count');
    for (const action of ['ack', 'nack', 'release'] as const) {
      const [stale] = await broker.settle('rel-receipt', 's', [{ action, receipt: released!.receipt }]);
      assert.equal(stale?.error.code, 'INVALID_RECEIPT', `${action} with the released receipt`);
      assert.match(stale!.error.message, /not a current lease/);
    }
    assert.equal(broker.describeSubscription('rel-receipt', 's').inFlight, 1, 'the second consumer keeps its lease');

    // Released again and leased after a restart (the release replayed from the state log): both
    // earlier receipts are stale, the newest settles.
    assert.deepEqual(await broker.settle('rel-receipt', 's', [{ action: 'release', receipt: leased!.receipt }]), []);
    await broker.close();
    broker = await Broker.open({ dataDir });
    const third = await broker.openQueueConsumer({ topic: 'rel-receipt', subscription: 's' });
    const [current] = await receive(third, 1);
    assert.equal(current!.receipt.deliveryCount, 1);
    const stale = await broker.settle('rel-receipt', 's', [
      { action: 'ack', receipt: released!.receipt },
      { action: 'ack', receipt: leased!.receipt },
    ]);
    assert.deepEqual(stale.map((f) => f.error.code), ['INVALID_RECEIPT', 'INVALID_RECEIPT']);
    assert.deepEqual(await broker.settle('rel-receipt', 's', [{ action: 'ack', receipt: current!.receipt }]), []);
    assert.equal(broker.describeSubscription('rel-receipt', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('key-ordered with drop-oldest: messages dropped while their key was held are not delivered, and the rest of the key goes on', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('kshed', 's', { keyOrdered: true, backlogMessagesMax: 3, overflow: 'drop-oldest' });
    const keyed = (from: number, to: number): RecordInput[] =>
      Array.from({ length: to - from }, (_, i) => ({ key: Buffer.from('k'), value: Buffer.from(`v${from + i}`) }));
    await produce(broker, 'kshed', 0, keyed(0, 1));
    const consumer = await broker.openQueueConsumer({ topic: 'kshed', subscription: 's' });
    const [held] = await receive(consumer, 10);
    assert.equal(held!.value, 'v0');
    // v1 … v7 wait behind v0, their key's holder; the oldest of them are dropped to keep 3.
    for (let i = 1; i < 8; i++) await produce(broker, 'kshed', 0, keyed(i, i + 1));
    assert.equal(broker.describeSubscription('kshed', 's').backlogMessages, 3);
    assert.deepEqual(await broker.settle('kshed', 's', [{ action: 'ack', receipt: held!.receipt }]), []);
    const delivered: string[] = [];
    for (let round = 0; round < 20 && delivered.length < 2; round++) {
      const got = await receive(consumer, 10, 100);
      assert.ok(got.length <= 1, `one message of the key at a time: ${got.map((m) => m.value)}`);
      for (const m of got) {
        delivered.push(m.value);
        assert.deepEqual(await broker.settle('kshed', 's', [{ action: 'ack', receipt: m.receipt }]), [], `${m.value} acknowledged`);
      }
    }
    assert.deepEqual(delivered, ['v6', 'v7'], 'the survivors, in order, and none of the dropped');
    assert.equal(broker.describeSubscription('kshed', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('a rate-capped push consumer is held to its rate', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await produce(broker, 'r', 0, values(200));
    const times: number[] = [];
    const consumer = await broker.openQueueConsumer({
      topic: 'r',
      subscription: 's',
      ratePerSecond: 100,
      deliver: (deliveries) => {
        for (const m of messagesOf(deliveries)) {
          times.push(m.at);
          void broker.settle('r', 's', [{ action: 'ack', receipt: m.receipt }]);
        }
      },
    });
    consumer.grant(1000);
    await new Promise((r) => setTimeout(r, 1000));
    await consumer.close();
    // 100/s with a burst of 10: about 100 in one second, certainly not all 200.
    assert.ok(times.length >= 60 && times.length <= 125, `delivered ${times.length} in 1 s at 100/s`);
  } finally {
    await broker.close();
  }
});

test('messages delayed far ahead leave a full window: later ones are delivered at once, the delayed ones on time, across a restart', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  const delayed = windowMessagesMax + 500;
  const dueAt = Date.now() + 5_000;
  try {
    await broker.createSubscription('far', 's');
    const header = [{ key: queueHeaders.deliverAt, value: Buffer.from(String(dueAt)) }];
    for (let i = 0; i < delayed; i += 500) {
      await produce(broker, 'far', 0, Array.from({ length: 500 }, (_, j) => ({ value: Buffer.from(`d${i + j}`), headers: header })));
    }
    await produce(broker, 'far', 0, values(20, 'now'));
    const consumer = await broker.openQueueConsumer({ topic: 'far', subscription: 's' });
    const prompt: Received[] = [];
    while (prompt.length < 20) {
      const got = await receive(consumer, 100, 1000);
      assert.ok(got.length > 0 && Date.now() < dueAt, 'the undelayed messages behind a full window of delayed ones arrive before the delay ends');
      prompt.push(...got);
    }
    assert.deepEqual(prompt.map((m) => m.value), values(20, 'now').map((r) => r.value!.toString()));
    await broker.settle('far', 's', prompt.map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
    const described = broker.describeSubscription('far', 's');
    assert.equal(described.backlogMessages, delayed);
    assert.equal(described.scheduled, delayed, 'parked messages count as scheduled');
    assert.equal(described.partitions[0]!.ackFloor, 0n);
  } finally {
    await broker.close();
  }
  // Restarted before they are due: still delayed, none lost, none early.
  broker = await Broker.open({ dataDir });
  try {
    const consumer = await broker.openQueueConsumer({ topic: 'far', subscription: 's' });
    const seen = new Set<string>();
    let firstAt = 0;
    while (seen.size < delayed) {
      const got = await receive(consumer, 5_000, 6_000);
      assert.ok(got.length > 0, `only ${seen.size} of ${delayed} delayed messages arrived`);
      firstAt ||= got[0]!.at;
      for (const message of got) {
        assert.ok(message.at >= dueAt, `${message.value} came ${dueAt - message.at} ms early`);
        assert.ok(!seen.has(message.value), `${message.value} twice`);
        seen.add(message.value);
      }
      await broker.settle('far', 's', got.map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
    }
    // Generous: the target is 100 ms (this test reads 10,500 parked messages back at once).
    assert.ok(firstAt - dueAt <= 1_000, `the delayed messages began ${firstAt - dueAt} ms late`);
    assert.equal(broker.describeSubscription('far', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('acknowledgements, failure counts and delays survive a restart; unacknowledged messages come back', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  await broker.createSubscription('d', 's', { deliveriesMax: 2, backoff: { kind: 'fixed', delayMs: 0 } });
  await produce(broker, 'd', 0, values(10));
  await produce(broker, 'd', 0, [{ value: Buffer.from('delayed'), headers: [{ key: queueHeaders.deliverAt, value: Buffer.from(String(Date.now() + 700)) }] }]);
  let consumer = await broker.openQueueConsumer({ topic: 'd', subscription: 's' });
  const first = await receive(consumer, 10);
  assert.equal(first.length, 10);
  // ack m0..m4, nack m5 (count 1), leave m6..m9 in flight.
  await broker.settle('d', 's', first.slice(0, 5).map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
  await broker.settle('d', 's', [{ action: 'nack', receipt: first[5]!.receipt }]);
  await broker.close();

  broker = await Broker.open({ dataDir });
  try {
    consumer = await broker.openQueueConsumer({ topic: 'd', subscription: 's' });
    const again = await receive(consumer, 20);
    assert.deepEqual(again.map((m) => m.value).sort(), ['m5', 'm6', 'm7', 'm8', 'm9']);
    const m5 = again.find((m) => m.value === 'm5')!;
    assert.equal(m5.receipt.deliveryCount, 2, 'the failed delivery was remembered');
    await broker.settle('d', 's', again.map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
    const [delayed] = await receive(consumer, 10, 3000);
    assert.equal(delayed!.value, 'delayed');
  } finally {
    await broker.close();
  }
});

test('bad input: unknown subscription, bad names and settings, bad settlements', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    // Of a topic that does not exist: said so, not that the (missing) topic lacks the subscription.
    assert.throws(() => broker.describeSubscription('t', 'nope'), (e) => isWeirError(e, 'UNKNOWN_TOPIC') && /topic t does not exist/.test(e.message));
    await assert.rejects(broker.settle('t', 'nope', []), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    await assert.rejects(broker.createSubscription('t', 'bad name'), /subscription name "bad name" is invalid/);
    await assert.rejects(broker.createSubscription('t', 's', { ackTimeoutMs: 5 }), /ackTimeoutMs=5 is invalid: expected an integer from 100/);
    await assert.rejects(broker.createSubscription('t', 's', { overflow: 'explode' as never }), /overflow="explode" is invalid/);
    // A misspelt field of a backoff policy is refused, not dropped (the policy would be taken without it).
    await assert.rejects(broker.createSubscription('t', 's', { backoff: { kind: 'fixed', delayMs: 5, delayMS: 500 } as never }), /backoff.delayMS=500 is invalid: not a field of backoff \(kind, delayMs\)/);
    await assert.rejects(broker.createSubscription('t', 's', { backoff: { kind: 'exponential', initialMs: 1, maxMs: 2, multiplier: 2, jitter: 0, cap: 1 } as never }), /backoff.cap=1 is invalid/);
    await assert.rejects(broker.createSubscription('t', 's', { deadLetterTopic: '__queue_state' }), (e) => isWeirError(e, 'INVALID_TOPIC') && /reserved for Weir/.test(e.message));
    await broker.createSubscription('t', 's');
    assert.throws(() => broker.describeSubscription('t', 'nope'), (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION'));
    await assert.rejects(broker.settle('t', 'nope', []), (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION'));
    await assert.rejects(broker.createSubscription('t', 's', { keyOrdered: true }), /keyOrdered cannot change/);
    const [bad] = await broker.settle('t', 's', [{ action: 'ack', receipt: { partition: 9, offset: 0n, deliveryCount: 1, leaseEpoch: 1 } }]);
    assert.ok(isWeirError(bad?.error, 'INVALID_RECEIPT') && /receipt 9\/0#1 of subscription s names partition 9: topic t has 1/.test(bad.error.message), String(bad?.error));
    await assert.rejects(broker.settle('t', 's', [{ action: 'ack', receipt: { partition: 0, offset: 0n, deliveryCount: 1, leaseEpoch: 1 }, count: 0 }]), /count 0 is invalid/);
    assert.equal(broker.listSubscriptions().length, 1);
    await broker.deleteSubscription('t', 's');
    assert.equal(broker.listSubscriptions().length, 0);
  } finally {
    await broker.close();
  }
});

test('many messages dead-lettered at once share one new dead-letter topic', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await produce(broker, 'burst', 0, values(20));
    const consumer = await broker.openQueueConsumer({ topic: 'burst', subscription: 's' });
    const got = await receive(consumer, 20);
    assert.equal(got.length, 20);
    assert.deepEqual(await broker.settle('burst', 's', got.map((m) => ({ action: 'reject' as const, receipt: m.receipt, reason: 'all bad' }))), []);
    assert.equal(broker.describeSubscription('burst', 's').deadLettersTotal, 20);
    assert.equal(broker.describeSubscription('burst', 's').backlogMessages, 0);
    assert.equal((await broker.listDeadLetters('burst.s.dlq')).length, 20);
  } finally {
    await broker.close();
  }
});

test('one settlement covers a run of offsets; the messages it cannot settle are named', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await produce(broker, 'runs', 0, values(10));
    const consumer = await broker.openQueueConsumer({ topic: 'runs', subscription: 's' });
    const got = await receive(consumer, 10);
    assert.equal(got.length, 10);
    assert.deepEqual(await broker.settle('runs', 's', [{ action: 'ack', receipt: got[2]!.receipt }]), []);
    // offsets 0..9 in one settlement: 2 is settled already, so only it fails.
    const failures = await broker.settle('runs', 's', [{ action: 'ack', receipt: got[0]!.receipt, count: 10 }]);
    assert.deepEqual(failures.map((f) => [f.index, f.offset, f.error.code]), [[0, 2n, 'INVALID_RECEIPT']]);
    const described = broker.describeSubscription('runs', 's');
    assert.equal(described.backlogMessages, 0);
    assert.equal(described.ackedTotal, 10);
  } finally {
    await broker.close();
  }
});

test('partitions added to a topic are delivered by its queue subscriptions from their first message; after a restart too', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  try {
    await broker.createTopic('jobs', { partitions: 1 });
    await broker.createSubscription('jobs', 'workers', { startAt: 'latest' });
    await produce(broker, 'jobs', 0, values(3, 'p0-'));
    await broker.alterTopic('jobs', { partitions: 3 });
    await produce(broker, 'jobs', 1, values(3, 'p1-'));
    await produce(broker, 'jobs', 2, values(3, 'p2-'));
    const consumer = await broker.openQueueConsumer({ topic: 'jobs', subscription: 'workers' });
    const got: Received[] = [];
    for (let round = 0; round < 20 && got.length < 9; round++) got.push(...(await receive(consumer, 100, 200)));
    assert.deepEqual(got.map((m) => m.value).sort(), ['p0-0', 'p0-1', 'p0-2', 'p1-0', 'p1-1', 'p1-2', 'p2-0', 'p2-1', 'p2-2']);
    await broker.settle('jobs', 'workers', got.filter((m) => m.receipt.partition !== 2).map((m) => ({ action: 'ack' as const, receipt: m.receipt })));
    assert.equal(broker.describeSubscription('jobs', 'workers').partitions.length, 3);
  } finally {
    await broker.close();
  }
  broker = await Broker.open({ dataDir });
  try {
    await broker.alterTopic('jobs', { partitions: 4 });
    await produce(broker, 'jobs', 3, values(2, 'p3-'));
    const consumer = await broker.openQueueConsumer({ topic: 'jobs', subscription: 'workers' });
    const got: Received[] = [];
    for (let round = 0; round < 20 && got.length < 5; round++) got.push(...(await receive(consumer, 100, 200)));
    assert.deepEqual(got.map((m) => m.value).sort(), ['p2-0', 'p2-1', 'p2-2', 'p3-0', 'p3-1'], 'the unacknowledged ones again and the new partition');
  } finally {
    await broker.close();
  }
});

test('a reject whose letter cannot be written fails, and the message is delivered again', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('narrow.dlq', { messageBytesMax: 1024 });
    await broker.createSubscription('wide', 's', { deadLetterTopic: 'narrow.dlq', backoff: { kind: 'fixed', delayMs: 0 } });
    await produce(broker, 'wide', 0, [{ value: Buffer.alloc(2000, 'x') }]);
    const consumer = await broker.openQueueConsumer({ topic: 'wide', subscription: 's' });
    const [message] = await receive(consumer, 1);
    const [failure] = await broker.settle('wide', 's', [{ action: 'reject', receipt: message!.receipt, reason: 'too big to keep' }]);
    assert.ok(isWeirError(failure?.error, 'MESSAGE_TOO_LARGE'), String(failure?.error));
    assert.match(failure!.error.message, /dead-lettering wide\/0@0 subscription s to narrow.dlq failed: .*delivered again/);
    const [again] = await receive(consumer, 1, 3000);
    assert.equal(again!.receipt.offset, 0n);
    assert.deepEqual(await broker.listDeadLetters('narrow.dlq'), []);
  } finally {
    await broker.close();
  }
});

test('a message past deliveriesMax whose letter cannot be written is not delivered again: the letter is written again, with backoff, until the topic takes it', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('tight.dlq', { messageBytesMax: 1024 });
    await broker.createSubscription('poison', 's', { deadLetterTopic: 'tight.dlq', deliveriesMax: 1, backoff: { kind: 'fixed', delayMs: 0 } });
    await produce(broker, 'poison', 0, [{ value: Buffer.alloc(2000, 'x') }]);
    const consumer = await broker.openQueueConsumer({ topic: 'poison', subscription: 's' });
    const [message] = await receive(consumer, 1);
    const [failure] = await broker.settle('poison', 's', [{ action: 'nack', receipt: message!.receipt }]);
    assert.ok(isWeirError(failure?.error, 'MESSAGE_TOO_LARGE'), String(failure?.error));
    assert.match(failure!.error.message, /the letter will be written again/);
    assert.deepEqual(await receive(consumer, 1, 2_500), [], 'not delivered past deliveriesMax');

    await broker.alterTopic('tight.dlq', { messageBytesMax: 8192 });
    for (let i = 0; i < 100 && broker.describeSubscription('poison', 's').deadLettersTotal === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const letters = await broker.listDeadLetters('tight.dlq');
    assert.deepEqual(letters.map((letter) => [letter.originalOffset, letter.deliveryCount]), [[0n, 1]]);
    assert.equal(broker.describeSubscription('poison', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test("dead letters keep their messages' timestamps past the dead-letter topic's timestamp bounds; a replay is timestamped when it is made", async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('dated.dlq', { timestampBehindMsMax: 60_000, timestampAheadMsMax: 60_000 });
    await broker.createSubscription('dated', 's', { deadLetterTopic: 'dated.dlq', deliveriesMax: 1, backoff: { kind: 'fixed', delayMs: 0 } });
    const oldMs = Date.now() - 2 * 3_600_000;
    const aheadMs = Date.now() + 30 * 60_000; // inside the source topic's default hour ahead
    await produce(broker, 'dated', 0, [{ value: Buffer.from('old'), timestamp: oldMs }]);
    await produce(broker, 'dated', 0, [{ value: Buffer.from('ahead'), timestamp: aheadMs }]);
    // Producers are still held to the dead-letter topic's bounds.
    await assert.rejects(produce(broker, 'dated.dlq', 0, [{ value: Buffer.from('old'), timestamp: oldMs }]), (error) => isWeirError(error, 'INVALID_TIMESTAMP'));
    const consumer = await broker.openQueueConsumer({ topic: 'dated', subscription: 's' });
    const [old, ahead] = await receive(consumer, 2);
    // A nack past deliveriesMax and a reject: each is answered once its letter is written.
    const settled = await broker.settle('dated', 's', [
      { action: 'nack', receipt: old!.receipt },
      { action: 'reject', receipt: ahead!.receipt, reason: 'ahead' },
    ]);
    assert.deepEqual(settled.map((failure) => String(failure.error)), []);
    const letters = await broker.listDeadLetters('dated.dlq');
    assert.deepEqual(letters.map((letter) => [letter.value?.toString(), letter.timestampMs]), [['old', oldMs], ['ahead', aheadMs]]);

    // A replay produces the messages anew, at the broker's time: the original topic's bounds pass them.
    await broker.alterTopic('dated', { timestampBehindMsMax: 60_000 });
    const replayedAfterMs = Date.now();
    assert.deepEqual(await broker.replayDeadLetters('dated.dlq'), { replayed: 2 });
    const again = await receive(consumer, 2);
    assert.deepEqual(again.map((m) => m.value), ['old', 'ahead']);
    for (const m of again) assert.ok(m.timestampMs >= replayedAfterMs && m.timestampMs <= Date.now(), `${m.value} timestamped ${m.timestampMs}`);
  } finally {
    await broker.close();
  }
});

test('a message waiting for redelivery when deliveriesMax is lowered below its count is dead-lettered, not delivered again', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('lowered', 's', { deliveriesMax: 5 });
    await produce(broker, 'lowered', 0, values(1));
    const consumer = await broker.openQueueConsumer({ topic: 'lowered', subscription: 's' });
    const [first] = await receive(consumer, 1);
    assert.deepEqual(await broker.settle('lowered', 's', [{ action: 'nack', receipt: first!.receipt, delayMs: 0 }]), []);
    const [second] = await receive(consumer, 1);
    assert.equal(second!.receipt.deliveryCount, 2);
    assert.deepEqual(await broker.settle('lowered', 's', [{ action: 'nack', receipt: second!.receipt, delayMs: 300 }]), []);
    // Two deliveries made, two allowed from now on: the waiting message has none left.
    await broker.createSubscription('lowered', 's', { deliveriesMax: 2 });
    const again = await receive(consumer, 1, 1_000);
    assert.deepEqual(again.map((m) => m.receipt.deliveryCount), [], 'not delivered a third time');
    for (let i = 0; i < 100 && broker.describeSubscription('lowered', 's').deadLettersTotal === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const letters = await broker.listDeadLetters('lowered.s.dlq');
    assert.deepEqual(letters.map((letter) => [letter.originalOffset, letter.deliveryCount, letter.reason]), [[0n, 2, 'delivered 2 times without an acknowledgement (deliveriesMax 2)']]);
    assert.equal(broker.describeSubscription('lowered', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('a dead-letter topic created on its first letter takes the largest messages its source topic takes', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('large', { messageBytesMax: 4 * 1024 * 1024 });
    await broker.createSubscription('large', 's');
    await produce(broker, 'large', 0, [{ value: Buffer.alloc(2 * 1024 * 1024, 'x') }]);
    const consumer = await broker.openQueueConsumer({ topic: 'large', subscription: 's' });
    const [message] = await receive(consumer, 1);
    assert.deepEqual(await broker.settle('large', 's', [{ action: 'reject', receipt: message!.receipt, reason: 'poison' }]), []);
    const [letter] = await broker.listDeadLetters('large.s.dlq');
    assert.equal(letter?.value?.length, 2 * 1024 * 1024);
    assert.ok(broker.describeTopic('large.s.dlq').config.messageBytesMax > 4 * 1024 * 1024);
  } finally {
    await broker.close();
  }
});

test('drop-oldest with dead-letter discard letters only the surplus and keeps the bound', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('spill', 's', { backlogMessagesMax: 5, overflow: 'drop-oldest', discard: 'dead-letter' });
    await produce(broker, 'spill', 0, values(12));
    for (let i = 0; i < 100 && broker.describeSubscription('spill', 's').deadLettersTotal < 7; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // room for any letters beyond the surplus
    const described = broker.describeSubscription('spill', 's');
    assert.equal(described.deadLettersTotal, 7);
    assert.equal(described.backlogMessages, 5);
    const letters = await broker.listDeadLetters('spill.s.dlq');
    assert.deepEqual(letters.map((letter) => letter.originalOffset).sort((a, b) => Number(a - b)), [0n, 1n, 2n, 3n, 4n, 5n, 6n]);
    assert.ok(letters.every((letter) => letter.reason === 'dropped: the backlog was full'));
  } finally {
    await broker.close();
  }
});

test('drop-oldest writes its dead letters in offset order, the first ones too (while the dead-letter topic is being created)', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('shed', { partitions: 2 });
    await broker.createSubscription('shed', 's', { backlogMessagesMax: 4, overflow: 'drop-oldest', discard: 'dead-letter' });
    // One produce per message: each drops one, while the letters before it may still be on their way.
    const perPartition = 30;
    for (let i = 0; i < perPartition; i++) for (const p of [0, 1]) await produce(broker, 'shed', p, values(1, `p${p}-${i}-`));
    const lettered = perPartition * 2 - 4;
    for (let i = 0; i < 200 && broker.describeSubscription('shed', 's').deadLettersTotal < lettered; i++) await new Promise((r) => setTimeout(r, 20));
    const letters = await broker.listDeadLetters('shed.s.dlq', { max: 1000 });
    assert.equal(letters.length, lettered);
    for (const p of [0, 1]) {
      const offsets = letters.filter((letter) => letter.originalPartition === p).map((letter) => letter.originalOffset);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => Number(a - b)), `partition ${p}'s letters in offset order`);
    }
  } finally {
    await broker.close();
  }
});

test('the topic TTL holds for messages read into the window before it passed', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('brief', { messageTtlMs: 300 });
    await broker.createSubscription('brief', 's', { discard: 'dead-letter' });
    await produce(broker, 'brief', 0, values(3));
    // The window reads the messages at once; no consumer takes them before the TTL passes.
    await new Promise((r) => setTimeout(r, 500));
    const consumer = await broker.openQueueConsumer({ topic: 'brief', subscription: 's' });
    assert.deepEqual(await receive(consumer, 10, 300), []);
    const letters = await broker.listDeadLetters('brief.s.dlq');
    assert.deepEqual(letters.map((letter) => letter.reason), ['expired before delivery', 'expired before delivery', 'expired before delivery']);
    assert.equal(broker.describeSubscription('brief', 's').backlogMessages, 0);
  } finally {
    await broker.close();
  }
});

test('deleting a subscription ends its consumers with UNKNOWN_SUBSCRIPTION; a new consumer creates it again', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createSubscription('gone', 's');
    const endings: string[] = [];
    await broker.openQueueConsumer({ topic: 'gone', subscription: 's', deliver: () => {}, ended: (error) => endings.push(`${error.code}: ${error.message}`) });
    const puller = await broker.openQueueConsumer({ topic: 'gone', subscription: 's' });
    const parked = puller.receive(10, 5000);
    await broker.deleteSubscription('gone', 's');
    assert.deepEqual(endings, ['UNKNOWN_SUBSCRIPTION: subscription s of topic gone was deleted']);
    assert.deepEqual(await parked, []);
    await assert.rejects(puller.receive(10, 0), (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION') && /was deleted/.test(e.message));
    // Closing an ended consumer is harmless; deleting the topic ends consumers of a new subscription.
    await puller.close();
    const fresh = await broker.openQueueConsumer({ topic: 'gone', subscription: 's', deliver: () => {}, ended: (error) => endings.push(error.message) });
    assert.equal(broker.listSubscriptions().length, 1);
    await broker.deleteTopic('gone');
    assert.equal(endings[1], 'subscription s of topic gone was deleted with its topic');
    await fresh.close();
  } finally {
    await broker.close();
  }
});
