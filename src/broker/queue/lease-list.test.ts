import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseList } from './queue-consumer.js';
import type { QueueEntry } from './queue-partition.js';

const entry = (offset: number, leaseDeadlineMs: number): QueueEntry => ({ offset, leaseDeadlineMs, leaseStamp: 0 }) as unknown as QueueEntry;
const offsets = (entries: QueueEntry[]) => entries.map((e) => e.offset);

test('a lease list keeps live leases in order through ends, moves and compaction', () => {
  const list = new LeaseList();
  const entries = Array.from({ length: 1_000 }, (_, i) => entry(i, 1_000 + i));
  for (const e of entries) list.add(e);
  for (const e of entries) if (e.offset % 3 !== 0) list.delete(e); // stale places pile up, then go
  list.delete(entries[1]!); // ended twice: counted once
  assert.equal(list.size, 334);
  assert.deepEqual(offsets(list.toArray()), entries.filter((e) => e.offset % 3 === 0).map((e) => e.offset));

  // Extending moves a lease to the end; past deadlines are found in order, stopping at a live one.
  entries[0]!.leaseDeadlineMs = 5_000;
  list.moveToEnd(entries[0]!);
  assert.equal(list.size, 334);
  assert.deepEqual(offsets(list.expired(1_010, false)), [3, 6, 9]);
  assert.equal(list.toArray().at(-1), entries[0]);
  // A shorter extension puts an early deadline last: `all` finds it.
  entries[0]!.leaseDeadlineMs = 0;
  list.moveToEnd(entries[0]!);
  assert.deepEqual(offsets(list.expired(1_005, false)), [3]);
  assert.deepEqual(offsets(list.expired(1_005, true)), [3, 0]);

  for (let round = 0; round < 10_000; round++) {
    const e = entry(10_000 + round, 0);
    list.add(e);
    list.delete(e);
  }
  assert.equal(list.size, 334, 'many short leases leave nothing behind');
  assert.equal(list.toArray().length, 334);
});
