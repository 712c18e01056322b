import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as lz4 from 'lz4-napi';
import * as snappy from 'snappy';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { compress, compressionCodecs, compressionName, decompress, xxh32, type CompressionCodec } from './compression.js';
import { decodeBatch, encodeBatch, type RecordInput } from './record-batch.js';
import { isWeirError } from '../util/errors.js';

const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;

const codecs = [compressionCodecs.gzip, compressionCodecs.snappy, compressionCodecs.lz4, compressionCodecs.zstd] as const;
const mebibyte = 1024 * 1024;

/** Data that compresses somewhat: runs of a few byte values mixed with noise. */
function sample(bytes: number, seed = 1): Buffer {
  const data = Buffer.allocUnsafe(bytes);
  let state = seed;
  for (let index = 0; index < bytes; index++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[index] = state >>> 28 === 0 ? state & 0xff : (index >> 6) & 0x0f;
  }
  return data;
}

/** Incompressible bytes, reproducible from the seed. */
function noise(bytes: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(bytes);
  let state = seed;
  for (let index = 0; index < bytes; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[index] = state >>> 24;
  }
  return data;
}

function assertCorrupt(action: () => unknown, pattern?: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(isWeirError(error), `expected a WeirError, got ${String(error)}`);
    assert.equal(error.code, 'CORRUPT_MESSAGE');
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

/** Decodes `data`; a WeirError CORRUPT_MESSAGE is acceptable, anything else (or a broken cap) fails. */
function decodeOrReject(codec: CompressionCodec, data: Buffer, bytesMax: number): Buffer | undefined {
  try {
    const output = decompress(codec, data, bytesMax);
    assert.ok(output.length <= bytesMax);
    return output;
  } catch (error) {
    if (isWeirError(error) && error.code === 'CORRUPT_MESSAGE') return undefined;
    throw error;
  }
}

test('codec names and numbers match RecordBatch v2 attributes', () => {
  assert.deepEqual(compressionCodecs, { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 });
  assert.equal(compressionName(3), 'lz4');
  assert.equal(compressionName(5), undefined);
});

test('xxh32 gives the reference values', () => {
  assert.equal(xxh32(Buffer.alloc(0), 0, 0), 0x02cc5d05);
  assert.equal(xxh32(Buffer.from('abc'), 0, 3), 0x32d153ff);
  const long = Buffer.from('Nobody inspects the spammish repetition');
  assert.equal(xxh32(long, 0, long.length), 0xe2293b2f);
});

test('every codec round-trips arbitrary data', () => {
  const data = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 3000 })).map(([unit, count]) =>
      Buffer.concat(Array.from({ length: count }, () => unit)),
    ),
  );
  for (const codec of codecs) {
    fc.assert(
      fc.property(data, (array) => {
        const input = Buffer.from(array);
        const compressed = compress(codec, input);
        assert.deepEqual(decompress(codec, compressed, input.length), input);
      }),
      { numRuns: 60 },
    );
  }
});

test('every codec round-trips empty, block-boundary and 4 MiB inputs', () => {
  const sizes = [0, 1, 32 * 1024, 32 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 4 * mebibyte];
  for (const codec of codecs) {
    for (const bytes of sizes) {
      const input = sample(bytes, bytes + codec);
      assert.deepEqual(decompress(codec, compress(codec, input), bytes), input, `${compressionName(codec)} ${bytes}`);
    }
    const random = noise(4 * mebibyte, codec);
    assert.deepEqual(decompress(codec, compress(codec, random), random.length), random);
  }
});

test('output one byte over the cap is rejected, naming the limit', () => {
  const input = sample(100_000);
  for (const codec of codecs) {
    const compressed = compress(codec, input);
    assert.equal(decompress(codec, compressed, input.length).length, input.length);
    assertCorrupt(() => decompress(codec, compressed, input.length - 1), new RegExp(String(input.length - 1)));
  }
});

