import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { batchPositions, decodeBatches, encodeBatch } from '../format/record-batch.js';
import { isWeirError } from '../util/errors.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import type { FileSystem } from './file-system.js';
import { HandlePool } from './handle-pool.js';
import { IndexCache } from './index-cache.js';
import { PartitionLog } from './partition-log.js';
import { TailCache } from './tail-cache.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

const root = await mkdtemp(join(tmpdir(), 'weir-recovery-test-'));
after(() => rm(root, { recursive: true, force: true }));
const config: LogConfig = { ...logConfigDefaults, indexIntervalBytes: 200 };
const segmentName = '00000000000000000000.log';

function batchOf(first: number, count: number): Buffer {
  return encodeBatch(Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`record-${first + i}`), timestamp: 5000 + first + i })));
}

/** A segment of `batches` batches (1..4 records each) as the log writes it. */
function segmentBytes(batches: number): { bytes: Buffer; ends: Array<{ position: number; offsetEnd: number }> } {
  const parts: Buffer[] = [];
  const ends: Array<{ position: number; offsetEnd: number }> = [];
  let offset = 0;
  let position = 0;
  for (let b = 0; b < batches; b++) {
    const count = (b % 4) + 1;
    const batch = batchOf(offset, count);
    batch.writeBigInt64BE(BigInt(offset), 0);
    parts.push(batch);
    offset += count;
    position += batch.length;
    ends.push({ position, offsetEnd: offset });
  }
  return { bytes: Buffer.concat(parts), ends };
}

function validOffsetEnd(ends: Array<{ position: number; offsetEnd: number }>, size: number): number {
  let end = 0;
  for (const entry of ends) if (entry.position <= size) end = entry.offsetEnd;
  return end;
}

async function openOn(fileSystem: FileSystem, dir: string, options: { repair?: boolean; logs?: string[] } = {}): Promise<PartitionLog> {
  return PartitionLog.open(dir, config, {
    fs: fileSystem,
    handles: new HandlePool({ fileSystem, handlesMax: 4 }),
    indexCache: new IndexCache(),
    logger: (level, message) => options.logs?.push(`${level}: ${message}`),
    ...(options.repair === undefined ? {} : { repair: options.repair }),
  });
}

async function recordsOf(log: PartitionLog): Promise<string[]> {
  const values: string[] = [];
  let offset = log.offsetStart;
  while (offset < log.highWatermark) {
    const bytes = await log.read(offset, 500);
    for (const record of decodeBatches(bytes, { decompressedBytesMax: 1 << 20, offsetMin: offset })) {
      assert.equal(record.offset, offset);
      values.push(record.value!.toString());
      offset++;
    }
  }
  return values;
}

test('truncation at every byte of the last batches, with and without garbage after it, recovers exactly the valid prefix', async () => {
  const { bytes, ends } = segmentBytes(12);
  const cutFrom = ends[ends.length - 7]!.position;
  const garbage = Buffer.from('\x00\x00\x00\x00\x00\x00\x00\x63\x00\x00\x00\x40garbage after the torn write', 'latin1');
  for (let cut = cutFrom; cut <= bytes.length; cut++) {
    for (const tail of [Buffer.alloc(0), garbage]) {
      const disk = new CrashFileSystem();
      const fileSystem = disk.view();
      await fileSystem.mkdir('/p');
      const handle = await fileSystem.open(`/p/${segmentName}`, 'create');
      await fileSystem.write(handle, [bytes.subarray(0, cut), tail], 0);
      await fileSystem.close(handle);
      const logs: string[] = [];
      const log = await openOn(fileSystem, '/p', { logs });
      // Garbage may by chance repeat the bytes it replaces (a record ends in a 0 header count).
      const written = Buffer.concat([bytes.subarray(0, cut), tail]);
      let same = 0;
      while (same < Math.min(written.length, bytes.length) && written[same] === bytes[same]) same++;
      const expected = validOffsetEnd(ends, same);
      assert.equal(log.offsetEnd, BigInt(expected), `cut at ${cut} with ${tail.length} bytes of garbage`);
      assert.deepEqual(await recordsOf(log), Array.from({ length: expected }, (_, i) => `record-${i}`));
      const validEnd = ends.find((e) => e.offsetEnd === expected)?.position ?? 0;
      const cutBytes = written.subarray(validEnd);
      // A tail of zeros is cut as preallocated space; anything else is a torn tail.
      const zeros = cutBytes.length > 0 && cutBytes.every((byte) => byte === 0);
      assert.equal(logs.some((line) => line.includes('torn tail')), cutBytes.length > 0 && !zeros, logs.join('\n'));
      assert.equal(logs.some((line) => line.includes('bytes of zeros')), zeros, logs.join('\n'));
      assert.equal((await log.append(batchOf(expected, 1))).baseOffset, BigInt(expected), 'appends continue after the valid prefix');
      await log.close();
    }
  }
});

