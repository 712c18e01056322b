import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, appendFile, stat, readdir, cp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { batchPositions, decodeBatches, encodeBatch } from '../format/record-batch.js';
import { isWeirError } from '../util/errors.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import { HandlePool } from './handle-pool.js';
import { PartitionLog, preallocationBytes } from './partition-log.js';

const root = await mkdtemp(join(tmpdir(), 'weir-log-test-'));
after(() => rm(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => join(root, `p${dirCount++}`);
const quiet = () => undefined;

function config(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...logConfigDefaults, ...overrides };
}

function batchOf(values: string[], timestamp = 1000): Buffer {
  return encodeBatch(values.map((value, i) => ({ value: Buffer.from(value), timestamp: timestamp + i })));
}

async function readAll(log: PartitionLog, from = log.offsetStart): Promise<Array<{ offset: bigint; value: string }>> {
  const out: Array<{ offset: bigint; value: string }> = [];
  let offset = from;
  while (offset < log.highWatermark) {
    const bytes = await log.read(offset, 1024);
    assert.ok(bytes.length > 0, `read at ${offset} below the high watermark returned nothing`);
    const records = decodeBatches(bytes, { decompressedBytesMax: 1 << 20, offsetMin: offset });
    for (const record of records) out.push({ offset: record.offset, value: record.value!.toString() });
    offset = out[out.length - 1]!.offset + 1n;
  }
  return out;
}

test('append assigns consecutive offsets, stamps them and reads back the stored bytes', async () => {
  const log = await PartitionLog.open(freshDir(), config(), { logger: quiet });
  const first = batchOf(['a', 'b', 'c']);
  const result = await log.append(first);
  assert.deepEqual([result.baseOffset, result.lastOffset], [0n, 2n]);
  assert.equal(first.readBigInt64BE(0), 0n);
  const second = await log.append(batchOf(['d']));
  assert.equal(second.baseOffset, 3n);
  assert.equal(log.offsetEnd, 4n);
  assert.equal(log.highWatermark, 4n);
  const bytes = await log.read(1n, 1);
  assert.deepEqual(bytes, first, 'a read starts at the batch holding the offset and returns one whole batch even over bytesMax');
  assert.equal((await log.read(4n, 1000)).length, 0);
  await assert.rejects(log.read(5n, 1000), (error) => isWeirError(error, 'OFFSET_OUT_OF_RANGE'));
  assert.deepEqual((await readAll(log)).map((r) => r.value), ['a', 'b', 'c', 'd']);
  await log.close();
});

test('concurrent appends under flush always share syncs and all resolve in offset order', async () => {
  const log = await PartitionLog.open(freshDir(), config(), { logger: quiet });
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(batchOf([`v${i}`]))));
  results.forEach((result, i) => assert.equal(result.baseOffset, BigInt(i)));
  assert.equal((await readAll(log)).length, 200);
  await log.close();
});

test('invalid batches are rejected without taking offsets', async () => {
  const log = await PartitionLog.open(freshDir(), config({ batchBytesMax: 200 }), { logger: quiet });
  const bad = batchOf(['x']);
  bad[bad.length - 1]! ^= 0xff;
  await assert.rejects(log.append(bad), (error) => isWeirError(error, 'CORRUPT_MESSAGE'));
  await assert.rejects(log.append(batchOf(['y'.repeat(300)])), (error) => isWeirError(error, 'MESSAGE_TOO_LARGE'));
  assert.equal((await log.append(batchOf(['ok']))).baseOffset, 0n);
  await log.close();
});

test('an append without timestamp bounds takes timestamps past both bounds and still refuses a corrupt or oversized batch', async () => {
  const log = await PartitionLog.open(freshDir(), config({ batchBytesMax: 200, timestampAheadMsMax: 60_000, timestampBehindMsMax: 60_000 }), { logger: quiet });
  const unbounded = { timestampBounds: false };
  const [old, ahead] = [Date.now() - 3_600_000, Date.now() + 3_600_000];
  for (const timestamp of [old, ahead]) {
    await assert.rejects(log.append(batchOf(['x'], timestamp)), (error) => isWeirError(error, 'INVALID_TIMESTAMP'));
  }
  assert.equal((await log.append(batchOf(['old'], old), unbounded)).baseOffset, 0n);
  assert.equal((await log.append(batchOf(['ahead'], ahead), unbounded)).baseOffset, 1n);
  const bad = batchOf(['x'], old);
  bad[bad.length - 1]! ^= 0xff;
  await assert.rejects(log.append(bad, unbounded), (error) => isWeirError(error, 'CORRUPT_MESSAGE'));
  await assert.rejects(log.append(batchOf(['y'.repeat(300)], old), unbounded), (error) => isWeirError(error, 'MESSAGE_TOO_LARGE'));
  assert.deepEqual((await readAll(log)).map((r) => r.value), ['old', 'ahead']);
  await log.close();
});

