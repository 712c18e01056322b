import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { isWeirError } from '../util/errors.js';
import { logConfigDefaults } from '../storage/config.js';
import { PartitionLog } from '../storage/partition-log.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { CrashFileSystem } from '../storage/testing/crash-file-system.js';
import { Broker, partitionOpensConcurrentMax } from './broker.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-broker-'));
  dirs.push(dir);
  return dir;
}

function batchOf(values: string[], producer?: { id: bigint; epoch: number; sequence: number }): Buffer {
  return encodeBatch(
    values.map((v) => ({ value: Buffer.from(v) })),
    producer ? { producerId: producer.id, producerEpoch: producer.epoch, baseSequence: producer.sequence } : {},
  );
}

/** Waits for `event`, failing with `problem()` after 5 s (the broker's timers do not keep the process alive). */
async function within(event: Promise<void>, problem: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), 5000)));
  try {
    assert.notEqual(await Promise.race([event, expired]), 'expired', problem());
  } finally {
    clearTimeout(timer);
  }
}

async function valuesFrom(broker: Broker, topic: string, partition: number, offset = 0n): Promise<string[]> {
  const [result] = await broker.fetch({ partitions: [{ topic, partition, offset, bytesMax: 1 << 20 }], waitMs: 0 });
  assert.equal(result!.error, undefined);
  return decodeBatches(result!.records, { decompressedBytesMax: 1 << 24, offsetMin: offset }).map((r) => r.value!.toString());
}

test('topics: create, describe, list, delete, and errors that name the problem', async () => {
  const broker = await Broker.open({ dataDir: await tempDir(), autoCreateTopics: false });
  try {
    const created = await broker.createTopic('orders', { partitions: 3, retentionMs: 60_000 });
    assert.equal(created.partitions.length, 3);
    assert.deepEqual(broker.listTopics().map((t) => t.name), ['orders']);
    await assert.rejects(broker.createTopic('orders'), (e) => isWeirError(e, 'TOPIC_EXISTS'));
    await assert.rejects(broker.createTopic('bad/name'), (e) => isWeirError(e, 'INVALID_TOPIC'));
    await assert.rejects(broker.createTopic('x', { partitions: 0 }), /partitions=0 is invalid: expected an integer from 1 to 10000/);
    await assert.rejects(broker.produce({ topic: 'nope', partition: 0, batches: batchOf(['a']), acks: 'leader' }), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    await assert.rejects(broker.produce({ topic: 'orders', partition: 7, batches: batchOf(['a']), acks: 'leader' }), (e) => isWeirError(e, 'UNKNOWN_PARTITION'));
    await broker.deleteTopic('orders');
    assert.deepEqual(broker.listTopics(), []);
    assert.throws(() => broker.describeTopic('orders'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
  } finally {
    await broker.close();
  }
});

test('a produce to a partition the automatic creation would not make is refused, and creates no topic; listing offsets creates none', async () => {
  const broker = await Broker.open({ dataDir: await tempDir(), defaultTopicConfig: { partitions: 2 } });
  try {
    await assert.rejects(
      broker.produce({ topic: 'fresh', partition: 2, batches: batchOf(['a']), acks: 'leader' }),
      (e) => isWeirError(e, 'UNKNOWN_PARTITION') && /partitions 0\.\.1, not 2/.test(e.message),
    );
    await assert.rejects(broker.listOffset('fresh', 0, 'latest'), (e) => isWeirError(e, 'UNKNOWN_TOPIC')); // listing creates nothing
    assert.deepEqual(broker.listTopics().map((t) => t.name), []);
    const stored = await broker.produce({ topic: 'fresh', partition: 1, batches: batchOf(['a']), acks: 'leader' });
    assert.equal(stored.baseOffset, 0n);
    assert.equal(broker.describeTopic('fresh').partitions.length, 2);
  } finally {
    await broker.close();
  }
});

test('a topic created again while its namesake is still being deleted is whole and empty, also after a restart', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  try {
    await broker.createTopic('orders', { partitions: 2 });
    await broker.produce({ topic: 'orders', partition: 1, batches: batchOf(['old']), acks: 'leader' });
    const deleting = broker.deleteTopic('orders');
    const twice = broker.deleteTopic('orders').then(() => null, (error: unknown) => error);
    // Created as soon as the old topic is no longer listed, while its files may still be removed.
    while (broker.listTopics().some((topic) => topic.name === 'orders')) await new Promise((resolve) => setImmediate(resolve));
    const created = await broker.createTopic('orders', { partitions: 3 });
    await deleting;
    assert.ok(isWeirError(await twice, 'UNKNOWN_TOPIC'), 'one deletion per topic');
    assert.equal(created.partitions.length, 3);
    await broker.produce({ topic: 'orders', partition: 2, batches: batchOf(['new']), acks: 'leader' });
    assert.deepEqual(await valuesFrom(broker, 'orders', 1), []);
    await broker.close();
    broker = await Broker.open({ dataDir });
    assert.equal(broker.describeTopic('orders').partitions.length, 3);
    assert.deepEqual(await valuesFrom(broker, 'orders', 1), []);
    assert.deepEqual(await valuesFrom(broker, 'orders', 2), ['new']);
  } finally {
    await broker.close();
  }
});
test('produce then fetch returns the stored batches; oversized and corrupt batches are refused', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('t', { messageBytesMax: 2048 });
    const first = await broker.produce({ topic: 't', partition: 0, batches: batchOf(['a', 'b']), acks: 'leader' });
    const second = await broker.produce({ topic: 't', partition: 0, batches: batchOf(['c']), acks: 'leader' });
    assert.equal(first.baseOffset, 0n);
    assert.equal(second.baseOffset, 2n);
    assert.deepEqual(await valuesFrom(broker, 't', 0), ['a', 'b', 'c']);
    assert.deepEqual(await valuesFrom(broker, 't', 0, 1n), ['b', 'c']);
    await assert.rejects(
      broker.produce({ topic: 't', partition: 0, batches: batchOf(['x'.repeat(4000)]), acks: 'leader' }),
      /exceeds messageBytesMax 2048/,
    );
    const corrupt = batchOf(['zz']);
    corrupt[corrupt.length - 1] ^= 0xff;
    await assert.rejects(broker.produce({ topic: 't', partition: 0, batches: corrupt, acks: 'leader' }), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
    assert.deepEqual(await valuesFrom(broker, 't', 0), ['a', 'b', 'c']);
    const [out] = await broker.fetch({ partitions: [{ topic: 't', partition: 0, offset: 99n, bytesMax: 100 }], waitMs: 0 });
    assert.ok(isWeirError(out!.error, 'OFFSET_OUT_OF_RANGE'));
  } finally {
    await broker.close();
  }
});

test('a parked fetch wakes when data arrives and times out when none does', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('wait');
    const started = Date.now();
    const empty = await broker.fetch({ partitions: [{ topic: 'wait', partition: 0, offset: 0n, bytesMax: 1000 }], waitMs: 200 });
    assert.equal(empty[0]!.records.length, 0);
    assert.ok(Date.now() - started >= 190, 'answered before the wait was over');
    const parked = broker.fetch({ partitions: [{ topic: 'wait', partition: 0, offset: 0n, bytesMax: 1000 }], waitMs: 10_000 });
    setTimeout(() => void broker.produce({ topic: 'wait', partition: 0, batches: batchOf(['wake']), acks: 'leader' }), 50);
    const woken = await parked;
    assert.ok(Date.now() - started < 5_000);
    assert.equal(decodeBatches(woken[0]!.records, { decompressedBytesMax: 1 << 20 })[0]!.value!.toString(), 'wake');
  } finally {
    await broker.close();
  }
});

