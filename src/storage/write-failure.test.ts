/**
 * A failed write or sync fences the partition: the failure is sticky, nothing acknowledged is lost,
 * and the directory reopens clean (the torn tail left by the failure is cut).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { isWeirError } from '../util/errors.js';
import { logConfigDefaults, type FlushPolicy, type LogConfig } from './config.js';
import { HandlePool } from './handle-pool.js';
import { IndexCache } from './index-cache.js';
import { PartitionLog } from './partition-log.js';
import { TailCache } from './tail-cache.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

const config: LogConfig = { ...logConfigDefaults, segmentBytesMax: 4096, indexIntervalBytes: 100 };

function batch(i: number): Buffer {
  return encodeBatch([{ value: Buffer.from(`value-${i}`.padEnd(100, '.')), timestamp: i }]);
}

/** `tailCache` 0: every read goes to the (failing) file system. */
async function open(disk: CrashFileSystem, options: { tailCacheBytes?: number; flush?: FlushPolicy } = {}): Promise<PartitionLog> {
  const fileSystem = disk.view();
  const tailCache = options.tailCacheBytes === undefined ? undefined : new TailCache(options.tailCacheBytes);
  return PartitionLog.open('/p', { ...config, flush: options.flush ?? config.flush }, {
    fs: fileSystem,
    handles: new HandlePool({ fileSystem }),
    indexCache: new IndexCache(),
    ...(tailCache ? { tailCache } : {}),
    logger: () => undefined,
  });
}

async function values(log: PartitionLog): Promise<string[]> {
  const out: string[] = [];
  let offset = log.offsetStart;
  while (offset < log.highWatermark) {
    for (const record of decodeBatches(await log.read(offset, 4096), { decompressedBytesMax: 1 << 20, offsetMin: offset })) {
      out.push(record.value!.toString().replace(/\.+$/, ''));
      offset = record.offset + 1n;
    }
  }
  return out;
}

test('disk full: appends fail with DISK_FULL, the failure sticks, and the log reopens with every acknowledged append', async () => {
  const disk = new CrashFileSystem();
  const log = await open(disk);
  const acknowledged: string[] = [];
  for (let i = 0; i < 10; i++) {
    await log.append(batch(i));
    acknowledged.push(`value-${i}`);
  }
  // The segment's file holds zeros up to segmentBytesMax (preallocation), so the disk fills when
  // the next segment's first write wants room: a few more batches, then a torn one.
  disk.capacityBytes = disk.usedBytes + 450;
  const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => log.append(batch(10 + i))));
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') acknowledged.push(`value-${10 + i}`);
  });
  assert.ok(acknowledged.length > 10, 'appends into preallocated space need no room');
  const failures = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  assert.ok(failures.length > 0, 'the disk filled up');
  for (const failure of failures) assert.ok(isWeirError(failure.reason, 'DISK_FULL'), String(failure.reason));
  assert.ok(isWeirError(log.failure, 'DISK_FULL'));
  assert.match(log.failure!.message, /\d{20}\.log/);
  assert.equal(log.offsetEnd, BigInt(acknowledged.length), 'the refused appends take no offsets');
  disk.capacityBytes = Infinity;
  await assert.rejects(log.append(batch(99)), (error) => isWeirError(error, 'DISK_FULL'), 'sticky even after space is freed');
  await assert.rejects(log.flush(), (error) => isWeirError(error, 'DISK_FULL'));
  assert.deepEqual(await values(log), acknowledged, 'reads still serve everything below the high watermark');
  await log.close();
  const reopened = await open(disk);
  assert.deepEqual(await values(reopened), acknowledged);
  assert.equal((await reopened.append(batch(100))).baseOffset, BigInt(acknowledged.length));
  await reopened.close();
});

for (const { flush, operation } of [
  { flush: 'always', operation: 'write' },
  { flush: 'interval', operation: 'fdatasync' },
] as const) {
  test(`a failed ${operation === 'write' ? 'durable write' : 'fdatasync'} (EIO, flush ${flush}) is sticky as STORAGE_FAILED and never retried on the same file`, async () => {
    const disk = new CrashFileSystem();
    const log = await open(disk, flush === 'always' ? {} : { flush: { kind: 'interval', intervalMs: 60_000 } });
    await log.append(batch(0));
    await log.flush();
    const readable = log.highWatermark;
    disk.failNext(operation, 'EIO');
    const failed = flush === 'always' ? log.append(batch(1)) : log.append(batch(1)).then(() => log.flush());
    await assert.rejects(failed, (error) => isWeirError(error, 'STORAGE_FAILED') && /EIO/.test(error.message));
    await assert.rejects(log.append(batch(2)), (error) => isWeirError(error, 'STORAGE_FAILED'));
    if (flush === 'always') assert.equal(log.highWatermark, readable, 'the unsynced append never became readable');
    assert.equal(log.offsetEnd, log.highWatermark, 'the refused appends take no offsets');
    await log.close();
    disk.crash();
    const reopened = await open(disk);
    const recovered = await values(reopened);
    assert.ok(recovered.length >= 1 && recovered[0] === 'value-0');
    await reopened.close();
  });
}

test('a failed write during a roll fences the partition too', async () => {
  const disk = new CrashFileSystem();
  const log = await open(disk);
  let i = 0;
  while (log.segmentCount === 1 && i < 100) await log.append(batch(i++));
  disk.failNext('fsyncDirectory', 'EIO');
  const results = await Promise.allSettled(Array.from({ length: 60 }, () => log.append(batch(i++))));
  assert.ok(results.some((result) => result.status === 'rejected' && isWeirError(result.reason, 'STORAGE_FAILED')));
  assert.ok(log.failure !== null);
  await log.close();
  const reopened = await open(disk);
  const fulfilled = results.filter((result) => result.status === 'fulfilled').length;
  assert.ok((await values(reopened)).length >= i - 60 + fulfilled, "every acknowledged append survives");
  await reopened.close();
});

test('a failed read is reported as STORAGE_FAILED and does not fence the partition', async () => {
  const disk = new CrashFileSystem();
  const log = await open(disk, { tailCacheBytes: 0 });
  await log.append(batch(0));
  disk.failNext('read', 'EIO');
  await assert.rejects(log.read(0n, 1000), (error) => isWeirError(error, 'STORAGE_FAILED') && /read of .*EIO/.test(error.message));
  assert.deepEqual(await values(log), ['value-0']);
  assert.equal((await log.append(batch(1))).baseOffset, 1n);
  assert.equal(log.failure, null);
  await log.close();
});