test('snappy writes the xerial framing in 32 KiB chunks, at least one', () => {
  const compressed = compress(compressionCodecs.snappy, sample(100_000));
  assert.equal(compressed.subarray(0, 16).toString('hex'), '82534e41505059000000000100000001');
  let position = 16;
  let chunks = 0;
  while (position < compressed.length) {
    const length = compressed.readUInt32BE(position);
    assert.ok(snappy.uncompressSync(compressed.subarray(position + 4, position + 4 + length)).length <= 32 * 1024);
    position += 4 + length;
    chunks++;
  }
  assert.equal(position, compressed.length);
  assert.equal(chunks, 4);
  // librdkafka takes a framed input only above 20 bytes, so even empty data gets one chunk.
  assert.ok(compress(compressionCodecs.snappy, Buffer.alloc(0)).length > 20);
});

test('snappy reads raw blocks (what librdkafka and kafkajs-snappy write)', () => {
  const input = sample(200_000);
  const raw = snappy.compressSync(input);
  assert.deepEqual(decompress(compressionCodecs.snappy, raw, input.length), input);
  assertCorrupt(() => decompress(compressionCodecs.snappy, raw, input.length - 1), /199999/);
});

test('lz4 writes the frame Kafka writes: FLG 0x60, BD 0x40 (64 KiB), correct header checksum', () => {
  const empty = compress(compressionCodecs.lz4, Buffer.alloc(0));
  assert.equal(empty.toString('hex'), '04224d1860408200000000');
  const compressed = compress(compressionCodecs.lz4, sample(200_000));
  assert.equal(compressed.subarray(0, 7).toString('hex'), '04224d18604082');
  assert.equal(compressed.readUInt32LE(compressed.length - 4), 0);
  // An incompressible block is stored with bit 31 set.
  const incompressible = noise(1000, 5);
  const stored = compress(compressionCodecs.lz4, incompressible);
  assert.equal(stored.readUInt32LE(7), (1000 | 0x8000_0000) >>> 0);
  assert.deepEqual(decompress(compressionCodecs.lz4, stored, 1000), incompressible);
});

/** Builds an LZ4 frame by hand from raw blocks (u32le size prefix as lz4-napi writes them stripped). */
function lz4Frame(flags: number, blocks: Buffer[], options: { contentBytes?: bigint; contentChecksum?: number } = {}): Buffer {
  const descriptor = [Buffer.from([flags, 0x40])];
  if (options.contentBytes !== undefined) {
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(options.contentBytes);
    descriptor.push(size);
  }
  const body = Buffer.concat(descriptor);
  const header = Buffer.concat([Buffer.from('04224d18', 'hex'), body, Buffer.from([(xxh32(body, 0, body.length) >>> 8) & 0xff])]);
  const parts: Buffer[] = [header];
  for (const block of blocks) {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length);
    parts.push(size, block);
    if (flags & 0x10) {
      const checksum = Buffer.alloc(4);
      checksum.writeUInt32LE(xxh32(block, 0, block.length));
      parts.push(checksum);
    }
  }
  parts.push(Buffer.alloc(4));
  if (options.contentChecksum !== undefined) {
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32LE(options.contentChecksum);
    parts.push(checksum);
  }
  return Buffer.concat(parts);
}

test('lz4 reads linked blocks, block and content checksums, content size and skippable frames', () => {
  const first = sample(65536, 3);
  const second = Buffer.concat([first.subarray(1000, 30000), sample(20000, 4)]);
  const content = Buffer.concat([first, second]);
  const linkedBlock = lz4.compressSync(second, first).subarray(4);
  const firstBlock = lz4.compressSync(first).subarray(4);
  const linked = lz4Frame(0x40, [firstBlock, linkedBlock]);
  assert.deepEqual(decompress(compressionCodecs.lz4, linked, content.length), content);

  const checked = lz4Frame(0x60 | 0x10 | 0x08 | 0x04, [firstBlock], {
    contentBytes: BigInt(first.length),
    contentChecksum: xxh32(first, 0, first.length),
  });
  assert.deepEqual(decompress(compressionCodecs.lz4, checked, first.length), first);
  const badBlockChecksum = Buffer.from(checked);
  badBlockChecksum[15 + 4 + firstBlock.length] ^= 1;
  assertCorrupt(() => decompress(compressionCodecs.lz4, badBlockChecksum, first.length), /block checksum/);
  const badContentChecksum = Buffer.from(checked);
  badContentChecksum[badContentChecksum.length - 1] ^= 1;
  assertCorrupt(() => decompress(compressionCodecs.lz4, badContentChecksum, first.length), /content checksum/);
  const wrongSize = lz4Frame(0x68, [firstBlock], { contentBytes: BigInt(first.length - 1) });
  assertCorrupt(() => decompress(compressionCodecs.lz4, wrongSize, first.length), /declares/);

  const skippable = Buffer.from('5a2a4d1803000000616263', 'hex');
  const frames = Buffer.concat([skippable, compress(compressionCodecs.lz4, first), compress(compressionCodecs.lz4, second)]);
  assert.deepEqual(decompress(compressionCodecs.lz4, frames, content.length), content);
  const badHeaderChecksum = Buffer.from(linked);
  badHeaderChecksum[6] ^= 0xff;
  assertCorrupt(() => decompress(compressionCodecs.lz4, badHeaderChecksum, content.length), /descriptor checksum/);
});

