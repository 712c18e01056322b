import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueConfigDefaults } from './queue-config.js';
import { applyEvents, type RecoveredSubscription } from './queue-state-log.js';

function recovered(): RecoveredSubscription {
  return { topic: 't', name: 's', config: queueConfigDefaults('t', 's'), dlq: new Map(), partitions: new Map() };
}

test('a failure and a later settlement of one offset in one events record leave it settled, in either order of the fields', () => {
  // A nack and then an ack of offset 5 while one append was under way: both go in the next record.
  for (const events of [
    { k: 'e' as const, p: 0, s: [['5', '6']] as [string, string][], f: [['5', 1, 0]] as [string, number, number][] },
    { k: 'e' as const, p: 0, f: [['5', 1, 0]] as [string, number, number][], s: [['5', '6']] as [string, string][] },
  ]) {
    const subscription = recovered();
    applyEvents(subscription, { k: 'e', p: 0, s: [['0', '3']] });
    applyEvents(subscription, events);
    const { unsettled, scanEnd } = subscription.partitions.get(0)!.recovered;
    assert.deepEqual([...unsettled.keys()], [3n, 4n], 'read and not settled');
    assert.equal(scanEnd, 6n);
  }
});

test('failures across records: the latest count stays until the offset is settled', () => {
  const subscription = recovered();
  applyEvents(subscription, { k: 'e', p: 0, f: [['2', 1, 100]] });
  applyEvents(subscription, { k: 'e', p: 0, f: [['2', 2, 200]], s: [['0', '2']] });
  assert.deepEqual([...subscription.partitions.get(0)!.recovered.unsettled], [[2n, { deliveryCount: 2, dueAtMs: 200 }]]);
  applyEvents(subscription, { k: 'e', p: 0, s: [['2', '3']] });
  assert.equal(subscription.partitions.get(0)!.recovered.unsettled.size, 0);
});