test('reopen after a clean close and after a torn tail', async () => {
  const dir = freshDir();
  let log = await PartitionLog.open(dir, config(), { logger: quiet });
  for (let i = 0; i < 10; i++) await log.append(batchOf([`r${i}`, `s${i}`]));
  await log.close();
  log = await PartitionLog.open(dir, config(), { logger: quiet });
  assert.equal(log.offsetEnd, 20n);
  await log.append(batchOf(['after']));
  await log.close();
  const segment = join(dir, '00000000000000000000.log');
  const size = (await stat(segment)).size;
  await truncate(segment, size - 5);
  await appendFile(segment, Buffer.from('garbage'));
  const warnings: string[] = [];
  log = await PartitionLog.open(dir, config(), { logger: (level, message) => warnings.push(`${level}: ${message}`) });
  assert.equal(log.offsetEnd, 20n);
  assert.ok(warnings.some((w) => w.includes('torn tail')), warnings.join('\n'));
  assert.equal((await readAll(log)).length, 20);
  assert.equal((await log.append(batchOf(['again']))).baseOffset, 20n);
  await log.close();
});

test('under flush always, small appends write into preallocated zeros that a clean close, a roll and recovery cut off', async () => {
  const dir = freshDir();
  const segmentPath = (base: string) => join(dir, `${base}.log`);
  const first = '00000000000000000000';
  let log = await PartitionLog.open(dir, config({ flush: { kind: 'always' } }), { logger: quiet });
  for (let i = 0; i < 20; i++) await log.append(batchOf([`r${i}`]));
  const written = log.sizeBytes;
  const fileBytes = (await stat(segmentPath(first))).size;
  assert.ok(fileBytes > written && fileBytes >= 64 * 1024, 'the file runs ahead of the batches');
  // A copy of the directory taken now is what a crash would leave: batches, then zeros.
  const crashed = freshDir();
  await cp(dir, crashed, { recursive: true });
  await log.close();
  assert.equal((await stat(segmentPath(first))).size, written, 'a clean close cuts the zeros');

  const logs: string[] = [];
  const recovered = await PartitionLog.open(crashed, config({ flush: { kind: 'always' } }), { logger: (level, message) => logs.push(`${level}: ${message}`) });
  assert.ok(logs.some((line) => line.startsWith('info: ') && line.includes('bytes of zeros')), logs.join('\n'));
  assert.ok(!logs.some((line) => line.startsWith('warn') || line.startsWith('error')), logs.join('\n'));
  assert.deepEqual((await readAll(recovered)).map((r) => r.value), Array.from({ length: 20 }, (_, i) => `r${i}`));
  assert.equal((await recovered.append(batchOf(['after']))).baseOffset, 20n);
  await recovered.close();

  // Rolling seals the old segment at its batches: only the active segment runs ahead.
  log = await PartitionLog.open(dir, config({ flush: { kind: 'always' }, segmentBytesMax: written + 200 }), { logger: quiet });
  for (let i = 20; i < 30; i++) await log.append(batchOf([`r${i}`]));
  assert.ok(log.segmentCount > 1);
  for (const name of (await readdir(dir)).filter((file) => file.endsWith('.log')).slice(0, -1)) {
    const bytes = await readFile(join(dir, name));
    let batches = 0;
    for (const batch of batchPositions(bytes)) batches += batch.bytes;
    assert.equal(batches, bytes.length, `sealed ${name} holds batches and nothing after them`);
  }
  assert.deepEqual((await readAll(log)).map((r) => r.value), Array.from({ length: 30 }, (_, i) => `r${i}`));
  await log.close();
});