test('lz4 reads 4 MiB blocks at the highest ratio LZ4 reaches', () => {
  // lz4-napi's own frame writer uses BD 0x70 (4 MiB blocks), as kafkajs-lz4 does.
  for (const input of [Buffer.alloc(4 * mebibyte), Buffer.alloc(4 * mebibyte, 0x61), sample(4 * mebibyte)]) {
    const frame = lz4.compressFrameSync(input);
    assert.equal(frame[5], 0x70);
    assert.deepEqual(decompress(compressionCodecs.lz4, frame, input.length), input);
  }
});

/** zstd frames without a content size, as librdkafka and streaming writers produce them. */
function zstdUnsized(data: Buffer, repeat = 1): Buffer {
  const context = new zstd.CCtx();
  context.setParameter(zstd.CParameter.contentSizeFlag, 0);
  const out = Buffer.alloc(zstd.compressBound(data.length) + 1024);
  const parts: Buffer[] = [];
  for (let index = 0; index < repeat; index++) {
    const directive = index === repeat - 1 ? zstd.EndDirective.end : zstd.EndDirective.continue;
    let input = data;
    for (;;) {
      const [remaining, produced, consumed] = context.compressStream2(out, input, directive);
      parts.push(Buffer.from(out.subarray(0, produced)));
      input = input.subarray(consumed);
      if (input.length === 0 && (directive === zstd.EndDirective.continue || remaining === 0)) break;
    }
  }
  return Buffer.concat(parts);
}

test('zstd reads frames without a content size, and concatenated frames', () => {
  const input = sample(300_000);
  const unsized = zstdUnsized(input);
  assert.equal(zstd.getFrameContentSize(unsized), null);
  assert.deepEqual(decompress(compressionCodecs.zstd, unsized, input.length), input);
  assertCorrupt(() => decompress(compressionCodecs.zstd, unsized, input.length - 1), /299999/);
  const mixed = Buffer.concat([compress(compressionCodecs.zstd, input), unsized, compress(compressionCodecs.zstd, input)]);
  assert.deepEqual(decompress(compressionCodecs.zstd, mixed, input.length * 3), Buffer.concat([input, input, input]));
  assert.equal(zstd.getFrameContentSize(compress(compressionCodecs.zstd, input)), input.length);
});