test('a fetch that finds less than bytesMin parks until more data arrives: the broker goes on meanwhile', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('little');
    await broker.produce({ topic: 'little', partition: 0, batches: batchOf(['first']), acks: 'leader' });
    const started = Date.now();
    const parked = broker.fetch({ partitions: [{ topic: 'little', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 2_000, bytesMin: 1 << 20 });
    // A timer fires on time only if the parked fetch leaves the event loop alone.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const timerMs = Date.now() - started;
    assert.ok(timerMs < 1_000, `a 50 ms timer fired after ${timerMs} ms`);
    await broker.produce({ topic: 'little', partition: 0, batches: batchOf(['second']), acks: 'leader' });
    const producedMs = Date.now() - started;
    assert.ok(producedMs < 1_000, `a produce was answered after ${producedMs} ms`);
    const [result] = await parked;
    assert.ok(Date.now() - started >= 1_900, 'still short of bytesMin: answered at the end of the wait');
    assert.deepEqual(decodeBatches(result!.records, { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString()), ['first', 'second']);
  } finally {
    await broker.close();
  }
});

test('an idempotent retry is not stored twice, also after a restart; a gap is refused', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  const { producerId, producerEpoch } = await broker.initProducerId();
  const send = (b: Broker, values: string[], sequence: number) =>
    b.produce({ topic: 'idem', partition: 0, batches: batchOf(values, { id: producerId, epoch: producerEpoch, sequence }), acks: 'leader' });
  await send(broker, ['a', 'b'], 0);
  const retry = await send(broker, ['a', 'b'], 0);
  assert.equal(retry.duplicate, true);
  assert.equal(retry.baseOffset, 0n);
  await assert.rejects(send(broker, ['z'], 5), (e) => isWeirError(e, 'OUT_OF_ORDER_SEQUENCE'));
  // A corrupt batch is refused without touching the producer's sequence: the good resend is stored.
  const corrupt = batchOf(['c'], { id: producerId, epoch: producerEpoch, sequence: 2 });
  corrupt[corrupt.length - 1] ^= 0xff;
  await assert.rejects(broker.produce({ topic: 'idem', partition: 0, batches: corrupt, acks: 'leader' }), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
  assert.equal((await send(broker, ['c'], 2)).duplicate, false);
  await broker.close();

  broker = await Broker.open({ dataDir });
  try {
    const again = await send(broker, ['c'], 2);
    assert.equal(again.duplicate, true);
    assert.equal(again.baseOffset, 2n);
    assert.deepEqual(await valuesFrom(broker, 'idem', 0), ['a', 'b', 'c']);
    const next = await broker.initProducerId();
    assert.ok(next.producerId > producerId, 'producer ids are not reused after a restart');
  } finally {
    await broker.close();
  }
});

test('without broker.json, producer ids continue after those the logs hold: a new producer\'s first batch is not taken for a stored one', async () => {
  const dataDir = await tempDir();
  const logged: string[] = [];
  let broker = await Broker.open({ dataDir });
  const first = await broker.initProducerId();
  await broker.produce({ topic: 'lost-ids', partition: 0, batches: batchOf(['first'], { id: first.producerId, epoch: 0, sequence: 0 }), acks: 'leader' });
  await broker.close();
  await rm(join(dataDir, 'broker.json'));

  broker = await Broker.open({ dataDir, logger: (_level, message) => logged.push(message) });
  try {
    const second = await broker.initProducerId();
    assert.ok(second.producerId > first.producerId, `id ${second.producerId} after ${first.producerId}`);
    const stored = await broker.produce({ topic: 'lost-ids', partition: 0, batches: batchOf(['second'], { id: second.producerId, epoch: 0, sequence: 0 }), acks: 'leader' });
    assert.deepEqual([stored.duplicate, stored.baseOffset], [false, 1n]);
    assert.deepEqual(await valuesFrom(broker, 'lost-ids', 0), ['first', 'second']);
    assert.ok(logged.some((line) => /broker\.json is missing or behind the producer ids in the logs/.test(line)), logged.join('\n'));
  } finally {
    await broker.close();
  }
});

test('the cluster id is made at the first start and kept; an older broker.json gets one, a malformed one stops the broker', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  const clusterId = broker.clusterId;
  assert.match(clusterId, /^[A-Za-z0-9_-]{22}$/);
  await broker.close();
  assert.equal(JSON.parse(await readFile(join(dataDir, 'broker.json'), 'utf8')).clusterId, clusterId, 'stored at the first start');
  broker = await Broker.open({ dataDir });
  assert.equal(broker.clusterId, clusterId);
  await broker.close();

  const other = await Broker.open({ dataDir: await tempDir() });
  assert.notEqual(other.clusterId, clusterId);
  await other.close();

  // As written before cluster ids existed: the producer ids stay, a cluster id is added.
  await writeFile(join(dataDir, 'broker.json'), JSON.stringify({ producerIdBlockEnd: '5000' }));
  broker = await Broker.open({ dataDir });
  const added = broker.clusterId;
  assert.match(added, /^[A-Za-z0-9_-]{22}$/);
  assert.ok((await broker.initProducerId()).producerId >= 5000n);
  await broker.close();
  assert.equal(JSON.parse(await readFile(join(dataDir, 'broker.json'), 'utf8')).clusterId, added);

  await writeFile(join(dataDir, 'broker.json'), JSON.stringify({ producerIdBlockEnd: '6000', clusterId: 'a b' }));
  await assert.rejects(Broker.open({ dataDir }), (e) => isWeirError(e, 'CORRUPT_MESSAGE') && /broker\.json is unreadable \(clusterId "a b" is not 1 to 64 letters/.test(e.message));
});

test('producers that start together all get ids, also across a block of ids, and none is handed out again after a restart', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  // Fresh: the first block is reserved while they wait; 1,005 also cross into the second block.
  const ids = (await Promise.all(Array.from({ length: 1_005 }, () => broker.initProducerId()))).map((r) => r.producerId);
  assert.equal(new Set(ids).size, ids.length, 'every id is distinct');
  const highest = ids.reduce((a, b) => (a > b ? a : b));
  await broker.close();
  broker = await Broker.open({ dataDir });
  try {
    assert.ok((await broker.initProducerId()).producerId > highest);
  } finally {
    await broker.close();
  }
});

