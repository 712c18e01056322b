import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { isWeirError } from '../util/errors.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import { readWholeFile, type FileSystem } from './file-system.js';
import { HandlePool } from './handle-pool.js';
import { IndexCache } from './index-cache.js';
import { PartitionLog } from './partition-log.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

function batchAt(timestampMs: number, value: string): Buffer {
  return encodeBatch([{ value: Buffer.from(value), timestamp: timestampMs }]);
}

async function openLog(config: LogConfig, clock: () => number) {
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  const log = await PartitionLog.open('/p', config, {
    fs: fileSystem,
    handles: new HandlePool({ fileSystem }),
    indexCache: new IndexCache(),
    clock,
    logger: () => undefined,
  });
  return { disk, fileSystem, log };
}

const base: LogConfig = { ...logConfigDefaults, segmentBytesMax: 300, indexIntervalBytes: 50, retentionMs: null, retentionBytes: null };

test('retention by size deletes whole oldest segments, never the active one, and advances the start offset', async () => {
  const { fileSystem, log } = await openLog({ ...base, retentionBytes: 600 }, () => 0);
  for (let i = 0; i < 40; i++) await log.append(batchAt(1000 + i, `value-${i}`));
  const segmentsBefore = log.segmentCount;
  const deleted = await log.applyRetention();
  assert.ok(deleted > 0 && log.segmentCount === segmentsBefore - deleted);
  assert.ok(log.sizeBytes <= 600 + 300, `${log.sizeBytes} bytes left`);
  assert.ok(log.offsetStart > 0n);
  const names = await fileSystem.readdir('/p');
  assert.ok(!names.some((name) => name.endsWith('.deleted')), names.join(' '));
  assert.equal(names.filter((name) => name.endsWith('.log')).length, log.segmentCount);
  await assert.rejects(log.read(0n, 100), (error) => isWeirError(error, 'OFFSET_OUT_OF_RANGE'));
  const first = decodeBatches(await log.read(log.offsetStart, 100), { decompressedBytesMax: 1 << 20 })[0]!;
  assert.equal(first.offset, log.offsetStart);
  assert.equal(first.value!.toString(), `value-${log.offsetStart}`);
  assert.equal(await log.applyRetention(), 0, 'nothing more to delete');
  await log.close();
});

test('retention by time deletes segments whose newest record is too old, rolling an expired active segment first', async () => {
  let now = 10_000;
  const { log } = await openLog({ ...base, retentionMs: 5_000 }, () => now);
  for (let i = 0; i < 20; i++) await log.append(batchAt(1_000 + i * 100, `old-${i}`));
  for (let i = 0; i < 10; i++) await log.append(batchAt(9_000 + i, `new-${i}`));
  const deleted = await log.applyRetention();
  assert.ok(deleted > 0);
  // Segments hold about four batches: everything before the segment holding offset 20 (the first new record) goes.
  assert.ok(log.offsetStart > 12n && log.offsetStart <= 20n, `log starts at ${log.offsetStart}`);
  const first = decodeBatches(await log.read(log.offsetStart, 100), { decompressedBytesMax: 1 << 20 })[0]!;
  assert.equal(first.offset, log.offsetStart);
  now = 100_000;
  const end = log.offsetEnd;
  await log.applyRetention();
  assert.equal(log.offsetStart, end, 'everything expired: the active segment was rolled and deleted');
  assert.equal(log.sizeBytes, 0);
  assert.equal((await log.read(end, 100)).length, 0);
  assert.equal((await log.append(batchAt(100_000, 'fresh'))).baseOffset, end);
  await log.close();
});

