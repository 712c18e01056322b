/**
 * Idempotent producers' state in a partition: what the snapshot claims must be in the log, and a
 * batch whose append failed must not be taken for stored when it is retried.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { logConfigDefaults } from '../storage/config.js';
import { HandlePool } from '../storage/handle-pool.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { CrashFileSystem } from '../storage/testing/crash-file-system.js';
import { isWeirError } from '../util/errors.js';
import { Partition } from './partition.js';

const producerId = 7n;

function batchOf(value: string, sequence: number): Buffer {
  return encodeBatch([{ value: Buffer.from(value.padEnd(200, '.')) }], { producerId, producerEpoch: 0, baseSequence: sequence });
}

function open(disk: CrashFileSystem): Promise<Partition> {
  const fileSystem = disk.view();
  return Partition.open({
    topic: 't',
    index: 0,
    dir: '/t/0',
    snapshotPath: '/t/0.producers.json',
    config: { ...logConfigDefaults, segmentBytesMax: 64 * 1024 },
    handles: new HandlePool({ fileSystem }),
    logger: () => undefined,
  });
}

async function valuesOf(partition: Partition): Promise<string[]> {
  const bytes = await partition.log.read(0n, 1 << 20);
  return decodeBatches(bytes, { decompressedBytesMax: 1 << 20, offsetMin: 0n }).map((r) => r.value!.toString().replace(/\.+$/, ''));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('a producer snapshot claims only batches below its offset: one appended after its flush is left to the log', async () => {
  const disk = new CrashFileSystem();
  const partition = await open(disk);
  await partition.append(batchOf('a', 0));
  // The race: a batch recorded after the snapshot's flush, before the state is written.
  const log = partition.log as unknown as { flush(): Promise<void> };
  const flush = log.flush.bind(log);
  let late: Promise<unknown> | undefined;
  log.flush = async () => {
    await flush();
    late = partition.append(batchOf('b', 1));
  };
  await partition.snapshotProducers();
  await late;
  const snapshot = JSON.parse(disk.contentOf('/t/0.producers.json')!.toString()) as { offset: string; producers: { batches: [number, number, string][] }[] };
  const offsets = snapshot.producers.flatMap((p) => p.batches.map((b) => BigInt(b[2])));
  assert.deepEqual(offsets, [0n]);
  assert.equal(snapshot.offset, '1');
  await partition.close();
});

test('a batch whose append failed is appended again when retried, not answered as stored', async () => {
  const disk = new CrashFileSystem();
  const partition = await open(disk);
  await partition.append(batchOf('a', 0));
  disk.failNext('write', 'ENOSPC');
  const failed = partition.append(batchOf('b', 1));
  const retriedMeanwhile = partition.append(batchOf('b', 1)); // a retry while the first try is under way
  await assert.rejects(failed, (e) => isWeirError(e, 'DISK_FULL'));
  await assert.rejects(within(retriedMeanwhile, 2_000, 'a retry during the failing append'), (e) => isWeirError(e, 'DISK_FULL'));
  await assert.rejects(within(partition.append(batchOf('b', 1)), 2_000, 'a retry after it'), (e) => isWeirError(e, 'DISK_FULL'), 'the partition is fenced: the retry is refused, not awaited');
  await partition.close(); // fenced: nothing to flush, and its log closes all the same
  await assert.rejects(partition.log.read(0n, 1), (e) => isWeirError(e, 'CLOSED'), 'the fenced partition closed its log');

  const reopened = await open(disk);
  const stored = await reopened.append(batchOf('b', 1));
  assert.equal(stored.duplicate, false, 'the failed batch was never stored');
  assert.equal(stored.baseOffset, 1n);
  assert.deepEqual(await valuesOf(reopened), ['a', 'b']);
  await reopened.close();
});

test('a periodic producer snapshot still being written when the partition closes: both finish, and the snapshot on disk is whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-snapshot-race-'));
  try {
    for (let round = 0; round < 20; round++) {
      const partition = await Partition.open({
        topic: 't',
        index: 0,
        dir: join(dir, '0'),
        snapshotPath: join(dir, '0.producers.json'),
        config: logConfigDefaults,
        handles: new HandlePool({ fileSystem: nodeFileSystem }),
        logger: () => undefined,
      });
      await partition.append(batchOf(`r${round}`, round));
      // Both write the same temporary file: the second must wait for the first.
      await Promise.all([partition.snapshotProducers(), partition.close()]);
      const snapshot = JSON.parse(await readFile(join(dir, '0.producers.json'), 'utf8')) as { offset: string };
      assert.equal(snapshot.offset, String(round + 1));
      await partition.snapshotProducers(); // after close: nothing to write, and no error
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
