import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeBatch } from '../../format/record-batch.js';
import { Broker } from '../broker.js';
import type { QueueDelivery, QueueSettlement } from '../types.js';
import { leaseMemoryDefaults } from './lease-memory.js';
import { queueDeliveryMessages } from './queue-partition.js';

const topic = 'large';
const valueBytes = 250_000;
/** 100 MB: more than the lease memory holds. */
const messageCount = 400;

/** The acknowledgements of every message of `deliveries`. */
function acks(deliveries: QueueDelivery[]): QueueSettlement[] {
  return deliveries.flatMap((delivery) => queueDeliveryMessages(delivery).map((message) => ({
    action: 'ack' as const,
    receipt: { partition: delivery.partition, offset: message.offset, deliveryCount: message.deliveryCount, leaseEpoch: delivery.leaseEpoch },
  })));
}

const countOf = (deliveries: QueueDelivery[]): number => deliveries.reduce((sum, delivery) => sum + delivery.count, 0);

test('consumers with every credit lease about the broker-wide lease memory; past it another subscription\'s consumer gets one message, more once leases end, and every message is delivered', { timeout: 30_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-lease-memory-'));
  const broker = await Broker.open({ dataDir });
  try {
    await broker.createTopic(topic, { partitions: 1 });
    const config = { ackTimeoutMs: 600_000, backoff: { kind: 'fixed', delayMs: 0 } } as const;
    await broker.createSubscription(topic, 'hoarded', config);
    await broker.createSubscription(topic, 'other', config);
    const value = Buffer.alloc(valueBytes, 7);
    for (let i = 0; i < messageCount; i += 4) {
      await broker.produce({ topic, partition: 0, batches: encodeBatch(Array.from({ length: 4 }, () => ({ value }))), acks: 'leader' });
    }

    // Two consumers with every credit, which never settle, take what the lease memory holds.
    const hoarded: QueueDelivery[][] = [[], []];
    const bytesOf = (deliveries: QueueDelivery[]): number => deliveries.reduce((sum, delivery) => sum + delivery.records.length, 0);
    let bound!: () => void;
    const full = new Promise<void>((resolve) => (bound = resolve));
    const hoarders = await Promise.all(hoarded.map((held) => broker.openQueueConsumer({
      topic,
      subscription: 'hoarded',
      deliver: (deliveries) => {
        held.push(...deliveries);
        if (bytesOf(hoarded[0]!) + bytesOf(hoarded[1]!) >= leaseMemoryDefaults.bytesMax) bound();
      },
    })));
    for (const hoarder of hoarders) hoarder.grant(100_000);
    await full;

    // A consumer of another subscription still gets one message (its own least), not what it asks for.
    const other = await broker.openQueueConsumer({ topic, subscription: 'other' });
    const first = await other.receive(100_000, 5_000);
    assert.equal(countOf(first), 1, 'one message past the bound');
    const heldCount = countOf(hoarded[0]!) + countOf(hoarded[1]!);
    assert.ok(heldCount < messageCount, `the hoarders hold ${heldCount} of ${messageCount} messages, not all of them`);
    assert.deepEqual(await other.receive(100_000, 100), [], 'nothing more while the bound is full');

    // Leases that end make room, for the waiting consumer of the other subscription too.
    const waiting = other.receive(100_000, 5_000);
    const acked = acks(hoarded[0]!.splice(0, 1));
    assert.deepEqual(await broker.settle(topic, 'hoarded', acked), []);
    assert.ok(countOf(await waiting) >= 1, 'more once leases ended');

    // The hoarders leave; their messages go to the next consumer, and every message is delivered once.
    await Promise.all(hoarders.map((hoarder) => hoarder.close()));
    const drainer = await broker.openQueueConsumer({ topic, subscription: 'hoarded' });
    const offsets = new Set<bigint>();
    while (offsets.size + acked.length < messageCount) {
      const deliveries = await drainer.receive(100, 5_000);
      assert.ok(deliveries.length > 0, `received ${offsets.size} of the messages left`);
      for (const delivery of deliveries) for (const message of queueDeliveryMessages(delivery)) offsets.add(message.offset);
      assert.deepEqual(await broker.settle(topic, 'hoarded', acks(deliveries)), []);
    }
    for (const { receipt } of acked) assert.ok(!offsets.has(receipt.offset), `acknowledged ${receipt.offset} is not delivered again`);
    assert.equal(broker.describeSubscription(topic, 'hoarded').backlogMessages, 0, 'every message was delivered and acknowledged once');
  } finally {
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