test('decompression bombs are rejected before they expand, without large allocations', () => {
  const bytesMax = mebibyte;
  const zeros = Buffer.alloc(mebibyte);
  const repeat = (part: Buffer, count: number): Buffer => Buffer.concat(Array.from({ length: count }, () => part));
  const gzipMember = gzipSync(zeros);
  const snappyChunk = snappy.compressSync(zeros);
  const chunkLength = Buffer.alloc(4);
  chunkLength.writeUInt32BE(snappyChunk.length);
  const lz4Block = lz4.compressSync(zeros.subarray(0, 65536)).subarray(4);
  // A valid raw snappy block of 256 MiB: preamble, one literal byte, then copies of 64 bytes at offset 1.
  const copies = 4 * mebibyte;
  const preamble: number[] = [];
  for (let rest = 1 + 64 * copies; rest > 0; rest = Math.floor(rest / 128)) preamble.push((rest & 0x7f) | (rest >= 128 ? 0x80 : 0));
  const rawSnappy = Buffer.alloc(preamble.length + 2 + 3 * copies);
  rawSnappy.set([...preamble, 0x00, 0x61]);
  for (let position = preamble.length + 2; position < rawSnappy.length; position += 3) rawSnappy.set([0xfe, 0x01, 0x00], position);
  const bombs: Array<[CompressionCodec, string, Buffer]> = [
    [compressionCodecs.gzip, '512 gzip members of 1 MiB', repeat(gzipMember, 512)],
    [compressionCodecs.snappy, 'xerial, 256 chunks of 1 MiB', Buffer.concat([compress(compressionCodecs.snappy, Buffer.alloc(0)).subarray(0, 16), repeat(Buffer.concat([chunkLength, snappyChunk]), 256)])],
    [compressionCodecs.snappy, 'raw block of 256 MiB', rawSnappy],
    [compressionCodecs.snappy, 'preamble claiming 4 GiB', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x61])],
    [compressionCodecs.lz4, 'frame of 4096 blocks of 64 KiB', lz4Frame(0x60, Array.from({ length: 4096 }, () => lz4Block))],
    [compressionCodecs.lz4, 'content size of 1 TiB', lz4Frame(0x68, [lz4Block], { contentBytes: 1n << 40n })],
    [compressionCodecs.zstd, '256 sized frames of 1 MiB', repeat(compress(compressionCodecs.zstd, zeros), 256)],
    [compressionCodecs.zstd, 'one unsized frame of 512 MiB', zstdUnsized(zeros, 512)],
  ];
  const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
  const rssMaxBefore = process.resourceUsage().maxRSS * 1024;
  for (const [codec, what, bomb] of bombs) {
    const started = performance.now();
    assertCorrupt(() => decompress(codec, bomb, bytesMax), new RegExp(`${bytesMax}`));
    assert.ok(performance.now() - started < 2000, `${what} took too long to reject`);
  }
  const arrayBuffersGrowth = process.memoryUsage().arrayBuffers - arrayBuffersBefore;
  const rssMaxGrowth = process.resourceUsage().maxRSS * 1024 - rssMaxBefore;
  assert.ok(arrayBuffersGrowth < 64 * mebibyte, `array buffers grew by ${arrayBuffersGrowth} bytes`);
  assert.ok(rssMaxGrowth < 128 * mebibyte, `peak RSS grew by ${rssMaxGrowth} bytes`);
});

test('truncated compressed data gives CORRUPT_MESSAGE or a valid prefix, never a crash', () => {
  for (const codec of codecs) {
    const input = sample(80_000, codec);
    const compressed = compress(codec, input);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: compressed.length - 1 }), (cut) => {
        const output = decodeOrReject(codec, compressed.subarray(0, cut), input.length);
        if (output) assert.deepEqual(output, input.subarray(0, output.length));
      }),
      { numRuns: 150 },
    );
  }
});

test('flipped bytes give CORRUPT_MESSAGE or output within the cap, never a crash', () => {
  for (const codec of codecs) {
    const input = sample(20_000, codec + 10);
    const compressed = compress(codec, input);
    const raw = codec === compressionCodecs.snappy ? snappy.compressSync(input) : undefined;
    for (const valid of raw ? [compressed, raw] : [compressed]) {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
          (flips) => {
            const damaged = Buffer.from(valid);
            for (const [index, mask] of flips) damaged[index]! ^= mask;
            decodeOrReject(codec, damaged, input.length * 2);
          },
        ),
        { numRuns: 300 },
      );
    }
  }
});

test('arbitrary bytes give CORRUPT_MESSAGE or output within the cap', () => {
  const prefixes = [Buffer.alloc(0), Buffer.from('1f8b08', 'hex'), Buffer.from('82534e415050590000000001000000010000', 'hex'), Buffer.from('04224d186040820000', 'hex'), Buffer.from('28b52ffd', 'hex')];
  for (const codec of codecs) {
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 200 }), (prefix, tail) => {
        decodeOrReject(codec, Buffer.concat([prefix, Buffer.from(tail)]), 4096);
      }),
      { numRuns: 300 },
    );
  }
});

/**
 * Whole record batches as real clients sent them, hex. kafkajs 2.2.4 (gzip built in, kafkajs-snappy
 * 1.1.0: raw snappy; kafkajs-lz4 1.2.1: LZ4 frame with 4 MiB blocks and a content checksum): three
 * records, key `key-i`, value `weir fixture value i ` four times, header h=`vi`. librdkafka 2.0.2
 * (kcat 1.7.1 producing to a stand-in broker with Produce v7; snappy raw, LZ4 frame FLG 0x60 BD 0x40,
 * zstd frame without a content size): key `key-i`, value `weir fixture value ` six times then ` i`,
 * header h=`v`.
 */
