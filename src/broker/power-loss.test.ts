/**
 * Power loss under the broker. The broker runs on a file system that simulates one
 * (storage/testing/crash-file-system.ts: at a crash every file and directory keeps a random prefix
 * of the changes not yet synced, the last write possibly torn). Whatever the broker acknowledged —
 * a topic, a message, a block of producer ids — must be there afterwards, and a crash in the middle
 * of creating or deleting a topic must leave all of the topic or none of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { CrashFileSystem } from '../storage/testing/crash-file-system.js';
import { Broker } from './broker.js';

function open(disk: CrashFileSystem): Promise<Broker> {
  return Broker.open({ dataDir: '/data', fileSystem: disk.view(), logger: () => undefined });
}

/** Closes a broker whose file system view died with a crash (every call fails; errors are expected). */
async function abandon(broker: Broker): Promise<void> {
  await broker.close().catch(() => undefined);
}

function batchOf(value: string, producer?: { id: bigint; sequence: number }): Buffer {
  return encodeBatch([{ value: Buffer.from(value) }], producer ? { producerId: producer.id, producerEpoch: 0, baseSequence: producer.sequence } : {});
}

async function valuesOf(broker: Broker, topic: string, partition: number): Promise<string[]> {
  const [result] = await broker.fetch({ partitions: [{ topic, partition, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
  assert.equal(result!.error, undefined, `${topic}/${partition}: ${String(result!.error)}`);
  return decodeBatches(result!.records, { decompressedBytesMax: 1 << 20, offsetMin: 0n }).map((record) => record.value!.toString());
}

test('after a power loss every created topic, acknowledged message and handed-out producer id is still accounted for', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new CrashFileSystem({ seed });
    const broker = await open(disk);
    await broker.createTopic('orders', { partitions: 2, retentionMs: 86_400_000 });
    // The first block of producer ids is used up, so the last ids come from a second block.
    let lastId = -1n;
    for (let i = 0; i < 1000; i++) lastId = (await broker.initProducerId()).producerId;
    const acknowledged = new Map<string, string[]>([['orders/0', []], ['orders/1', []], ['auto/0', []]]);
    for (let i = 0; i < 9; i++) {
      const { producerId } = await broker.initProducerId();
      lastId = producerId;
      const [topic, partition] = i % 3 === 2 ? ['auto', 0] : ['orders', i % 3]; // 'auto' is created by its first message
      await broker.produce({ topic, partition, batches: batchOf(`m${i}`, { id: producerId, sequence: 0 }), acks: 'leader' });
      acknowledged.get(`${topic}/${partition}`)!.push(`m${i}`);
    }
    disk.crash();
    await abandon(broker);

    const reopened = await open(disk);
    try {
      const orders = reopened.describeTopic('orders');
      assert.equal(orders.partitions.length, 2, `seed ${seed}`);
      assert.equal(orders.config.retentionMs, 86_400_000, `seed ${seed}`);
      for (const [key, values] of acknowledged) {
        const [topic, partition] = key.split('/');
        assert.deepEqual(await valuesOf(reopened, topic!, Number(partition)), values, `seed ${seed}: ${key}`);
      }
      const next = await reopened.initProducerId();
      assert.ok(next.producerId > lastId, `seed ${seed}: producer id ${next.producerId} was handed out before the crash (up to ${lastId})`);
    } finally {
      await reopened.close();
    }
  }
});

test('a power loss in the middle of creating or deleting a topic leaves all of the topic or none of it', async () => {
  let interrupted = 0;
  for (let step = 1; step <= 40; step++) {
    const disk = new CrashFileSystem({ seed: step });
    const broker = await open(disk);
    await broker.createTopic('kept');
    await broker.produce({ topic: 'kept', partition: 0, batches: batchOf('k'), acks: 'leader' });
    await broker.createTopic('doomed', { partitions: 2 });
    await broker.produce({ topic: 'doomed', partition: 1, batches: batchOf('d'), acks: 'leader' });
    disk.crashAfter(step);
    await Promise.allSettled([broker.deleteTopic('doomed'), broker.createTopic('fresh', { partitions: 3 })]);
    if (disk.crashCount === 0) disk.crash(); // both finished before the step came
    else interrupted++;
    await abandon(broker);

    const reopened = await open(disk);
    try {
      const names = reopened.listTopics().map((topic) => topic.name);
      assert.deepEqual(await valuesOf(reopened, 'kept', 0), ['k'], `step ${step}`);
      if (names.includes('doomed')) {
        assert.deepEqual(await valuesOf(reopened, 'doomed', 1), ['d'], `step ${step}: a topic that is still there has its messages`);
        await reopened.deleteTopic('doomed');
      }
      if (!names.includes('fresh')) await reopened.createTopic('fresh', { partitions: 3 });
      assert.equal(reopened.describeTopic('fresh').partitions.length, 3, `step ${step}`);
      await reopened.produce({ topic: 'fresh', partition: 2, batches: batchOf('f'), acks: 'leader' });
      assert.deepEqual(await valuesOf(reopened, 'fresh', 2), ['f'], `step ${step}`);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(interrupted >= 20, `the crash came in the middle of the creation or deletion ${interrupted} times`);
});

test('a power loss in the middle of altering a topic leaves it as it was or as altered, and it can be altered again', async () => {
  let interrupted = 0;
  for (let step = 1; step <= 40; step++) {
    const disk = new CrashFileSystem({ seed: 100 + step });
    const broker = await open(disk);
    await broker.createTopic('orders', { partitions: 2, retentionMs: 3_600_000 });
    await broker.produce({ topic: 'orders', partition: 1, batches: batchOf('before'), acks: 'leader' });
    disk.crashAfter(step);
    const altered = await broker.alterTopic('orders', { partitions: 5, retentionMs: 7_200_000 }).then(
      () => true,
      () => false,
    );
    if (disk.crashCount === 0) disk.crash(); // finished before the step came
    else interrupted++;
    await abandon(broker);

    const reopened = await open(disk);
    try {
      const topic = reopened.describeTopic('orders');
      const state = `${topic.partitions.length} partitions, retention ${topic.config.retentionMs}`;
      assert.ok(['2 partitions, retention 3600000', '5 partitions, retention 7200000'].includes(state), `step ${step}: ${state}`);
      if (altered) assert.equal(state, '5 partitions, retention 7200000', `step ${step}: an acknowledged alteration is kept`);
      assert.deepEqual(await valuesOf(reopened, 'orders', 1), ['before'], `step ${step}`);
      // Whatever the crash left of the new partitions' files, growing again starts them afresh.
      await reopened.alterTopic('orders', { partitions: 6 });
      for (let partition = 2; partition < 6; partition++) {
        await reopened.produce({ topic: 'orders', partition, batches: batchOf(`p${partition}`), acks: 'leader' });
        assert.deepEqual(await valuesOf(reopened, 'orders', partition), [`p${partition}`], `step ${step}: partition ${partition}`);
      }
    } finally {
      await reopened.close();
    }
  }
  assert.ok(interrupted >= 20, `the crash came in the middle of the alteration ${interrupted} times`);
});

test('a group that committed on a topic starts the partitions added to it at their first message after a power loss at any step of the alteration', async () => {
  let interrupted = 0;
  for (let step = 1; step <= 40; step++) {
    const disk = new CrashFileSystem({ seed: 200 + step });
    const broker = await open(disk);
    await broker.createTopic('orders', { partitions: 2 });
    await broker.commitOffsets({ groupId: 'readers' }, [{ topic: 'orders', partition: 1, offset: 5n, metadata: null }]);
    disk.crashAfter(step);
    await broker.alterTopic('orders', { partitions: 4 }).catch(() => undefined);
    if (disk.crashCount === 0) disk.crash(); // finished before the step came
    else interrupted++;
    await abandon(broker);

    const reopened = await open(disk);
    try {
      const count = reopened.describeTopic('orders').partitions.length;
      const committed = (await reopened.fetchOffsets('readers')).map(({ topic, partition, offset }) => `${topic}/${partition}@${offset}`).sort();
      // The added partitions are the group's from their start, or (not added) it has no offsets on them.
      const expected = count === 4 ? ['orders/1@5', 'orders/2@0', 'orders/3@0'] : ['orders/1@5'];
      assert.deepEqual(committed, expected, `step ${step}: ${count} partitions`);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(interrupted >= 20, `the crash came in the middle of the alteration ${interrupted} times`);
});