test('committed offsets survive a restart and show up with lag', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  await broker.createTopic('c', { partitions: 2 });
  await broker.produce({ topic: 'c', partition: 1, batches: batchOf(['1', '2', '3']), acks: 'leader' });
  await broker.commitOffsets({ groupId: 'billing' }, [{ topic: 'c', partition: 1, offset: 1n, metadata: 'm' }]);
  await broker.close();
  broker = await Broker.open({ dataDir });
  try {
    assert.deepEqual(await broker.fetchOffsets('billing', [{ topic: 'c', partition: 1 }, { topic: 'c', partition: 0 }]), [
      { topic: 'c', partition: 1, offset: 1n, metadata: 'm' },
      { topic: 'c', partition: 0, offset: -1n, metadata: null },
    ]);
    const described = broker.describeGroup('billing');
    assert.equal(described.offsets[0]!.lag, 2n);
    assert.deepEqual(broker.listGroups().map((g) => g.groupId), ['billing']);
    await assert.rejects(broker.commitOffsets({ groupId: 'billing' }, [{ topic: 'nope', partition: 0, offset: 1n, metadata: null }]), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    // Metadata is bounded at 4,096 bytes (UTF-8); a commit over it is refused whole.
    await broker.commitOffsets({ groupId: 'billing' }, [{ topic: 'c', partition: 0, offset: 1n, metadata: 'é'.repeat(2048) }]);
    await assert.rejects(
      broker.commitOffsets({ groupId: 'billing' }, [{ topic: 'c', partition: 1, offset: 3n, metadata: null }, { topic: 'c', partition: 0, offset: 2n, metadata: 'é'.repeat(2048) + 'x' }]),
      (e) => isWeirError(e, 'OFFSET_METADATA_TOO_LARGE') && /4096 bytes/.test(e.message),
    );
    assert.deepEqual((await broker.fetchOffsets('billing')).map((entry) => entry.offset), [1n, 1n]);
  } finally {
    await broker.close();
  }
});