const clientBatches = {
  kafkajsGzip:
    '000000000000000000000096ffffffff024d1ff1210001000000020000018bcfe568000000018bcfe56802ffffffffffffffffffffffffffff000000031f8b08000000000000033bc5c8c0c0c0959d5aa96bb082b13c35b348212db3a2a4b42855a12c31a73455c14081424126a60c963283538c0c4c4c606b0cb15a63884d332982606b0c4f3132b0b080ad31c26a8d1136cda40882ad310200290fab6c35010000',
  kafkajsSnappy:
    '000000000000000000000094ffffffff028ccd87900002000000020000018bcfe568000000018bcfe56802ffffffffffffffffffffffffffff00000003b50288ca010000000a6b65792d30a8017765697220666978747572652076616c756520302077f6150028020268047630ca010002020567003152670000314e6700ae150005671431ca010004040567003252670000324e6700ae150014020268047632',
  kafkajsLz4:
    '0000000000000000000000a8ffffffff02ecb049100003000000020000018bcfe568000000018bcfe56802ffffffffffffffffffffffffffff0000000304224d186470b964000000ff13ca010000000a6b65792d30a8017765697220666978747572652076616c756520302015002cb1020268047630ca0100020267001f316700021f316700010f1500190167006131ca0100040467001f326700021f326700010f1500196002026804763200000000c47de24c',
  librdkafkaGzip:
    '000000000000000000000086000000000286a55a0d000100000002000001a2063da070000001a2063da070ffffffffffffffffffffffffffff000000031f8b0800000000000003eb60626060e0ca4eadd43578c1589e9a59a490965951525a94aa509698539aaa406321050326a60ca6b20ea02b98c0ae301c105718c25dc1027685d180b8c208ec0a00a8b002b792010000',
  librdkafkaSnappy:
    '00000000000000000000008700000000028ceccae4000200000002000001a2063da24a000001a2063da24affffffffffffffffffffffffffff0000000392037c88020000000a6b65792d30e8017765697220666978747572652076616c756520fe13007a130018203002026802760186000205860031fe8600d2860000311586000405860032fe8600d2860014320202680276',
  librdkafkaLz4:
    '00000000000000000000008c0000000002bbe823e9000300000002000001a2063d9e9b000001a2063d9e9bffffffffffffffffffffffffffff0000000304224d186040824c000000ff1188020000000a6b65792d30e8017765697220666978747572652076616c75652013004c70203002026802768600110286001f3186006215318600110486001f328600626032020268027600000000',
  librdkafkaZstd:
    '00000000000000000000008300000000025c3b5972000400000002000001a2063da425000001a2063da425ffffffffffffffffffffffffffff0000000328b52ffd00584d0200640388020000000a6b65792d30e8017765697220666978747572652076616c756520203002026802768802000002313104323202026802760600122401e240c1242491304202db349f',
} as const;

test('batches compressed by kafkajs codecs and librdkafka decode', () => {
  for (const [name, hex] of Object.entries(clientBatches)) {
    const batch = decodeBatch(Buffer.from(hex, 'hex'), 0, { decompressedBytesMax: 4096 });
    assert.equal(batch.records.length, 3, name);
    batch.records.forEach((record, index) => {
      assert.equal(record.key?.toString(), `key-${index}`, name);
      const value = name.startsWith('kafkajs')
        ? `weir fixture value ${index} `.repeat(4)
        : `${'weir fixture value '.repeat(6)} ${index}`;
      assert.equal(record.value?.toString(), value, name);
      assert.deepEqual(
        record.headers.map((header) => [header.key, header.value?.toString()]),
        [['h', name.startsWith('kafkajs') ? `v${index}` : 'v']],
        name,
      );
    });
  }
});

/**
 * Records sections as the Java client frames them, written by the libraries it uses (snappy-java
 * 1.1.8 `SnappyOutputStream`: xerial framing, here two chunks of 32768 and 7232 bytes; zstd-jni 1.5.2
 * `ZstdOutputStreamNoFinalizer` at level 3 behind a 16 KiB buffered stream: no content size). The
 * plain text is `weir fixture value ` repeated, cut at 40000 bytes.
 */