test('a batch dated further ahead of the clock than timestampAheadMsMax is refused, so no future timestamp holds back time retention', async () => {
  let now = 1_000_000;
  const { log } = await openLog({ ...base, retentionMs: 5_000, timestampAheadMsMax: 60_000 }, () => now);
  // Within the limit (and exactly at it) is accepted.
  await log.append(batchAt(now + 60_000, 'just-ahead'));
  // A clock years ahead, or microseconds sent as milliseconds: refused, and no offset taken.
  await assert.rejects(log.append(batchAt(now * 1000, 'micros')), (error) => isWeirError(error, 'INVALID_TIMESTAMP') && /ahead of the broker's clock; timestampAheadMsMax is 60000/.test(error.message));
  // Refused whole when any batch of the append is too far ahead.
  const run = Buffer.concat([batchAt(now, 'fine'), batchAt(now + 60_001, 'too far')]);
  await assert.rejects(log.append(run), (error) => isWeirError(error, 'INVALID_TIMESTAMP'));
  assert.equal(log.offsetEnd, 1n);
  for (let i = 0; i < 20; i++) await log.append(batchAt(now + i, `v-${i}`));
  // Once the clock passes every stored timestamp by retentionMs, time retention deletes all but the active segment.
  now += 60_000 + 5_001;
  assert.ok((await log.applyRetention()) > 0);
  assert.equal(log.segmentCount, 1);
  assert.equal(log.offsetStart, log.offsetEnd, 'every segment expired (the expired active one was rolled first)');
  await log.close();

  // Without a limit, any timestamp is stored (the log's default; topics default to one hour).
  const { log: open } = await openLog({ ...base, timestampAheadMsMax: null }, () => now);
  assert.equal((await open.append(batchAt(now * 1000, 'anything'))).baseOffset, 0n);
  await open.close();
});

test('segments roll by age', async () => {
  let now = 0;
  const { log } = await openLog({ ...base, segmentBytesMax: 1 << 20, segmentAgeMsMax: 1_000 }, () => now);
  await log.append(batchAt(0, 'a'));
  now = 500;
  await log.append(batchAt(500, 'b'));
  assert.equal(log.segmentCount, 1);
  now = 1_200;
  await log.append(batchAt(1_200, 'c'));
  assert.equal(log.segmentCount, 2);
  await log.close();
});

test('flush policies: always exposes synced data, none and interval expose written data; interval syncs on its timer', async () => {
  for (const flush of [{ kind: 'none' as const }, { kind: 'interval' as const, intervalMs: 20 }]) {
    const { disk, log } = await openLog({ ...base, segmentBytesMax: 1 << 20, flush }, Date.now);
    await log.append(batchAt(1, 'x'));
    assert.equal(log.highWatermark, 1n);
    if (flush.kind === 'interval') {
      await new Promise((resolve) => setTimeout(resolve, 300));
      disk.crash();
      const fileSystem = disk.view();
      const reopened = await PartitionLog.open('/p', base, { fs: fileSystem, handles: new HandlePool({ fileSystem }), logger: () => undefined });
      assert.equal(reopened.offsetEnd, 1n, 'the interval flush made the append durable');
      await reopened.close();
    } else {
      await log.flush();
      await log.close();
    }
  }
});

test('a high watermark callback fires synchronously as appends become readable', async () => {
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  const seen: bigint[] = [];
  const log = await PartitionLog.open('/p', base, { fs: fileSystem, handles: new HandlePool({ fileSystem }), onReadable: (hwm) => seen.push(hwm), logger: () => undefined });
  await Promise.all([log.append(batchAt(1, 'a')), log.append(batchAt(2, 'b')), log.append(batchAt(3, 'c'))]);
  assert.ok(seen.length >= 1 && seen.length <= 3);
  assert.equal(seen[seen.length - 1], 3n);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!);
  await log.close();
});