test('a deleted topic\'s committed offsets stay gone after restarts, so the topic created again is read from its start', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  const offsetsOf = async (groupId: string): Promise<string[]> => (await broker.fetchOffsets(groupId)).map((o) => `${o.topic}/${o.partition}@${o.offset}`);
  try {
    for (const topic of ['gone', 'crashed', 'kept']) {
      await broker.createTopic(topic, { partitions: 2 });
      await broker.commitOffsets({ groupId: 'g' }, [0, 1].map((partition) => ({ topic, partition, offset: 10n, metadata: null })));
    }
    await broker.deleteTopic('gone');
    await broker.close();
    // 'crashed' is removed as a crash mid-deletion leaves it: files gone, offsets still in the log.
    await rm(join(dataDir, 'topics', 'crashed'), { recursive: true });
    for (let restart = 0; restart < 2; restart++) {
      broker = await Broker.open({ dataDir });
      assert.deepEqual(await offsetsOf('g'), ['kept/0@10', 'kept/1@10'], `after restart ${restart + 1}`);
      if (restart === 0) {
        await broker.createTopic('gone', { partitions: 2 });
        await broker.createTopic('crashed', { partitions: 2 });
        await broker.commitOffsets({ groupId: 'g' }, [{ topic: 'gone', partition: 0, offset: 3n, metadata: null }]);
        assert.deepEqual(await offsetsOf('g'), ['kept/0@10', 'kept/1@10', 'gone/0@3']);
        await broker.deleteTopic('gone');
        await broker.close();
      }
    }
  } finally {
    await broker.close();
  }
});

test('__consumer_offsets is compacted: its size stays bounded, deleted groups stay deleted, a snapshot cut short is ignored', async () => {
  const dataDir = await tempDir();
  const options = { dataDir, offsetsCompactAfterBytes: 64 * 1024 };
  const offsetsDir = join(dataDir, 'topics', '__consumer_offsets', '0');
  const logBytes = async (): Promise<number> => {
    let bytes = 0;
    for (const name of await readdir(offsetsDir)) if (name.endsWith('.log')) bytes += (await stat(join(offsetsDir, name))).size;
    return bytes;
  };
  const expected = new Map<string, bigint>();
  let broker = await Broker.open(options);
  try {
    await broker.createTopic('c', { partitions: 4 });
    for (let round = 0; round < 1_000; round++) {
      const groupId = `g${round % 5}`;
      const entries = [0, 1, 2, 3].map((partition) => ({ topic: 'c', partition, offset: BigInt(round * 10 + partition), metadata: null }));
      await Promise.all([broker.commitOffsets({ groupId }, entries.slice(0, 2)), broker.commitOffsets({ groupId }, entries.slice(2))]);
      for (const entry of entries) expected.set(`${groupId}/${entry.partition}`, entry.offset);
      if (round === 300) {
        await broker.deleteGroup('g4');
        for (const partition of [0, 1, 2, 3]) expected.delete(`g4/${partition}`);
      }
    }
    for (const partition of [0, 1, 2, 3]) expected.delete(`g4/${partition}`);
    await broker.deleteGroup('g4');
    // 2,000 commits of about 130 bytes each: without compaction the log holds about 260 KB.
    assert.ok((await logBytes()) < 100 * 1024, `the offsets log holds ${await logBytes()} bytes`);
  } finally {
    await broker.close();
  }
  const check = async (): Promise<void> => {
    for (const groupId of ['g0', 'g1', 'g2', 'g3', 'g4']) {
      const got = await broker.fetchOffsets(groupId, [0, 1, 2, 3].map((partition) => ({ topic: 'c', partition })));
      for (const { partition, offset } of got) assert.equal(offset, expected.get(`${groupId}/${partition}`) ?? -1n, `${groupId}/${partition}`);
    }
    assert.deepEqual(broker.listGroups().map((g) => g.groupId).sort(), ['g0', 'g1', 'g2', 'g3']);
  };
  broker = await Broker.open(options);
  try {
    await check();
  } finally {
    await broker.close();
  }
  // A crash in the middle of a snapshot leaves its start without its end: replay ignores it.
  const log = await PartitionLog.open(offsetsDir, { ...logConfigDefaults, segmentBytesMax: 16 * 1024, batchBytesMax: 16 * 1024 });
  await log.append(encodeBatch([
    { key: null, value: Buffer.from('{"snapshot":"begin"}') },
    { key: Buffer.from('g0\u0000c\u00000'), value: Buffer.from('{"o":"999999","m":null}') },
  ]));
  await log.close();
  broker = await Broker.open(options);
  try {
    await check();
    // A commit after the snapshot cut short outlives the next restart too.
    await broker.commitOffsets({ groupId: 'g1' }, [{ topic: 'c', partition: 3, offset: 123_456n, metadata: null }]);
    expected.set('g1/3', 123_456n);
  } finally {
    await broker.close();
  }
  broker = await Broker.open(options);
  try {
    await check();
  } finally {
    await broker.close();
  }
});

