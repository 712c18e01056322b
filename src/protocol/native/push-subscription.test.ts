import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Broker } from '../../broker/broker.js';
import { decodeBatches, encodeBatch } from '../../format/record-batch.js';
import type { WeirError } from '../../util/errors.js';
import { ByteBudget } from '../../util/byte-budget.js';
import { PushSubscription, type SubscriptionOutput } from './push-subscription.js';
import type { Delivery } from './wire/messages.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function openBroker(): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-push-'));
  dirs.push(dir);
  return Broker.open({ dataDir: dir, logger: () => {} });
}

/** Records what the subscription sends, and the order of events around it. */
class RecordingOutput implements SubscriptionOutput {
  readonly events: string[] = [];
  readonly deliveries: Delivery[] = [];
  ends: WeirError[] = [];
  canWrite = true;
  #drained: (() => void)[] = [];
  readonly readBudget = new ByteBudget(() => true);
  /** Bytes kept for later credits, and how many may be (none: every rest is read again). */
  keptBytes = 0;
  keptBytesMax = Number.POSITIVE_INFINITY;

  deliver(_subscriptionId: number, delivery: Delivery): void {
    this.deliveries.push(delivery);
    this.events.push(`deliver ${delivery.offsetFirst}..${delivery.offsetEnd}`);
  }
  writable(): Promise<void> {
    return this.canWrite ? Promise.resolve() : new Promise((resolve) => this.#drained.push(resolve));
  }
  writableNow(): boolean {
    return this.canWrite;
  }
  keep(bytes: number): boolean {
    if (this.keptBytes + bytes > this.keptBytesMax) return false;
    this.keptBytes += bytes;
    return true;
  }
  unkeep(bytes: number): void {
    this.keptBytes -= bytes;
    assert.ok(this.keptBytes >= 0, `released more than kept (${this.keptBytes})`);
  }
  ended(_subscriptionId: number, error: WeirError): void {
    this.ends.push(error);
  }
  drain(): void {
    this.canWrite = true;
    for (const resolve of this.#drained.splice(0)) resolve();
  }
  values(): string[] {
    return this.deliveries.flatMap((d) =>
      decodeBatches(d.records, { decompressedBytesMax: 1 << 20, offsetMin: d.offsetFirst })
        .filter((r) => r.offset < d.offsetEnd)
        .map((r) => r.value!.toString()),
    );
  }
}

const batchOf = (values: string[]): Buffer => encodeBatch(values.map((v) => ({ value: Buffer.from(v) })));

function subscribe(broker: Broker, output: RecordingOutput, topic: string, credits: number): PushSubscription {
  const subscription = new PushSubscription(broker, {
    id: 1,
    positions: [{ topic, partition: 0, offset: 0n }],
    creditMessages: credits,
    creditBytes: 1 << 20,
    deliveryBytesMax: 1 << 20,
    output,
  });
  subscription.start();
  return subscription;
}

/**
 * Runs `body` against a broker with topic `t` (one partition) and a subscription from offset 0
 * with `credits` messages, parked (it has read and found nothing); closes both afterwards.
 */
async function withParkedSubscription(
  credits: number,
  body: (context: { broker: Broker; output: RecordingOutput; subscription: PushSubscription }) => Promise<void>,
): Promise<void> {
  const broker = await openBroker();
  try {
    await broker.createTopic('t', { partitions: 1 });
    const output = new RecordingOutput();
    const subscription = subscribe(broker, output, 't', credits);
    await settle();
    await body({ broker, output, subscription });
    await subscription.stop();
  } finally {
    await broker.close();
  }
}

/** Lets the subscription's loop read, find nothing, and park. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await nextTurn();
}

test('records reach a parked subscription inside the append, before the producer is answered', () =>
  withParkedSubscription(100, async ({ broker, output }) => {
    assert.deepEqual(output.events, []);
    const producing = broker.produce({ topic: 't', partition: 0, batches: batchOf(['a', 'b']), acks: 'leader' });
    void producing.then(() => output.events.push('answered'));
    await producing;
    assert.deepEqual(output.events, ['deliver 0..2', 'answered']);
    // Parked again after the delivery: the next append is delivered the same way.
    await settle();
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['c']), acks: 'leader' }).then(() => output.events.push('answered'));
    assert.deepEqual(output.events, ['deliver 0..2', 'answered', 'deliver 2..3', 'answered']);
    assert.deepEqual(output.values(), ['a', 'b', 'c']);
  }));

test('the delivery from inside an append keeps to the credits; the rest follows the next credit', () =>
  withParkedSubscription(3, async ({ broker, output, subscription }) => {
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['a', 'b', 'c', 'd', 'e']), acks: 'leader' });
    assert.deepEqual(output.events, ['deliver 0..3']);
    await settle();
    assert.deepEqual(output.events, ['deliver 0..3'], 'no credit left: nothing more is sent');
    subscription.credit(10, 1 << 20);
    await settle();
    assert.deepEqual(output.events, ['deliver 0..3', 'deliver 3..5']);
    assert.deepEqual(output.values(), ['a', 'b', 'c', 'd', 'e']);
  }));

test('records beyond the credits that there is no room to keep are read again when credits come, each sent once', () =>
  withParkedSubscription(3, async ({ broker, output, subscription }) => {
    output.keptBytesMax = 0;
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['a', 'b']), acks: 'leader' });
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['c', 'd', 'e']), acks: 'leader' });
    await settle();
    assert.equal(output.keptBytes, 0);
    subscription.credit(10, 1 << 20);
    await settle();
    assert.deepEqual(output.events, ['deliver 0..2', 'deliver 2..3', 'deliver 3..5']);
    assert.deepEqual(output.values(), ['a', 'b', 'c', 'd', 'e']);
  }));

test('records beyond the credits are kept while there is room, and released when sent or stopped', () =>
  withParkedSubscription(1, async ({ broker, output, subscription }) => {
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['a']), acks: 'leader' });
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['b']), acks: 'leader' });
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['c']), acks: 'leader' });
    await settle();
    assert.deepEqual(output.events, ['deliver 0..1']);
    subscription.credit(1, 1 << 20);
    await settle();
    assert.ok(output.keptBytes > 0, 'the read for the second credit keeps the third batch');
    await subscription.stop();
    assert.equal(output.keptBytes, 0);
    assert.deepEqual(output.values(), ['a', 'b']);
  }));

test('a connection that cannot take output gets the records once it drains, not from inside the append', () =>
  withParkedSubscription(100, async ({ broker, output }) => {
    output.canWrite = false;
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['a']), acks: 'leader' });
    await settle();
    assert.deepEqual(output.events, []);
    output.drain();
    await settle();
    assert.deepEqual(output.values(), ['a']);
  }));

test('stopping a parked subscription ends it at once and leaves no watch behind', () =>
  withParkedSubscription(100, async ({ broker, output, subscription }) => {
    const startedMs = performance.now();
    await subscription.stop();
    assert.ok(performance.now() - startedMs < 500, 'stop does not wait for a poll interval');
    await broker.produce({ topic: 't', partition: 0, batches: batchOf(['late']), acks: 'leader' });
    await settle();
    assert.deepEqual(output.events, []);
    assert.deepEqual(output.ends, []);
  }));

test('deleting the topic under a parked subscription ends it with UNKNOWN_TOPIC', () =>
  withParkedSubscription(100, async ({ broker, output, subscription }) => {
    await broker.deleteTopic('t');
    await subscription.done;
    assert.equal(output.ends.length, 1);
    assert.equal(output.ends[0]!.code, 'UNKNOWN_TOPIC');
  }));
