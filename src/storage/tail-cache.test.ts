import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { batchOffsets, batchPositions, encodeBatch } from '../format/record-batch.js';
import { logConfigDefaults } from './config.js';
import { PartitionLog } from './partition-log.js';
import { TailCache } from './tail-cache.js';

const root = await mkdtemp(join(tmpdir(), 'weir-tail-test-'));
after(() => rm(root, { recursive: true, force: true }));
let dirCount = 0;
const quiet = () => undefined;

/** A stand-in batch of `bytes` bytes whose content names its base offset. */
function block(base: number, bytes: number): Buffer {
  return Buffer.alloc(bytes, base % 256);
}

test('a tail returns whole batches from the one holding the offset, within bytesMax, at least one', () => {
  const tail = new TailCache(1 << 20).tail();
  assert.equal(tail.read(0, 100), null, 'an empty tail holds nothing');
  tail.add(10, block(10, 100)); // offsets 10..14
  tail.add(15, block(15, 100)); // 15..19
  tail.add(20, block(20, 100)); // 20..
  assert.equal(tail.read(9, 1000), null, 'before the oldest batch held');
  assert.deepEqual(tail.read(10, 1000), Buffer.concat([block(10, 100), block(15, 100), block(20, 100)]));
  assert.deepEqual(tail.read(17, 1000), Buffer.concat([block(15, 100), block(20, 100)]));
  assert.deepEqual(tail.read(17, 150), block(15, 100), 'bytesMax stops at whole batches');
  assert.deepEqual(tail.read(22, 1), block(20, 100), 'one batch even over bytesMax');
});

test('the cache drops the oldest batches of any tail past its budget, and a cleared tail gives its bytes back', () => {
  const cache = new TailCache(1000);
  const a = cache.tail();
  const b = cache.tail();
  a.add(0, block(0, 400));
  b.add(0, block(0, 400));
  a.add(5, block(5, 400)); // 1200 > 1000: a's first batch goes
  assert.equal(cache.bytes, 800);
  assert.equal(a.read(0, 1000), null);
  assert.deepEqual(a.read(5, 1000), block(5, 400));
  assert.deepEqual(b.read(0, 1000), block(0, 400));
  b.clear();
  assert.equal(cache.bytes, 400);
  assert.equal(b.read(0, 1000), null);
  b.add(7, block(7, 400));
  a.add(9, block(9, 400)); // 1200: the oldest live batch is a's offset 5 (b's cleared one is skipped)
  assert.equal(cache.bytes, 800);
  assert.equal(a.read(5, 1000), null);
  assert.deepEqual(b.read(7, 1000), block(7, 400));
  assert.deepEqual(a.read(9, 1000), block(9, 400));
  const big = cache.tail();
  big.add(0, block(0, 5000)); // larger than the whole budget: not kept
  assert.equal(big.read(0, 10_000), null);
  assert.ok(cache.bytes <= 1000);
});

test('each addition drops the batches added longer ago than the age limit, whatever the budget', () => {
  let now = 1000;
  const cache = new TailCache(1 << 20, 250, () => now);
  const a = cache.tail();
  const b = cache.tail();
  a.add(0, block(0, 100));
  now += 100;
  b.add(0, block(0, 100));
  now += 100;
  a.add(1, block(1, 100));
  assert.equal(cache.bytes, 300, 'all within 250 ms');
  now += 100; // a's first batch is 300 ms old, b's 200 ms
  b.add(1, block(1, 100));
  assert.equal(a.read(0, 1000), null, 'the batch past the age limit is gone');
  assert.deepEqual(a.read(1, 1000), block(1, 100));
  assert.deepEqual(b.read(0, 1000), Buffer.concat([block(0, 100), block(1, 100)]));
  assert.equal(cache.bytes, 300);
  now += 1000; // without additions nothing is dropped; the next one drops everything older
  assert.deepEqual(b.read(0, 1000), Buffer.concat([block(0, 100), block(1, 100)]));
  a.add(2, block(2, 100));
  assert.equal(cache.bytes, 100);
  assert.equal(b.read(1, 1000), null);
  assert.deepEqual(a.read(2, 1000), block(2, 100));
});

test('a small view of a large buffer is copied, so the budget counts what is held', () => {
  const cache = new TailCache(1 << 20);
  const tail = cache.tail();
  const network = Buffer.alloc(64 * 1024, 7);
  tail.add(0, network.subarray(100, 200));
  assert.equal(cache.bytes, 100);
  const held = tail.read(0, 1000)!;
  assert.notEqual(held.buffer, network.buffer);
  assert.deepEqual(held, network.subarray(100, 200));
});

test('reads at the end of a log come from the tail and equal the stored batches, across segment rolls', async () => {
  const config = { ...logConfigDefaults, segmentBytesMax: 4096 };
  const tailCache = new TailCache(8 * 1024, Infinity); // no age limit: a slow disk must not age the batches out here
  const log = await PartitionLog.open(join(root, `p${dirCount++}`), config, { logger: quiet, tailCache });
  const written: Buffer[] = [];
  let next = 0;
  for (let i = 0; i < 200; i++) {
    const batch = encodeBatch(Array.from({ length: 1 + (i % 7) }, () => ({ value: Buffer.from(`v${next++}`.padEnd(20 + (i % 50), '.')) })));
    await log.append(batch);
    written.push(batch);
  }
  const two = Buffer.concat([encodeBatch([{ value: Buffer.from('x') }]), encodeBatch([{ value: Buffer.from('y') }])]);
  await log.append(two);
  written.push(two);
  assert.ok(log.segmentCount > 5);
  assert.ok(tailCache.bytes > 4096 && tailCache.bytes <= 8 * 1024, 'the newest batches are held');
  // The log as written, batch by batch (appends stamp their offsets in place).
  const all = Buffer.concat(written);
  const starts: number[] = [];
  const bases: bigint[] = [];
  for (const { position } of batchPositions(all)) {
    starts.push(position);
    bases.push(all.readBigInt64BE(position + batchOffsets.baseOffset));
  }
  starts.push(all.length);
  for (let offset = 0n; offset < log.highWatermark; offset++) {
    let at = bases.length - 1;
    while (bases[at]! > offset) at--;
    for (const bytesMax of [1, 300, 2000]) {
      const got = await log.read(offset, bytesMax);
      const batches = [...batchPositions(got)].length;
      assert.ok(batches >= 1 && (batches === 1 || got.length <= bytesMax), `whole batches within bytesMax at ${offset}`);
      assert.deepEqual(got, all.subarray(starts[at]!, starts[at + batches]!), `the stored batches from the one holding ${offset}`);
    }
  }
  await log.close();
  assert.equal(tailCache.bytes, 0, 'a closed log gives its tail back');
});