test('list offsets: earliest, latest, by time', async () => {
  const broker = await Broker.open({ dataDir: await tempDir() });
  try {
    await broker.createTopic('time');
    const batch = encodeBatch([{ value: Buffer.from('old'), timestamp: 1_000 }, { value: Buffer.from('new'), timestamp: 5_000 }]);
    await broker.produce({ topic: 'time', partition: 0, batches: batch, acks: 'leader' });
    assert.equal((await broker.listOffset('time', 0, 'earliest')).offset, 0n);
    assert.equal((await broker.listOffset('time', 0, 'latest')).offset, 2n);
    assert.equal((await broker.listOffset('time', 0, { timestampMs: 2_000 })).offset, 1n);
    assert.equal((await broker.listOffset('time', 0, { timestampMs: 9_000 })).offset, -1n);
  } finally {
    await broker.close();
  }
});

test('a second broker on the same data directory is refused', async () => {
  const dataDir = await tempDir();
  const broker = await Broker.open({ dataDir });
  try {
    await assert.rejects(Broker.open({ dataDir }), /in use by process/);
  } finally {
    await broker.close();
  }
});

test('altering a topic: configuration and added partitions take effect at once and survive a restart; bad alterations change nothing', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir, autoCreateTopics: false });
  try {
    await broker.createTopic('orders', { partitions: 2 });
    await broker.produce({ topic: 'orders', partition: 1, batches: batchOf(['kept']), acks: 'leader' });
    const big = batchOf(['x'.repeat(3000)]);
    await broker.produce({ topic: 'orders', partition: 0, batches: big, acks: 'leader' });

    const altered = await broker.alterTopic('orders', { partitions: 4, messageBytesMax: 2048, retentionMs: 3_600_000 });
    assert.equal(altered.partitions.length, 4);
    assert.equal(altered.config.retentionMs, 3_600_000);
    await assert.rejects(broker.produce({ topic: 'orders', partition: 0, batches: big, acks: 'leader' }), (e) => isWeirError(e, 'MESSAGE_TOO_LARGE'));
    await broker.produce({ topic: 'orders', partition: 3, batches: batchOf(['new partition']), acks: 'leader' });

    await assert.rejects(broker.alterTopic('orders', { partitions: 3 }), /partitions=3 is invalid: topic orders has 4 partitions and partitions can only be added/);
    await assert.rejects(broker.alterTopic('orders', { messageBytesMax: 1 }), (e) => isWeirError(e, 'INVALID_CONFIG'));
    await assert.rejects(broker.alterTopic('orders', { bogus: 1 } as never), /bogus=1 is invalid: unknown configuration field/);
    await assert.rejects(broker.alterTopic('orders', { flush: { kind: 'interval', intervalMs: 5, intervalMS: 50 } as never }), /flush.intervalMS=50 is invalid: not a field of flush \(kind, intervalMs\)/);
    await assert.rejects(broker.alterTopic('orders', { flush: { kind: 'always', intervalMs: 5 } as never }), /flush.intervalMs=5 is invalid: not a field of flush \(kind\)/);
    await assert.rejects(broker.alterTopic('nope', { retentionMs: 1000 }), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    await assert.rejects(broker.alterTopic('__consumer_offsets', { retentionMs: 1000 }), (e) => isWeirError(e, 'INVALID_TOPIC'));
    assert.deepEqual(broker.describeTopic('orders').config, altered.config, 'refused alterations changed nothing');
  } finally {
    await broker.close();
  }
  broker = await Broker.open({ dataDir, autoCreateTopics: false });
  try {
    const topic = broker.describeTopic('orders');
    assert.equal(topic.partitions.length, 4);
    assert.equal(topic.config.messageBytesMax, 2048);
    assert.equal(topic.config.retentionMs, 3_600_000);
    assert.deepEqual(await valuesFrom(broker, 'orders', 1), ['kept']);
    assert.deepEqual(await valuesFrom(broker, 'orders', 3), ['new partition']);
  } finally {
    await broker.close();
  }
});