const javaPayloads = {
  snappy:
    '82534e4150505900000000010000000100000617808002487765697220666978747572652076616c756520fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300b2130000000169c038482076616c756520776569722066697874757265fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe' +
    '1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300' +
    'fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe13' +
    '00fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300fe1300b21300',
  zstd: '28b52ffd0058dc0000987765697220666978747572652076616c75652001005538a6cf30010000',
} as const;

test('payloads framed as the Java client frames them decode', () => {
  const plain = 'weir fixture value '.repeat(2106).slice(0, 40000);
  const snappyJava = Buffer.from(javaPayloads.snappy, 'hex');
  assert.equal(snappyJava.readUInt32BE(16 + 4 + snappyJava.readUInt32BE(16)) > 0, true, 'two xerial chunks');
  assert.equal(decompress(compressionCodecs.snappy, snappyJava, 40000).toString(), plain);
  assertCorrupt(() => decompress(compressionCodecs.snappy, snappyJava, 39999), /39999/);
  const zstdJava = Buffer.from(javaPayloads.zstd, 'hex');
  assert.equal(zstd.getFrameContentSize(zstdJava), null);
  assert.equal(decompress(compressionCodecs.zstd, zstdJava, 40000).toString(), plain);
  assertCorrupt(() => decompress(compressionCodecs.zstd, zstdJava, 39999), /39999/);
});

/** Runs a reference command-line codec over `input`, or returns undefined when it is not installed. */
function referenceTool(command: string, args: string[], input: Buffer): Buffer | undefined {
  try {
    return execFileSync(command, args, { input, maxBuffer: 64 * mebibyte, timeout: 20_000, stdio: ['pipe', 'pipe', 'ignore'] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

test('the reference lz4 and zstd tools read what Weir writes, and Weir reads what they write', (context) => {
  const input = sample(300_000, 9);
  const cases: Array<[CompressionCodec, string, string[][]]> = [
    // lz4 by default writes independent blocks and a content checksum; -BD links blocks (FLG 0x44);
    // -BX adds block checksums, --content-size the size (FLG 0x7c).
    [compressionCodecs.lz4, 'lz4', [['-c'], ['-c', '-BD', '-B4'], ['-c', '-B4', '-BX', '--content-size']]],
    // zstd from a pipe does not know the size, so its frames do not declare it (and carry a checksum).
    [compressionCodecs.zstd, 'zstd', [['-c', '-q'], ['-c', '-q', '-19']]],
  ];
  for (const [codec, command, encodings] of cases) {
    const decoded = referenceTool(command, ['-d', '-c'], compress(codec, input));
    if (decoded === undefined) {
      context.diagnostic(`${command} is not installed; skipped`);
      continue;
    }
    assert.deepEqual(decoded, input, `${command} -d`);
    for (const args of encodings) {
      const encoded = referenceTool(command, args, input)!;
      assert.deepEqual(decompress(codec, encoded, input.length), input, `${command} ${args.join(' ')}`);
      assertCorrupt(() => decompress(codec, encoded, input.length - 1));
    }
  }
});

test('compressed record batches round-trip through encodeBatch and decodeBatch', () => {
  const records: RecordInput[] = Array.from({ length: 50 }, (_, index) => ({
    key: Buffer.from(`key-${index % 7}`),
    value: index % 10 === 9 ? null : sample(200 + index * 37, index),
    headers: [{ key: 'trace', value: Buffer.from(`t-${index}`) }],
    timestamp: 1_700_000_000_000 + index,
  }));
  for (const codec of codecs) {
    const batch = encodeBatch(records, { compression: codec });
    const decoded = decodeBatch(batch, 0, { decompressedBytesMax: mebibyte });
    assert.equal(decoded.header.attributes & 0x07, codec);
    assert.equal(decoded.records.length, records.length);
    decoded.records.forEach((record, index) => {
      assert.deepEqual(record.key, records[index]!.key);
      assert.deepEqual(record.value, records[index]!.value);
      assert.equal(record.timestamp, records[index]!.timestamp);
      assert.equal(record.headers[0]!.value?.toString(), `t-${index}`);
    });
    assertCorrupt(() => decodeBatch(batch, 0, { decompressedBytesMax: 1000 }), /1000/);
  }
});