test('the zeros ahead are sized to the group that grows the file: 16 times it, 64 KiB to 1 MiB, none for a large group', async () => {
  assert.equal(preallocationBytes(100), 64 * 1024);
  assert.equal(preallocationBytes(8 * 1024), 128 * 1024);
  assert.equal(preallocationBytes(64 * 1024), 1024 * 1024);
  assert.equal(preallocationBytes(64 * 1024 + 1), 0);
  const dir = freshDir();
  const log = await PartitionLog.open(dir, config({ flush: { kind: 'always' } }), { logger: quiet });
  await log.append(batchOf(['x'.repeat(10_000)]));
  const group = log.sizeBytes;
  const segment = join(dir, '00000000000000000000.log');
  assert.equal((await stat(segment)).size, group + 16 * group, 'the group and 16 times it in zeros');
  await log.append(batchOf(['y'])); // fits in the zeros: the file does not grow
  assert.equal((await stat(segment)).size, group + 16 * group);
  await log.close();
});

test('segments roll by size with indexes, and reads and timestamp lookups cross them', async () => {
  const dir = freshDir();
  const log = await PartitionLog.open(dir, config({ segmentBytesMax: 1000, indexIntervalBytes: 100 }), {
    logger: quiet,
    handles: new HandlePool({ handlesMax: 4 }),
  });
  for (let i = 0; i < 100; i++) await log.append(batchOf([`value-${i}`], 10_000 + i * 10));
  const names = await readdir(dir);
  assert.ok(names.filter((n) => n.endsWith('.log')).length > 5, names.join(' '));
  assert.ok(names.includes('00000000000000000000.index') && names.includes('00000000000000000000.timeindex'));
  const all = await readAll(log);
  assert.deepEqual(all.map((r) => r.value), Array.from({ length: 100 }, (_, i) => `value-${i}`));
  for (const i of [0, 1, 17, 50, 99]) {
    assert.deepEqual(await log.offsetForTimestamp(10_000 + i * 10), { offset: BigInt(i), timestampMs: 10_000 + i * 10 });
    assert.deepEqual(await log.offsetForTimestamp(10_000 + i * 10 - 5), i === 0 ? { offset: 0n, timestampMs: 10_000 } : { offset: BigInt(i), timestampMs: 10_000 + i * 10 });
  }
  assert.equal(await log.offsetForTimestamp(1e12), null);
  for (let i = 0; i < 100; i += 7) {
    const bytes = await log.read(BigInt(i), 1);
    assert.equal(decodeBatches(bytes, { decompressedBytesMax: 1 << 20 })[0]!.value!.toString(), `value-${i}`);
  }
  await log.close();
});

test('close waits for queued appends, refuses later ones, and everything acknowledged is there after reopening', async () => {
  const dir = freshDir();
  const log = await PartitionLog.open(dir, config(), { logger: quiet });
  const before = Array.from({ length: 50 }, (_, i) => log.append(batchOf([`q${i}`])));
  const closing = log.close();
  await assert.rejects(log.append(batchOf(['late'])), (error) => isWeirError(error, 'CLOSED'));
  const results = await Promise.all(before);
  await closing;
  await assert.rejects(log.read(0n, 10), (error) => isWeirError(error, 'CLOSED'));
  const reopened = await PartitionLog.open(dir, config(), { logger: quiet });
  assert.equal(reopened.offsetEnd, results[results.length - 1]!.lastOffset + 1n);
  assert.equal((await readAll(reopened)).length, 50);
  await reopened.destroy();
  await assert.rejects(stat(dir), /ENOENT/);
});

test('configuration out of range is refused with INVALID_CONFIG', async () => {
  await assert.rejects(PartitionLog.open(freshDir(), config({ segmentBytesMax: 2 ** 32 })), (error) => isWeirError(error, 'INVALID_CONFIG'));
  await assert.rejects(PartitionLog.open(freshDir(), config({ indexIntervalBytes: 0 })), (error) => isWeirError(error, 'INVALID_CONFIG'));
});

test('timestamp lookups and retention see the newest batches of the active segment after a clean reopen', async () => {
  const dir = freshDir();
  let log = await PartitionLog.open(dir, config({ indexIntervalBytes: 1_000_000 }), { logger: quiet });
  for (let i = 0; i < 5; i++) await log.append(batchOf([`t${i}`], 1000 * (i + 1)));
  await log.close();
  log = await PartitionLog.open(dir, config({ indexIntervalBytes: 1_000_000 }), { logger: quiet });
  assert.deepEqual(await log.offsetForTimestamp(5000), { offset: 4n, timestampMs: 5000 });
  await log.append(batchOf(['t5'], 6000));
  assert.deepEqual(await log.offsetForTimestamp(5500), { offset: 5n, timestampMs: 6000 });
  await log.close();
});