test('a segment whose records carry no timestamp (-1) ages by its file modification time: kept while young, also after a reopen, deleted once old', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-retention-'));
  const retentionMs = 60_000;
  const open = () => PartitionLog.open(dir, { ...base, retentionMs }, { indexCache: new IndexCache(), logger: () => undefined });
  try {
    let log = await open();
    for (let i = 0; i < 20; i++) await log.append(batchAt(-1, `untimed-${i}`));
    assert.ok(log.segmentCount >= 3, `${log.segmentCount} segments`);
    assert.equal(await log.applyRetention(), 0, 'written just now: nothing is old');
    await log.close();
    log = await open();
    assert.equal(await log.applyRetention(), 0, 'the age is the files\', so a reopen does not make them old');
    assert.equal(log.offsetStart, 0n);

    // The sealed segments' files last written two retention periods ago; the active one just now.
    const sealed = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort().slice(0, -1);
    const longAgo = new Date(Date.now() - 2 * retentionMs);
    for (const name of sealed) await utimes(join(dir, name), longAgo, longAgo);
    assert.equal(await log.applyRetention(), sealed.length, 'the old segments go');
    assert.equal(log.segmentCount, 1, 'the young active segment stays');
    const [first] = decodeBatches(await log.read(log.offsetStart, 1 << 20), { decompressedBytesMax: 1 << 20 });
    assert.equal(first!.value!.toString(), `untimed-${log.offsetStart}`);
    assert.equal(first!.timestamp, -1);

    const end = log.offsetEnd;
    await log.applyRetention(Date.now() + 2 * retentionMs);
    assert.equal(log.offsetStart, end, 'once old, the active segment is rolled and deleted too');
    await log.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged sealed segment is scanned and reported once, not at every retention pass, until its file changes', async () => {
  let now = 100_000;
  const disk = new CrashFileSystem();
  const config: LogConfig = { ...base, retentionMs: 50_000 };
  let log = await PartitionLog.open('/p', config, { handles: new HandlePool({ fileSystem: disk.view() }), indexCache: new IndexCache(), clock: () => now, logger: () => undefined });
  for (let i = 0; i < 12; i++) await log.append(batchAt(1_000 + i, `old-${i}`));
  await log.close();
  assert.ok(log.segmentCount >= 3);

  // The oldest segment: a byte flipped in its second batch, its indexes gone, so the next look at its newest timestamp scans it and meets the damage.
  const segmentPath = '/p/00000000000000000000.log';
  const intact = await readWholeFile(disk.view(), segmentPath, 1 << 20);
  const damaged = Buffer.from(intact!);
  damaged[damaged.length - 5]! ^= 0xff;
  await overwrite(disk.view(), segmentPath, damaged);
  for (const suffix of ['.index', '.timeindex']) await disk.view().unlink(segmentPath.replace('.log', suffix));

  // Bytes read from the segment's file, and the errors logged.
  const paths = new Map<number, string>();
  let segmentBytesRead = 0;
  const view = disk.view();
  const fileSystem: FileSystem = {
    ...view,
    async open(path, mode) {
      const handle = await view.open(path, mode);
      paths.set(handle, path);
      return handle;
    },
    async read(handle, buffer, offset, length, position) {
      const bytes = await view.read(handle, buffer, offset, length, position);
      if (paths.get(handle) === segmentPath) segmentBytesRead += bytes;
      return bytes;
    },
  };
  const errors: string[] = [];
  log = await PartitionLog.open('/p', config, {
    handles: new HandlePool({ fileSystem }),
    indexCache: new IndexCache(),
    clock: () => now,
    logger: (level, message) => (level === 'error' ? errors.push(message) : undefined),
  });
  const isDamage = (error: unknown) => isWeirError(error, 'CORRUPT_MESSAGE') && error.message.includes(`segment ${segmentPath} is damaged at byte position`);
  await assert.rejects(log.applyRetention(), isDamage);
  const scanBytesRead = segmentBytesRead;
  assert.ok(scanBytesRead > 0, 'the first pass scanned the segment');
  for (let pass = 0; pass < 3; pass++) await assert.rejects(log.applyRetention(), isDamage);
  assert.equal(segmentBytesRead, scanBytesRead, 'later passes did not read the segment again');
  assert.equal(errors.filter((line) => line.includes('is damaged at byte position')).length, 1, errors.join('\n'));
  assert.equal(log.offsetStart, 0n);

  // The file restored (a new modification time): the next pass scans it again, finds it whole, and deletes what is old.
  disk.clockMs = 1;
  await overwrite(disk.view(), segmentPath, intact!);
  assert.ok((await log.applyRetention()) > 0);
  assert.ok(segmentBytesRead > scanBytesRead, 'the changed file was scanned again');
  assert.ok(log.offsetStart > 0n);
  await log.close();
});