test('adding many partitions opens them a bounded number at a time, and every added partition works', async () => {
  const dataDir = await tempDir();
  const topicDir = join(dataDir, 'topics', 'wide');
  const added = 300;
  /**
   * Partitions whose open is under way: from the look at its directory, the open's first step,
   * to the read of its producer snapshot, its last.
   */
  let opening = 0;
  let openingPeak = 0;
  const fileSystem: FileSystem = {
    ...nodeFileSystem,
    async stat(path) {
      if (dirname(path) === topicDir && /^\d+$/.test(basename(path))) openingPeak = Math.max(openingPeak, ++opening);
      return nodeFileSystem.stat(path);
    },
    async open(path, mode) {
      if (dirname(path) !== topicDir || !path.endsWith('.producers.json')) return nodeFileSystem.open(path, mode);
      try {
        return await nodeFileSystem.open(path, mode);
      } finally {
        opening--;
      }
    },
  };
  const broker = await Broker.open({ dataDir, fileSystem, autoCreateTopics: false, diskFreeMinBytes: 0 });
  try {
    await broker.createTopic('wide', { partitions: 1, flush: { kind: 'none' } });
    openingPeak = 0;
    assert.equal((await broker.alterTopic('wide', { partitions: 1 + added })).partitions.length, 1 + added);
    assert.equal(opening, 0, 'every open finished');
    assert.ok(openingPeak > 1 && openingPeak <= partitionOpensConcurrentMax, `${openingPeak} partitions were opened at once (at most ${partitionOpensConcurrentMax})`);
    for (let partition = 1; partition <= added; partition++) {
      await broker.produce({ topic: 'wide', partition, batches: batchOf([`to ${partition}`]), acks: 'leader' });
    }
    for (let partition = 1; partition <= added; partition++) assert.deepEqual(await valuesFrom(broker, 'wide', partition), [`to ${partition}`]);
  } finally {
    await broker.close();
  }
});

test('a partition whose retention fails (a damaged sealed segment) is logged by name, once, and the passes go on to the other partitions', async () => {
  const dataDir = await tempDir();
  const small = { segmentBytesMax: 16 * 1024, messageBytesMax: 8 * 1024 };
  let broker = await Broker.open({ dataDir, autoCreateTopics: false });
  try {
    await broker.createTopic('damaged', small);
    await broker.createTopic('orders', { ...small, retentionBytes: 16 * 1024 });
    for (let i = 0; i < 12; i++) {
      for (const topic of ['damaged', 'orders']) await broker.produce({ topic, partition: 0, batches: batchOf(['x'.repeat(4000)]), acks: 'leader' });
    }
  } finally {
    await broker.close();
  }
  // The oldest segment of damaged/0: a byte flipped, its indexes gone, so finding its newest timestamp means a scan that meets the damage.
  const partitionDir = join(dataDir, 'topics', 'damaged', '0');
  const segmentPath = join(partitionDir, '00000000000000000000.log');
  const intact = await readFile(segmentPath);
  const segment = Buffer.from(intact);
  segment[100]! ^= 0xff;
  await writeFile(segmentPath, segment);
  await rm(join(partitionDir, '00000000000000000000.index'));
  await rm(join(partitionDir, '00000000000000000000.timeindex'));

  // A pass goes over damaged/0 before orders/0 (topics in name order): each deletion in orders/0 ends a pass that tried damaged/0.
  let retained = () => {};
  const ordersRetained = () => new Promise<void>((resolve) => (retained = resolve));
  const errors: string[] = [];
  let worksAgain = () => {};
  const logger = (level: string, message: string): void => {
    if (level === 'error') errors.push(message);
    if (message.startsWith('orders/0: retention deleted')) retained();
    if (message === 'damaged/0: retention works again') worksAgain();
  };
  broker = await Broker.open({ dataDir, autoCreateTopics: false, retentionCheckIntervalMs: 20, logger });
  try {
    for (let pass = 0; pass < 3; pass++) {
      const passed = ordersRetained();
      if (pass > 0) for (let i = 0; i < 4; i++) await broker.produce({ topic: 'orders', partition: 0, batches: batchOf(['x'.repeat(4000)]), acks: 'leader' });
      await within(passed, () => `retention never reached orders/0; first errors: ${errors.slice(0, 2).join(' | ')}`);
    }
    assert.ok(broker.describeTopic('orders').partitions[0]!.offsetStart > 0n);
    const failures = errors.filter((line) => line.startsWith('damaged/0: retention failed'));
    assert.equal(failures.length, 1, `said once, not at every pass:\n${errors.join('\n')}`);
    assert.ok(failures[0]!.includes(segmentPath), failures[0]);
    assert.equal(errors.filter((line) => line.includes(`segment ${segmentPath} is damaged`) && !line.startsWith('damaged/0: retention failed')).length, 1, 'the segment was scanned once');
    assert.equal(broker.describeTopic('damaged').partitions[0]!.offsetStart, 0n, 'nothing of the damaged partition was deleted');
    // The file restored: it is scanned again, found whole, and that is said.
    const working = new Promise<void>((resolve) => (worksAgain = resolve));
    await writeFile(segmentPath, intact);
    await within(working, () => `retention of damaged/0 never worked again; errors: ${errors.join(' | ')}`);
    assert.equal(errors.filter((line) => line.startsWith('damaged/0:')).length, 2, errors.join('\n'));
  } finally {
    await broker.close();
  }
});