test('truncation of a real segment file near its end, after a clean close, recovers the valid prefix', async () => {
  const dir = join(root, 'real-cut');
  let log = await PartitionLog.open(dir, config, { logger: () => undefined });
  for (let i = 0; i < 8; i++) await log.append(batchOf(i * 3, 3));
  await log.close();
  const original = await readFile(join(dir, segmentName));
  const positions = [...batchPositions(original)];
  const lastStart = positions[positions.length - 2]!.position;
  for (let cut = lastStart; cut < original.length; cut += 7) {
    await writeFile(join(dir, segmentName), original.subarray(0, cut));
    log = await PartitionLog.open(dir, config, { logger: () => undefined });
    const expected = cut >= positions[positions.length - 1]!.position ? 21 : 18;
    assert.equal(log.offsetEnd, BigInt(expected), `cut at ${cut}`);
    assert.equal((await recordsOf(log)).length, expected);
    await log.close();
  }
});

test('damage in the middle of the last segment refuses to open, naming file and position, unless repair is asked for', async () => {
  const { bytes, ends } = segmentBytes(10);
  const damagedAt = ends[3]!.position + 30;
  const damaged = Buffer.from(bytes);
  damaged[damagedAt]! ^= 0x5a;
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  await fileSystem.mkdir('/p');
  const handle = await fileSystem.open(`/p/${segmentName}`, 'create');
  await fileSystem.write(handle, [damaged], 0);
  await fileSystem.close(handle);
  const logs: string[] = [];
  await assert.rejects(openOn(fileSystem, '/p', { logs }), (error) => {
    assert.ok(isWeirError(error, 'CORRUPT_MESSAGE'));
    assert.match(error.message, new RegExp(`${segmentName} is damaged at byte position ${ends[3]!.position}`));
    assert.match(error.message, /valid data follows/);
    return true;
  });
  assert.ok(logs.some((line) => line.startsWith('error:') && line.includes(segmentName)), logs.join('\n'));
  assert.deepEqual(disk.contentOf(`/p/${segmentName}`), damaged, 'a refused open changes nothing');
  const repaired = await openOn(fileSystem, '/p', { repair: true, logs });
  assert.equal(repaired.offsetEnd, BigInt(ends[3]!.offsetEnd));
  assert.ok(logs.some((line) => line.startsWith('error:') && line.includes('repair')));
  await repaired.close();
});

test('a read that meets damage in a sealed segment returns the good batches before it; the next read names the damage', async () => {
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  const small: LogConfig = { ...config, segmentBytesMax: 2000 };
  const log = await PartitionLog.open('/p', small, { fs: fileSystem, handles: new HandlePool({ fileSystem }), tailCache: new TailCache(0), logger: () => undefined });
  try {
    for (let i = 0; i < 60; i++) await log.append(batchOf(i, 1));
    assert.ok(log.segmentCount >= 2);
    const first = `/p/${segmentName}`;
    const content = Buffer.from(disk.contentOf(first)!);
    const positions = [...batchPositions(content)];
    content.writeInt32BE(0x7fff_0000, positions[3]!.position + 8); // the fourth batch's length
    disk.setContent(first, content);
    const read = await log.read(0n, 1 << 20);
    assert.deepEqual(decodeBatches(read, { decompressedBytesMax: 1 << 20 }).map((r) => r.value!.toString()), ['record-0', 'record-1', 'record-2']);
    await assert.rejects(log.read(3n, 1 << 20), (error) => isWeirError(error, 'CORRUPT_MESSAGE') && error.message.includes(`${segmentName} is damaged at byte position ${positions[3]!.position}`));
  } finally {
    await log.close();
  }
});

/** Twenty one-record batches in 300-byte segments at /p, closed: the disk and the segment file names in order. */
async function smallSegments(): Promise<{ disk: CrashFileSystem; fileSystem: FileSystem; small: LogConfig; names: string[] }> {
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  const small: LogConfig = { ...config, segmentBytesMax: 300 };
  const log = await PartitionLog.open('/p', small, { fs: fileSystem, handles: new HandlePool({ fileSystem }), logger: () => undefined });
  for (let i = 0; i < 20; i++) await log.append(batchOf(i, 1));
  await log.close();
  const names = (await fileSystem.readdir('/p')).filter((name) => name.endsWith('.log')).sort();
  return { disk, fileSystem, small, names };
}

