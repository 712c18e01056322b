/**
 * Ten thousand partitions open at once on the real file system, sharing one bounded handle pool
 * and index cache: descriptors stay bounded (the pool's own count and the process's /proc/self/fd),
 * and every partition appends, reads back and reopens.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import { HandlePool } from './handle-pool.js';
import { IndexCache } from './index-cache.js';
import { PartitionLog } from './partition-log.js';

const root = await mkdtemp(join(tmpdir(), 'weir-many-test-'));
after(() => rm(root, { recursive: true, force: true }));

const partitionCount = 10_000;
const handlesMax = 100;
/** Files opened outside the pool for a moment (directory fsync, checkpoint, index files) by the concurrent workers. */
const concurrency = 16;

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

async function forEachConcurrently(count: number, work: (index: number) => Promise<void>, onStep: () => void): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      await work(index);
      if (index % 500 === 0) onStep();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

test(`${partitionCount} partitions open at once with bounded descriptors`, { timeout: 110_000 }, async () => {
  const handles = new HandlePool({ handlesMax });
  const indexCache = new IndexCache({ memoryBytesMax: 1 << 20 });
  const config: LogConfig = { ...logConfigDefaults, segmentBytesMax: 4096, indexIntervalBytes: 256 };
  const baseline = openDescriptors();
  let descriptorsMax = 0;
  const sample = () => {
    descriptorsMax = Math.max(descriptorsMax, openDescriptors() - baseline);
  };
  const logs: PartitionLog[] = new Array(partitionCount);
  const open = (i: number) =>
    PartitionLog.open(join(root, `t-${i}`), config, { handles, indexCache, logger: () => undefined });
  await forEachConcurrently(partitionCount, async (i) => {
    logs[i] = await open(i);
  }, sample);
  await forEachConcurrently(partitionCount, async (i) => {
    const log = logs[i]!;
    for (let b = 0; b < 2; b++) {
      await log.append(encodeBatch([{ value: Buffer.from(`partition-${i}-batch-${b}`.padEnd(100, '.')), timestamp: b }]));
    }
  }, sample);
  await forEachConcurrently(partitionCount, async (i) => {
    const log = logs[i]!;
    const records = decodeBatches(await log.read(1n, 1 << 16), { decompressedBytesMax: 1 << 20 });
    assert.equal(records[0]!.value!.toString().replace(/\.+$/, ''), `partition-${i}-batch-1`);
  }, sample);
  sample();
  assert.ok(handles.stats.openMax <= handlesMax, `pool held ${handles.stats.openMax} descriptors`);
  assert.ok(handles.stats.opened > handlesMax, 'the pool recycled descriptors');
  assert.ok(descriptorsMax <= handlesMax + concurrency * 2 + 10, `the process held ${descriptorsMax} descriptors above its baseline`);
  assert.ok(indexCache.memoryBytes <= 1 << 20);
  await forEachConcurrently(partitionCount, (i) => logs[i]!.close(), sample);
  const reopened = await open(partitionCount - 1);
  assert.equal(reopened.offsetEnd, 2n);
  await reopened.close();
});