async function overwrite(fileSystem: FileSystem, path: string, bytes: Buffer): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  try {
    await fileSystem.write(handle, [bytes], 0);
    await fileSystem.fdatasync(handle);
  } finally {
    await fileSystem.close(handle);
  }
}

test('appends acknowledged while a retention pass rolls an expired active segment are kept', async () => {
  let now = 1_000;
  const { log } = await openLog({ ...base, segmentBytesMax: 1 << 20, retentionMs: 60_000 }, () => now);
  await log.append(batchAt(1_000, 'old'));
  now += 3_600_000; // an hour later: the only segment, the active one, has expired
  // A producer's append is queued ahead of the roll the retention pass asks for.
  const fresh = log.append(batchAt(now, 'fresh'));
  const deleted = log.applyRetention(now);
  const { baseOffset } = await fresh;
  assert.equal(await deleted, 0, 'the rolled segment holds the fresh record, so it stays');
  assert.equal(log.offsetStart, 0n);
  const values = decodeBatches(await log.read(baseOffset, 1 << 20), { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString());
  assert.deepEqual(values, ['fresh']);
  now += 3_600_000; // both records old now: the next pass deletes the sealed segment
  assert.equal(await log.applyRetention(now), 1);
  assert.equal(log.offsetStart, baseOffset + 1n);
  await log.close();
});

test('appends acknowledged during a retention pass survive it, also when they roll the segment it was judging', async () => {
  let now = 1_000;
  const { log } = await openLog({ ...base, retentionMs: 60_000 }, () => now);
  for (let i = 0; i < 6; i++) await log.append(batchAt(1_000 + i, `old-${i}`));
  now += 3_600_000;
  // Enough fresh appends to fill the active (expired) segment and roll it while the pass runs.
  const fresh = Array.from({ length: 12 }, (_, i) => log.append(batchAt(now, `fresh-${i}`)));
  const pass = log.applyRetention(now);
  const offsets = (await Promise.all(fresh)).map((result) => result.baseOffset);
  await pass;
  for (const [i, offset] of offsets.entries()) {
    assert.ok(offset >= log.offsetStart, `fresh-${i} at ${offset} is before the log start ${log.offsetStart}`);
    const [record] = decodeBatches(await log.read(offset, 1 << 20), { decompressedBytesMax: 1 << 20 });
    assert.equal(record!.value!.toString(), `fresh-${i}`);
  }
  assert.ok(log.offsetStart > 0n, 'the old segments went');
  await log.close();
});

test('a topic switched from flush none to always syncs what was written before its first durable write, so a crash keeps every batch acknowledged since', async () => {
  const { disk, log } = await openLog({ ...base, segmentBytesMax: 1 << 20, flush: { kind: 'none' } }, () => 0);
  for (let i = 0; i < 5; i++) await log.append(batchAt(1_000 + i, `unsynced-${i}`));
  log.updateConfig({ ...base, segmentBytesMax: 1 << 20, flush: { kind: 'always' } });
  // The crash file system refuses a durable write to a file with unsynced changes (O_DSYNC would leave them at risk).
  for (let i = 0; i < 5; i++) await log.append(batchAt(2_000 + i, `durable-${i}`));
  disk.crash();
  const fileSystem = disk.view();
  const reopened = await PartitionLog.open('/p', { ...base, segmentBytesMax: 1 << 20 }, {
    fs: fileSystem,
    handles: new HandlePool({ fileSystem }),
    indexCache: new IndexCache(),
    clock: () => 0,
    logger: () => undefined,
  });
  assert.equal(reopened.highWatermark, 10n);
  const values = decodeBatches(await reopened.read(0n, 1 << 20), { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString());
  assert.deepEqual(values.slice(0, 2), ['unsynced-0', 'unsynced-1']);
  await reopened.close();
});