test('a segment file missing from the middle of the log: readers skip to the next segment and the log names the missing offsets once', async () => {
  const { fileSystem, small, names } = await smallSegments();
  assert.ok(names.length >= 4);
  const [, missing, after] = names as [string, string, string];
  await fileSystem.unlink(`/p/${missing}`);
  const logs: string[] = [];
  const log = await PartitionLog.open('/p', small, { fs: fileSystem, handles: new HandlePool({ fileSystem }), tailCache: new TailCache(0), logger: (level, message) => logs.push(`${level}: ${message}`) });
  try {
    const missingFrom = BigInt(parseInt(missing, 10));
    const resumeAt = BigInt(parseInt(after, 10));
    const values: string[] = [];
    for (let offset = 0n; offset < log.highWatermark; ) {
      for (const record of decodeBatches(await log.read(offset, 1 << 20), { decompressedBytesMax: 1 << 20, offsetMin: offset })) {
        values.push(record.value!.toString());
        offset = record.offset + 1n;
      }
    }
    const expected = Array.from({ length: 20 }, (_, i) => i).filter((i) => i < missingFrom || i >= resumeAt).map((i) => `record-${i}`);
    assert.deepEqual(values, expected);
    await log.read(missingFrom, 1 << 20);
    const reported = logs.filter((line) => line.includes('are missing'));
    assert.equal(reported.length, 1, logs.join('\n'));
    assert.match(reported[0]!, new RegExp(`^error: /p: offsets ${missingFrom}\\.\\.${resumeAt - 1n} are missing: /p/${names[0]} ends at ${missingFrom}`));
  } finally {
    await log.close();
  }
});

test('damage at the end of a sealed segment with later segments present is mid-log damage', async () => {
  const { disk, fileSystem, small, names } = await smallSegments();
  assert.ok(names.length >= 3);
  const second = `/p/${names[1]}`;
  const content = disk.contentOf(second)!;
  disk.setContent(second, content.subarray(0, content.length - 3));
  await fileSystem.unlink('/p/checkpoint');
  await assert.rejects(PartitionLog.open('/p', small, { fs: fileSystem, handles: new HandlePool({ fileSystem }), logger: () => undefined }), (error) =>
    isWeirError(error, 'CORRUPT_MESSAGE') && error.message.includes(names[1]!) && error.message.includes('later segments'),
  );
  const log = await PartitionLog.open('/p', small, { fs: fileSystem, handles: new HandlePool({ fileSystem }), logger: () => undefined, repair: true });
  assert.equal((await fileSystem.readdir('/p')).filter((name) => name.endsWith('.log')).length, 2);
  assert.equal(await recordsOf(log).then((values) => values.length), Number(log.offsetEnd));
  await log.close();
});

test('missing or inconsistent index files of sealed segments are rebuilt on use', async () => {
  const dir = join(root, 'index-rebuild');
  const small: LogConfig = { ...config, segmentBytesMax: 400, indexIntervalBytes: 60 };
  let log = await PartitionLog.open(dir, small, { logger: () => undefined });
  for (let i = 0; i < 30; i++) await log.append(batchOf(i, 1));
  await log.close();
  const indexes = (await readdir(dir)).filter((name) => name.endsWith('.index')).sort();
  const originals = await Promise.all(indexes.slice(0, 2).map((name) => readFile(join(dir, name))));
  const originalTimeIndex = await readFile(join(dir, indexes[0]!.replace('.index', '.timeindex')));
  assert.ok(originals[0]!.length >= 16, 'the segment has index entries');
  await rm(join(dir, indexes[0]!));
  await rm(join(dir, indexes[0]!.replace('.index', '.timeindex')));
  await writeFile(join(dir, indexes[1]!), Buffer.from([0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 1]));
  const logs: string[] = [];
  log = await PartitionLog.open(dir, small, { logger: (level, message) => logs.push(`${level}: ${message}`) });
  assert.deepEqual(await recordsOf(log), Array.from({ length: 30 }, (_, i) => `record-${i}`));
  assert.equal(logs.filter((line) => line.includes('rebuilding')).length, 2, logs.join('\n'));
  assert.deepEqual(await readFile(join(dir, indexes[0]!)), originals[0], 'the rebuilt index equals the original');
  assert.deepEqual(await readFile(join(dir, indexes[1]!)), originals[1]);
  assert.deepEqual(await readFile(join(dir, indexes[0]!.replace('.index', '.timeindex'))), originalTimeIndex);
  await log.close();
  // After a crash (no clean checkpoint) the recovery scan rebuilds the same indexes too.
  await rm(join(dir, 'checkpoint'));
  for (const name of indexes) await rm(join(dir, name));
  log = await PartitionLog.open(dir, small, { logger: () => undefined });
  assert.deepEqual(await readFile(join(dir, indexes[0]!)), originals[0]);
  assert.deepEqual(await recordsOf(log), Array.from({ length: 30 }, (_, i) => `record-${i}`));
  await log.close();
});