test('a topic deleted while an alteration adds partitions is gone whole; concurrent alterations apply one after the other', async () => {
  const dataDir = await tempDir();
  let broker = await Broker.open({ dataDir });
  try {
    await broker.createTopic('orders', { partitions: 1 });
    const [a, b] = await Promise.all([broker.alterTopic('orders', { partitions: 3 }), broker.alterTopic('orders', { retentionBytes: 1 << 20 })]);
    assert.equal(a.partitions.length, 3);
    assert.equal(b.partitions.length, 3, 'the second alteration saw the first one');
    assert.equal(b.config.retentionBytes, 1 << 20);
    const growing = broker.alterTopic('orders', { partitions: 8 });
    await new Promise(setImmediate); // the alteration is opening its partitions
    const deleting = broker.deleteTopic('orders');
    assert.equal((await growing).partitions.length, 8, 'the deletion waited for the alteration');
    await deleting;
    assert.throws(() => broker.describeTopic('orders'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
  } finally {
    await broker.close();
  }
  broker = await Broker.open({ dataDir });
  try {
    assert.deepEqual(broker.listTopics(), []);
    assert.deepEqual((await readdir(join(dataDir, 'topics'))).filter((name) => !name.startsWith('__')), [], 'no partition left behind');
  } finally {
    await broker.close();
  }
});

test('a topic whose partition a failed write fenced, or whose last flush fails, can be deleted: it stays gone after a restart, and the name can be used again', async () => {
  const disk = new CrashFileSystem();
  const open = () => Broker.open({ dataDir: '/data', fileSystem: disk.view(), diskFreeMinBytes: 0, autoCreateTopics: false });
  let broker = await open();
  try {
    await broker.createTopic('orders', { partitions: 2 });
    await broker.produce({ topic: 'orders', partition: 0, batches: batchOf(['old']), acks: 'leader' });
    disk.failNext('write', 'EIO');
    await assert.rejects(broker.produce({ topic: 'orders', partition: 0, batches: batchOf(['lost']), acks: 'leader' }), (e) => isWeirError(e, 'STORAGE_FAILED'));
    await broker.deleteTopic('orders');
    // A partition whose last flush fails as its topic is deleted (flush none: the deletion's close syncs it).
    await broker.createTopic('events', { flush: { kind: 'none' } });
    await broker.produce({ topic: 'events', partition: 0, batches: batchOf(['unsynced']), acks: 'leader' });
    disk.failNext('fdatasync', 'EIO');
    await broker.deleteTopic('events');
    assert.deepEqual(broker.listTopics(), []);
  } finally {
    await broker.close();
  }
  broker = await open();
  try {
    assert.deepEqual(broker.listTopics(), [], 'the deleted topics did not come back');
    await broker.createTopic('orders', { partitions: 2 });
    assert.deepEqual(await valuesFrom(broker, 'orders', 0), [], 'the topic created again holds nothing of the old one');
  } finally {
    await broker.close();
  }
});

test('while free space is below diskFreeMinBytes, produces are refused with DISK_FREE_LOW (retriable) and nothing is fenced; with room again they are accepted', async () => {
  const disk = new CrashFileSystem();
  const logged: string[] = [];
  const broker = await Broker.open({
    dataDir: '/data',
    fileSystem: disk.view(),
    diskFreeMinBytes: 1_000_000,
    diskCheckIntervalMs: 10,
    logger: (level, message) => logged.push(`${level} ${message}`),
  });
  try {
    await broker.createTopic('work', { partitions: 1 });
    await broker.produce({ topic: 'work', partition: 0, batches: batchOf(['before']), acks: 'leader' });
    disk.capacityBytes = disk.usedBytes + 500_000;
    await waitUntil(() => logged.some((line) => line.startsWith('warn ')));
    const refusal = await broker.produce({ topic: 'work', partition: 0, batches: batchOf(['refused']), acks: 'leader' }).catch((error: unknown) => error);
    assert.ok(isWeirError(refusal, 'DISK_FREE_LOW') && refusal.retriable, String(refusal));
    assert.match((refusal as Error).message, /\/data has \d+ bytes free, below the minimum of 1000000/);
    await assert.rejects(broker.produce({ topic: 'new-topic', partition: 0, batches: batchOf(['x']), acks: 'leader' }), (e) => isWeirError(e, 'DISK_FREE_LOW'));
    assert.throws(() => broker.describeTopic('new-topic'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'), 'no topic was created');
    assert.match(logged.find((line) => line.startsWith('warn '))!, /produces are refused until there is room again/);
    // Readers and commits go on.
    const [read] = await broker.fetch({ partitions: [{ topic: 'work', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
    assert.deepEqual(decodeBatches(read!.records, { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString()), ['before']);
    await broker.commitOffsets({ groupId: 'workers' }, [{ topic: 'work', partition: 0, offset: 1n, metadata: null }]);

    disk.capacityBytes = Infinity;
    await waitUntil(() => producesTo(broker, 'work'));
    assert.ok(logged.some((line) => /^info .*bytes free again .*produces are accepted/.test(line)), logged.join('\n'));
    const [after] = await broker.fetch({ partitions: [{ topic: 'work', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
    assert.deepEqual(decodeBatches(after!.records, { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString()), ['before', 'probe']);
  } finally {
    await broker.close();
  }
});

test('a producer faster than the free-space measurements is refused with DISK_FREE_LOW before the disk fills: bytes produced since a measurement count against it', async () => {
  const disk = new CrashFileSystem();
  disk.capacityBytes = 4_000_000;
  const logged: string[] = [];
  const broker = await Broker.open({
    dataDir: '/data',
    fileSystem: disk.view(),
    diskFreeMinBytes: 1_000_000,
    diskCheckIntervalMs: 3_600_000, // measured at the start only, unless the produced bytes near the margin
    logger: (level, message) => logged.push(`${level} ${message}`),
  });
  try {
    await broker.createTopic('fast', { partitions: 1 });
    const value = 'v'.repeat(60_000);
    let refusal: unknown = null;
    let accepted = 0;
    for (let i = 0; i < 100 && refusal === null; i++) {
      try {
        await broker.produce({ topic: 'fast', partition: 0, batches: batchOf([value]), acks: 'leader' });
        accepted++;
      } catch (error) {
        refusal = error;
      }
    }
    assert.ok(isWeirError(refusal, 'DISK_FREE_LOW'), String(refusal));
    assert.match((refusal as Error).message, /bytes were produced since: this produce would leave about \d+, below the minimum of 1000000/);
    assert.ok(accepted >= 20, `the room above the margin was used: ${accepted} accepted`);
    assert.ok(!logged.some((line) => line.startsWith('error ')), logged.join('\n'));
    disk.capacityBytes = Infinity;
    await waitUntil(() => producesTo(broker, 'fast'));
  } finally {
    await broker.close();
  }
});

/** Whether a produce to `topic` is accepted now (it stores a message "probe" when it is). */
async function producesTo(broker: Broker, topic: string): Promise<boolean> {
  try {
    await broker.produce({ topic, partition: 0, batches: batchOf(['probe']), acks: 'leader' });
    return true;
  } catch (error) {
    if (isWeirError(error, 'DISK_FREE_LOW')) return false;
    throw error;
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('close waits for an alteration adding partitions under way; one queued behind it is refused', async () => {
  const dataDir = await tempDir();
  /** The alteration stops before it stores topic.json, its new partitions open, until released. */
  const gate = { armed: false, reached: () => {}, release: () => {} };
  const reached = new Promise<void>((resolve) => (gate.reached = resolve));
  const released = new Promise<void>((resolve) => (gate.release = resolve));
  const fileSystem: FileSystem = {
    ...nodeFileSystem,
    async rename(from, to) {
      if (gate.armed && to.endsWith(join('orders', 'topic.json'))) {
        gate.reached();
        await released;
      }
      return nodeFileSystem.rename(from, to);
    },
  };
  const logged: string[] = [];
  const logger = (level: string, message: string): void => {
    logged.push(`${level} ${message}`);
    if (message.startsWith('closing: waiting for')) gate.release(); // close waits: the alteration may finish
  };
  const broker = await Broker.open({ dataDir, fileSystem, logger });
  await broker.createTopic('orders', { partitions: 1 });
  const events: string[] = [];
  gate.armed = true;
  const altering = broker.alterTopic('orders', { partitions: 3 }).then((topic) => {
    events.push('altered');
    return topic;
  });
  await reached;
  const queued = broker.alterTopic('orders', { partitions: 4 }).catch((error: unknown) => error);
  // A close that does not wait ends with the alteration still held.
  await broker.close().then(() => {
    events.push('closed');
    gate.release();
  });
  assert.equal((await altering).partitions.length, 3);
  assert.deepEqual(events, ['altered', 'closed'], 'close waited for the alteration');
  assert.ok(isWeirError(await queued, 'SHUTTING_DOWN'), 'an alteration queued behind it is refused');
  assert.ok(logged.includes('info closing: waiting for 1 topic alteration under way (at most 10000 ms)'), logged.join('\n'));
  const reopened = await Broker.open({ dataDir });
  try {
    assert.equal(reopened.describeTopic('orders').partitions.length, 3);
  } finally {
    await reopened.close();
  }
});
