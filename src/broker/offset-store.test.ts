/**
 * Committed offsets across a power loss in the middle of a compaction (the deterministic crash
 * file system of storage/testing: at a crash every file keeps a random prefix of its unsynced
 * changes). Every acknowledged commit must stand after the crash, and after the restart following
 * the next commit too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logConfigDefaults } from '../storage/config.js';
import { HandlePool } from '../storage/handle-pool.js';
import { CrashFileSystem } from '../storage/testing/crash-file-system.js';
import { OffsetStore } from './offset-store.js';
import { Partition } from './partition.js';

async function open(disk: CrashFileSystem): Promise<{ partition: Partition; store: OffsetStore }> {
  const fileSystem = disk.view();
  const partition = await Partition.open({
    topic: '__consumer_offsets',
    index: 0,
    dir: '/offsets/0',
    snapshotPath: '/offsets/0.producers.json',
    // Small batches: a snapshot of the offsets below takes several, so a crash can fall between them.
    config: { ...logConfigDefaults, segmentBytesMax: 16 * 1024, batchBytesMax: 4 * 1024 },
    handles: new HandlePool({ fileSystem }),
    logger: () => undefined,
  });
  return { partition, store: await OffsetStore.open(partition) };
}

function offsetsOf(store: OffsetStore): string[] {
  return store.fetch('readers').map(({ topic, partition, offset }) => `${topic}/${partition}@${offset}`).sort();
}

test('a power loss at any step of a compaction of committed offsets loses no acknowledged commit, then or after the next restart', async () => {
  const partitions = Array.from({ length: 256 }, (_, partition) => partition);
  const committed = partitions.map((partition) => `orders/${partition}@${100 + partition}`).sort();
  let cutShort = 0;
  for (let step = 1; step <= 40; step++) {
    const disk = new CrashFileSystem({ seed: 400 + step });
    let { partition, store } = await open(disk);
    for (let first = 0; first < partitions.length; first += 32) {
      await store.commit('readers', partitions.slice(first, first + 32).map((p) => ({ topic: 'orders', partition: p, offset: BigInt(100 + p), metadata: null })));
    }
    disk.crashAfter(step);
    await store.compact().catch(() => undefined);
    if (disk.crashCount === 0) disk.crash(); // finished before the step came
    else cutShort++;
    await partition.close().catch(() => undefined);

    ({ partition, store } = await open(disk));
    assert.deepEqual(offsetsOf(store), committed, `step ${step}: after the crash`);
    await store.commit('readers', [{ topic: 'orders', partition: 0, offset: 7_000n, metadata: null }]);
    await partition.close();

    ({ partition, store } = await open(disk));
    try {
      assert.deepEqual(offsetsOf(store), ['orders/0@7000', ...committed.slice(1)].sort(), `step ${step}: after the next restart`);
    } finally {
      await partition.close();
    }
  }
  assert.ok(cutShort >= 10, `the crash came in the middle of the compaction ${cutShort} times`);
});

test('a conditional commit compares with the newest commit appended, also one still being written, and a deletion', async () => {
  const { partition, store } = await open(new CrashFileSystem({ seed: 7 }));
  try {
    const entry = (offset: bigint) => [{ topic: 'orders', partition: 0, offset, metadata: null }];
    const writing = store.commit('readers', entry(5n)); // not yet durable nor applied
    assert.deepEqual(offsetsOf(store), []);
    assert.equal(await store.commit('readers', entry(9n), { unchangedFrom: [-1n] }), false, 'the commit being written moved it');
    assert.equal(await writing, true);
    assert.deepEqual(offsetsOf(store), ['orders/0@5']);
    assert.equal(await store.commit('readers', entry(9n), { unchangedFrom: [5n] }), true);
    assert.deepEqual(offsetsOf(store), ['orders/0@9']);

    const deleting = store.deleteGroup('readers');
    assert.equal(await store.commit('readers', entry(11n), { unchangedFrom: [9n] }), false, 'the deletion being written moved it');
    await deleting;
    assert.deepEqual(offsetsOf(store), []);
  } finally {
    await partition.close();
  }
});