test('a sealed time index emptied or cut by whole entries is rebuilt: retention by time does not delete the segment early', async () => {
  const nowMs = Date.UTC(2026, 0, 1);
  const hourMs = 3_600_000;
  const batchAt = (timestampMs: number, i: number) => encodeBatch([{ value: Buffer.from(`record-${i}`), timestamp: timestampMs }]);
  // Five batches to a segment: the first segment holds four written two hours ago and one just now.
  const small: LogConfig = { ...config, segmentBytesMax: 5 * batchAt(nowMs, 0).length, indexIntervalBytes: 60, retentionMs: hourMs };
  for (const cut of ['emptied', 'last entry cut off'] as const) {
    const dir = join(root, `time-index-${cut.replaceAll(' ', '-')}`);
    let log = await PartitionLog.open(dir, small, { clock: () => nowMs, logger: () => undefined });
    for (let i = 0; i < 10; i++) await log.append(batchAt(i < 4 ? nowMs - 2 * hourMs : nowMs, i));
    assert.ok(log.segmentCount >= 2);
    await log.close();
    const timeIndexPath = join(dir, '00000000000000000000.timeindex');
    const original = await readFile(timeIndexPath);
    assert.ok(original.length >= 24, 'the time index has entries before its last');
    await writeFile(timeIndexPath, cut === 'emptied' ? Buffer.alloc(0) : original.subarray(0, original.length - 12));
    const logs: string[] = [];
    log = await PartitionLog.open(dir, small, { clock: () => nowMs, logger: (level, message) => logs.push(`${level}: ${message}`) });
    assert.equal(await log.applyRetention(nowMs), 0, `${cut}: retention deleted a segment with a record written just now`);
    assert.equal(log.offsetStart, 0n);
    assert.ok(logs.some((line) => line.includes('rebuilding')), logs.join('\n'));
    assert.deepEqual(await readFile(timeIndexPath), original, `${cut}: the rebuilt time index equals the original`);
    const segmentCount = log.segmentCount;
    assert.equal(await log.applyRetention(nowMs + 2 * hourMs), segmentCount, 'once every record is old enough, every segment goes');
    await log.close();
  }
});

test('opening finishes interrupted deletions and removes orphaned index files', async () => {
  const dir = join(root, 'leftovers');
  let log = await PartitionLog.open(dir, config, { logger: () => undefined });
  await log.append(batchOf(0, 2));
  await log.close();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '00000000000000000000.log.deleted'.replace('00000000000000000000', '00000000000000000007')), 'x');
  await writeFile(join(dir, '00000000000000000099.index'), 'orphan');
  await writeFile(join(dir, 'checkpoint.tmp'), 'half-written');
  log = await PartitionLog.open(dir, config, { logger: () => undefined });
  assert.deepEqual((await readdir(dir)).sort(), ['00000000000000000000.index', '00000000000000000000.log', '00000000000000000000.timeindex', 'checkpoint']);
  assert.equal(log.offsetEnd, 2n);
  await log.close();
});

test('a crash while a rebuilt index is written back never leaves a sealed segment looking older than it is', async () => {
  const nowMs = Date.UTC(2026, 0, 1);
  const config: LogConfig = { ...logConfigDefaults, segmentBytesMax: 1024, retentionMs: 3_600_000 };
  const openOn = (disk: CrashFileSystem) => {
    const fileSystem = disk.view();
    return PartitionLog.open('/data/p', config, { fs: fileSystem, handles: new HandlePool({ fileSystem }), indexCache: new IndexCache(), clock: () => nowMs, logger: () => undefined });
  };
  let interrupted = 0;
  for (let run = 0; run < 160; run++) {
    const step = 1 + (run >> 3); // every step of the rebuild and its write-back, with 8 crash outcomes each
    const disk = new CrashFileSystem({ seed: run });
    const log = await openOn(disk);
    for (let i = 0; i < 12; i++) await log.append(encodeBatch([{ value: Buffer.alloc(200, 'v'), timestamp: nowMs }]));
    assert.ok(log.segmentCount > 2);
    await log.close();
    // A torn time index of the first (sealed) segment: rebuilt from the log when first needed.
    disk.setContent('/data/p/00000000000000000000.timeindex', Buffer.alloc(5));
    const damaged = await openOn(disk);
    disk.crashAfter(step);
    await damaged.read(0n, 1).catch(() => undefined);
    if (disk.crashCount === 0) disk.crash(); // the rebuilt index was written before the step came
    else interrupted++;
    await damaged.close().catch(() => undefined);

    const reopened = await openOn(disk);
    try {
      assert.equal(await reopened.applyRetention(nowMs), 0, `step ${step}: retention deleted a segment written just now`);
      assert.equal(reopened.offsetStart, 0n, `step ${step}`);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(interrupted >= 100, `the crash came while the index was rebuilt ${interrupted} times`);
});
