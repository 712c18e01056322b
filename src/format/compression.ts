/**
 * Record batch compression codecs, numbered as in RecordBatch v2 attributes bits 0-2, in the
 * framings Kafka clients put into a batch's records section.
 *
 * | codec  | what `compress` writes                        | what `decompress` reads                        |
 * |--------|-----------------------------------------------|------------------------------------------------|
 * | gzip   | one gzip member (RFC 1952)                    | gzip, members concatenated                     |
 * | snappy | xerial/snappy-java framing (below)            | xerial framing, or one raw snappy block        |
 * | lz4    | one LZ4 frame (below), independent blocks     | LZ4 frames, concatenated, skippable ones skipped|
 * | zstd   | one zstd frame with its content size, level 3 | zstd frames, concatenated                      |
 *
 * Snappy, xerial framing (what the Java client writes; librdkafka and kafkajs-snappy detect it by
 * its magic and also accept raw snappy, which is what they write themselves):
 *
 *     offset  bytes  field
 *          0      8  magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *          8      4  version, int32 big-endian (1)
 *         12      4  compatible version, int32 big-endian (1)
 *         16      …  chunks: int32 big-endian compressed length, then one raw snappy block
 *
 * Raw snappy blocks start with the uncompressed length as a little-endian base-128 varint.
 * `compress` writes chunks of `snappyChunkBytes` input (as snappy-java does) and always at least one
 * chunk, because librdkafka takes a framed input only when it is longer than 20 bytes.
 *
 * LZ4 frame (lz4 frame format 1.6; Kafka checks the header checksum for magic v1 and later):
 *
 *     magic 0x184D2204 (little-endian) | FLG | BD | [content size u64le] | [dict id u32le] | HC
 *     blocks: u32le size (bit 31 set = stored uncompressed) | data | [xxh32 of data]
 *     end mark u32le 0 | [xxh32 of the content]
 *
 * FLG bits 7-6 version (01), 5 block independence, 4 block checksum, 3 content size, 2 content
 * checksum, 0 dictionary id; BD bits 6-4 block size maximum (4: 64 KiB … 7: 4 MiB); HC is
 * (xxh32(FLG … last descriptor byte, seed 0) >> 8) & 0xff. `compress` writes FLG 0x60 (version 1,
 * independent blocks, nothing optional) and BD 0x40 (64 KiB blocks), as the Java client does: the
 * Java reader decodes every block on its own, so linked blocks would not decode there. `decompress`
 * also reads linked blocks, block and content checksums (verified) and the content size (checked
 * against the cap first); a frame that needs a preset dictionary is rejected.
 *
 * Caps. `decompress(codec, data, bytesMax)` never produces more than `bytesMax` bytes and rejects
 * input that would, with CORRUPT_MESSAGE naming the limit, before expanding it (codec none returns
 * `data` itself):
 * - snappy: the varint preamble of every block is read and summed first; the output is allocated
 *   once, after the sum passed the cap.
 * - lz4: a declared content size is checked first; each block is decoded with an output bound of
 *   min(block size maximum, what is left under the cap, 256 × its compressed size + 64).
 * - zstd: when every frame declares its content size, the sum is checked and the output allocated
 *   once; otherwise the frames are decoded in steps into buffers whose total is the cap plus one
 *   byte, and the window a frame may ask for is limited (`zstdWindowLogMax`).
 * - gzip: zlib's `maxOutputLength`.
 * Corrupt or truncated input of every codec gives CORRUPT_MESSAGE; errors from the native codecs are
 * wrapped, never passed on.
 */
import assert from 'node:assert';
import { createRequire } from 'node:module';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as lz4 from 'lz4-napi';
import * as snappy from 'snappy';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { WeirError } from '../util/errors.js';

export const compressionCodecs = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof compressionCodecs;
export type CompressionCodec = (typeof compressionCodecs)[CompressionName];

const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;

/** Uncompressed bytes per xerial chunk (snappy-java's default block size). */
export const snappyChunkBytes = 32 * 1024;
/** Uncompressed bytes per LZ4 block that `compress` writes (BD 0x40, as the Java client). */
export const lz4BlockBytes = 64 * 1024;
/** zstd level `compress` uses (Kafka's default for zstd). */
export const zstdLevel = 3;
/** Largest zstd window a frame may ask for, as a power of two (128 MiB, zstd's own default limit). */
export const zstdWindowLogMax = 27;
/** Bound of one output step when a zstd frame does not declare its size. */
export const zstdStepBytesMax = 4 * 1024 * 1024;

const nameByCodec = Object.fromEntries(
  Object.entries(compressionCodecs).map(([name, codec]) => [codec, name]),
) as Record<CompressionCodec, CompressionName>;

export function compressionName(codec: number): CompressionName | undefined {
  return nameByCodec[codec as CompressionCodec];
}

/**
 * Compresses a records section. The result may be a view into a larger buffer: copy it (as the batch
 * builder does) rather than keeping it for long.
 */
export function compress(codec: CompressionCodec, data: Buffer): Buffer {
  switch (codec) {
    case 0:
      return data;
    case 1:
      return gzipSync(data);
    case 2:
      return compressSnappyXerial(data);
    case 3:
      return compressLz4Frame(data);
    case 4:
      return compressZstd(data);
    default:
      throw new WeirError('INVALID_CONFIG', `unknown compression codec ${codec as number}`);
  }
}

export function decompress(codec: CompressionCodec, data: Buffer, bytesMax: number): Buffer {
  assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, `decompression limit ${bytesMax} is not a byte count`);
  if (codec === 0) return data;
  const name = nameByCodec[codec] ?? String(codec);
  let output: Buffer;
  try {
    output = decompressCapped(codec, data, bytesMax);
  } catch (error) {
    if (error instanceof WeirError) throw error;
    throw new WeirError('CORRUPT_MESSAGE', `${name} data is corrupt or expands beyond ${bytesMax} bytes`, { cause: error });
  }
  // Postcondition for every codec: the cap held.
  if (output.length > bytesMax) throw tooLarge(name, output.length, bytesMax);
  return output;
}

function decompressCapped(codec: CompressionCodec, data: Buffer, bytesMax: number): Buffer {
  switch (codec) {
    case 1:
      return gunzipSync(data, { maxOutputLength: Math.max(bytesMax, 1) });
    case 2:
      return decompressSnappy(data, bytesMax);
    case 3:
      return decompressLz4(data, bytesMax);
    case 4:
      return decompressZstd(data, bytesMax);
    default:
      throw new WeirError('CORRUPT_MESSAGE', `unknown compression codec ${codec}`);
  }
}

function corrupt(message: string): WeirError {
  return new WeirError('CORRUPT_MESSAGE', message);
}

function tooLarge(name: string, bytes: number, bytesMax: number): WeirError {
  return corrupt(`${name} data expands to ${bytes} bytes, beyond the limit of ${bytesMax} bytes`);
}

// ---------------------------------------------------------------------------------------- snappy

const xerialMagic = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const xerialHeaderBytes = 16;
const xerialVersion = 1;

function compressSnappyXerial(data: Buffer): Buffer {
  const header = Buffer.allocUnsafe(xerialHeaderBytes);
  xerialMagic.copy(header, 0);
  header.writeInt32BE(xerialVersion, 8);
  header.writeInt32BE(xerialVersion, 12);
  const pieces: Buffer[] = [header];
  let total = xerialHeaderBytes;
  let position = 0;
  do {
    const chunk = snappy.compressSync(data.subarray(position, position + snappyChunkBytes));
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(chunk.length, 0);
    pieces.push(length, chunk);
    total += 4 + chunk.length;
    position += snappyChunkBytes;
  } while (position < data.length);
  return Buffer.concat(pieces, total);
}

function decompressSnappy(data: Buffer, bytesMax: number): Buffer {
  if (data.length >= xerialHeaderBytes && data.subarray(0, xerialMagic.length).equals(xerialMagic)) {
    return decompressXerial(data, bytesMax);
  }
  const bytes = snappyUncompressedBytes(data, 0, data.length);
  if (bytes > bytesMax) throw tooLarge('snappy', bytes, bytesMax);
  return snappyBlock(data);
}

function decompressXerial(data: Buffer, bytesMax: number): Buffer {
  // First pass: frame every chunk and add up the sizes they declare, before expanding any.
  let total = 0;
  let chunks = 0;
  for (let position = xerialHeaderBytes; position < data.length; position = xerialChunkEnd(data, position)) {
    total += snappyUncompressedBytes(data, position + 4, xerialChunkEnd(data, position));
    if (total > bytesMax) throw tooLarge('snappy', total, bytesMax);
    chunks++;
  }
  if (chunks === 1) return snappyBlock(data.subarray(xerialHeaderBytes + 4));
  const output = Buffer.allocUnsafe(total);
  let written = 0;
  for (let position = xerialHeaderBytes; position < data.length; position = xerialChunkEnd(data, position)) {
    written += snappyBlock(data.subarray(position + 4, xerialChunkEnd(data, position))).copy(output, written);
  }
  if (written !== total) throw corrupt('snappy: chunks expand to other sizes than they declare');
  return output;
}

/** End of the xerial chunk whose length field is at `position`. */
function xerialChunkEnd(data: Buffer, position: number): number {
  if (data.length - position < 4) throw corrupt('snappy: truncated xerial chunk length');
  const length = data.readUInt32BE(position);
  if (length > data.length - position - 4) throw corrupt(`snappy: xerial chunk of ${length} bytes runs past the data`);
  return position + 4 + length;
}

/** Reads the varint preamble of a raw snappy block in data[start, end). */
function snappyUncompressedBytes(data: Buffer, start: number, end: number): number {
  let value = 0;
  for (let index = 0; index < 5; index++) {
    if (start + index >= end) throw corrupt('snappy: truncated length preamble');
    const byte = data[start + index]!;
    value += (byte & 0x7f) * 2 ** (7 * index);
    if ((byte & 0x80) === 0) {
      if (value > 0xffff_ffff) throw corrupt('snappy: length preamble out of range');
      return value;
    }
  }
  throw corrupt('snappy: length preamble longer than 5 bytes');
}

/** Expands one raw block whose preamble was already checked against the cap. */
function snappyBlock(block: Buffer): Buffer {
  return snappy.uncompressSync(block, { asBuffer: true }) as Buffer;
}

// ----------------------------------------------------------------------------------------- xxh32

const prime1 = 0x9e3779b1;
const prime2 = 0x85ebca77;
const prime3 = 0xc2b2ae3d;
const prime4 = 0x27d4eb2f;
const prime5 = 0x165667b1;

function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function round(accumulator: number, lane: number): number {
  return Math.imul(rotl((accumulator + Math.imul(lane, prime2)) | 0, 13), prime1);
}

/** XXH32 with seed 0 of data[start, end), as an unsigned 32-bit number (used by the LZ4 frame). */
export function xxh32(data: Buffer, start: number, end: number): number {
  let position = start;
  let hash: number;
  if (end - start >= 16) {
    let v1 = (prime1 + prime2) | 0;
    let v2 = prime2;
    let v3 = 0;
    let v4 = -prime1 | 0;
    for (const limit = end - 16; position <= limit; position += 16) {
      v1 = round(v1, data.readInt32LE(position));
      v2 = round(v2, data.readInt32LE(position + 4));
      v3 = round(v3, data.readInt32LE(position + 8));
      v4 = round(v4, data.readInt32LE(position + 12));
    }
    hash = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    hash = prime5;
  }
  hash = (hash + (end - start)) | 0;
  for (; position + 4 <= end; position += 4) {
    hash = Math.imul(rotl((hash + Math.imul(data.readInt32LE(position), prime3)) | 0, 17), prime4);
  }
  for (; position < end; position++) {
    hash = Math.imul(rotl((hash + Math.imul(data[position]!, prime5)) | 0, 11), prime1);
  }
  hash = Math.imul(hash ^ (hash >>> 15), prime2);
  hash = Math.imul(hash ^ (hash >>> 13), prime3);
  return (hash ^ (hash >>> 16)) >>> 0;
}

// ------------------------------------------------------------------------------------------- lz4

const lz4Magic = 0x184d2204;
const lz4SkippableMagic = 0x184d2a50; // 0x184D2A50 … 0x184D2A5F
const lz4Flag = { version: 0xc0, versionOne: 0x40, reserved: 0x02, blockIndependent: 0x20, blockChecksum: 0x10, contentSize: 0x08, contentChecksum: 0x04, dictionaryId: 0x01 } as const;
const lz4Uncompressed = 0x8000_0000;
/** Most output bytes one compressed byte can stand for (a match length extension byte adds 255). */
const lz4ExpansionMax = 256;
/** Output a linked block may refer back to. */
const lz4WindowBytes = 64 * 1024;
/** FLG 0x60: version 1, independent blocks; BD 0x40: 64 KiB blocks. */
const lz4FrameHeader = lz4Header(0x60, 0x40);

function lz4Header(flags: number, blockDescriptor: number): Buffer {
  const header = Buffer.allocUnsafe(7);
  header.writeUInt32LE(lz4Magic, 0);
  header[4] = flags;
  header[5] = blockDescriptor;
  header[6] = (xxh32(header, 4, 6) >>> 8) & 0xff;
  return header;
}

function compressLz4Frame(data: Buffer): Buffer {
  const pieces: Buffer[] = [lz4FrameHeader];
  let total = lz4FrameHeader.length;
  for (let position = 0; position < data.length; position += lz4BlockBytes) {
    const input = data.subarray(position, position + lz4BlockBytes);
    // lz4-napi puts the uncompressed size (u32le) before the block: overwrite it with the frame's block size.
    const block = lz4.compressSync(input);
    const blockBytes = block.length - 4;
    if (blockBytes < input.length) {
      block.writeUInt32LE(blockBytes, 0);
      pieces.push(block);
      total += block.length;
    } else {
      const size = Buffer.allocUnsafe(4);
      size.writeUInt32LE((input.length | lz4Uncompressed) >>> 0, 0);
      pieces.push(size, input);
      total += 4 + input.length;
    }
  }
  pieces.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(pieces, total + 4);
}

/** Decoded LZ4 output: one buffer that grows by doubling, never past the cap. */
class Lz4Output {
  #buffer: Buffer;
  bytes = 0;
  readonly bytesMax: number;

  constructor(initialBytes: number, bytesMax: number) {
    this.#buffer = Buffer.allocUnsafe(Math.min(initialBytes, bytesMax));
    this.bytesMax = bytesMax;
  }

  get roomBytes(): number {
    return this.bytesMax - this.bytes;
  }

  /** Makes room for `extra` more bytes (the caller checked them against the cap). */
  reserve(extra: number): void {
    const needed = this.bytes + extra;
    assert(needed <= this.bytesMax);
    if (needed <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.min(this.bytesMax, Math.max(needed, this.#buffer.length * 2)));
    this.#buffer.copy(grown, 0, 0, this.bytes);
    this.#buffer = grown;
  }

  append(piece: Buffer): void {
    if (piece.length > this.roomBytes) throw tooLarge('lz4', this.bytes + piece.length, this.bytesMax);
    this.reserve(piece.length);
    this.bytes += piece.copy(this.#buffer, this.bytes);
  }

  view(start: number, end = this.bytes): Buffer {
    return this.#buffer.subarray(start, end);
  }
}

function decompressLz4(data: Buffer, bytesMax: number): Buffer {
  const output = new Lz4Output(Math.max(64 * 1024, data.length * 4), bytesMax);
  let position = 0;
  do {
    if (data.length - position < 8) throw corrupt('lz4: truncated frame');
    const magic = data.readUInt32LE(position);
    if ((magic & 0xffff_fff0) >>> 0 === lz4SkippableMagic) {
      const skipBytes = data.readUInt32LE(position + 4);
      if (skipBytes > data.length - position - 8) throw corrupt('lz4: truncated skippable frame');
      position += 8 + skipBytes;
    } else if (magic === lz4Magic) {
      position = decodeLz4Frame(data, position, output);
    } else {
      throw corrupt(`lz4: bad frame magic 0x${magic.toString(16)}`);
    }
  } while (position < data.length);
  return output.view(0);
}

/** Decodes the frame at `start` into `output`; returns the position after it. */
function decodeLz4Frame(data: Buffer, start: number, output: Lz4Output): number {
  const flags = data[start + 4]!;
  const blockDescriptor = data[start + 5]!;
  if ((flags & lz4Flag.version) !== lz4Flag.versionOne || (flags & lz4Flag.reserved) !== 0) {
    throw corrupt(`lz4: unsupported frame flags 0x${flags.toString(16)}`);
  }
  const blockSizeCode = (blockDescriptor >> 4) & 0x07;
  if ((blockDescriptor & 0x8f) !== 0 || blockSizeCode < 4) {
    throw corrupt(`lz4: bad block descriptor 0x${blockDescriptor.toString(16)}`);
  }
  if (flags & lz4Flag.dictionaryId) throw corrupt('lz4: frames that need a preset dictionary are not supported');
  const blockBytesMax = 1 << (8 + 2 * blockSizeCode);
  let position = start + 6;
  const contentSizeBytes = flags & lz4Flag.contentSize ? 8 : 0;
  if (data.length - position < contentSizeBytes + 1) throw corrupt('lz4: truncated frame descriptor');
  let declared: number | undefined;
  if (contentSizeBytes !== 0) {
    const size = data.readBigUInt64LE(position);
    if (size > BigInt(output.roomBytes)) {
      throw corrupt(`lz4 frame declares ${size} bytes, beyond the limit of ${output.bytesMax} bytes`);
    }
    declared = Number(size);
    position += 8;
  }
  if (data[position] !== ((xxh32(data, start + 4, position) >>> 8) & 0xff)) {
    throw corrupt('lz4: frame descriptor checksum mismatch');
  }
  position += 1;
  if (declared !== undefined) output.reserve(declared);
  const frameStart = output.bytes;
  position = decodeLz4Blocks(data, position, { flags, blockBytesMax, output, frameStart });
  if (declared !== undefined && output.bytes - frameStart !== declared) {
    throw corrupt(`lz4: frame expands to ${output.bytes - frameStart} bytes but declares ${declared}`);
  }
  if (flags & lz4Flag.contentChecksum) {
    if (data.length - position < 4) throw corrupt('lz4: truncated content checksum');
    const content = output.view(frameStart);
    if (xxh32(content, 0, content.length) !== data.readUInt32LE(position)) throw corrupt('lz4: content checksum mismatch');
    position += 4;
  }
  return position;
}

interface Lz4BlockContext {
  readonly flags: number;
  readonly blockBytesMax: number;
  readonly output: Lz4Output;
  /** Where this frame's output starts: a linked block may refer back to it, not before. */
  readonly frameStart: number;
}

/** Decodes blocks up to and including the end mark; returns the position after it. */
function decodeLz4Blocks(data: Buffer, start: number, context: Lz4BlockContext): number {
  const { flags, blockBytesMax, output, frameStart } = context;
  const checksumBytes = flags & lz4Flag.blockChecksum ? 4 : 0;
  const linked = (flags & lz4Flag.blockIndependent) === 0;
  let position = start;
  for (;;) {
    if (data.length - position < 4) throw corrupt('lz4: truncated block size');
    const word = data.readUInt32LE(position);
    position += 4;
    if (word === 0) return position;
    const blockBytes = (word & ~lz4Uncompressed) >>> 0;
    if (blockBytes > blockBytesMax) throw corrupt(`lz4: block of ${blockBytes} bytes exceeds the frame's ${blockBytesMax}`);
    if (data.length - position < blockBytes + checksumBytes) throw corrupt('lz4: truncated block');
    const block = data.subarray(position, position + blockBytes);
    position += blockBytes;
    if (checksumBytes !== 0) {
      if (xxh32(block, 0, block.length) !== data.readUInt32LE(position)) throw corrupt('lz4: block checksum mismatch');
      position += 4;
    }
    if (word & lz4Uncompressed) {
      output.append(block);
    } else {
      // The decoder zeroes its whole output bound first, so keep it near what the block can produce.
      const boundBytes = Math.min(blockBytesMax, output.roomBytes, blockBytes * lz4ExpansionMax + 64);
      const window = linked && output.bytes > frameStart
        ? output.view(Math.max(frameStart, output.bytes - lz4WindowBytes))
        : undefined;
      output.append(lz4Block(block, boundBytes, window));
    }
  }
}

/** Expands one compressed block into at most `bytesMax` bytes. */
function lz4Block(block: Buffer, bytesMax: number, dictionary: Buffer | undefined): Buffer {
  // lz4-napi's block decoder reads its output bound from a u32le prefix.
  // Its errors reach `decompress`, which reports them with the caller's limit.
  const framed = Buffer.allocUnsafe(4 + block.length);
  framed.writeUInt32LE(bytesMax, 0);
  block.copy(framed, 4);
  return lz4.uncompressSync(framed, dictionary);
}

// ------------------------------------------------------------------------------------------ zstd

const zstdCompressor = new zstd.CCtx();
const zstdDecompressor = new zstd.DCtx();

function compressZstd(data: Buffer): Buffer {
  const output = Buffer.allocUnsafe(zstd.compressBound(data.length));
  const bytes = zstdCompressor.compress(output, data, zstdLevel);
  return output.subarray(0, bytes);
}

function decompressZstd(data: Buffer, bytesMax: number): Buffer {
  const declared = zstdDeclaredBytes(data);
  if (declared === null) return decompressZstdSteps(data, bytesMax);
  if (declared > bytesMax) throw tooLarge('zstd', declared, bytesMax);
  const output = Buffer.allocUnsafe(declared);
  const bytes = zstdDecompressor.decompress(output, data);
  if (bytes !== declared) throw corrupt(`zstd: frames expand to ${bytes} bytes but declare ${declared}`);
  return output;
}

/** Sum of the content sizes the frames declare, or null when a frame does not declare its size. */
function zstdDeclaredBytes(data: Buffer): number | null {
  if (data.length === 0) throw corrupt('zstd: no frame');
  let total = 0;
  let position = 0;
  while (position < data.length) {
    const frame = data.subarray(position);
    const bytes = zstd.getFrameContentSize(frame);
    if (bytes === null) return null;
    total += bytes;
    position += zstd.findFrameCompressedSize(frame);
  }
  return total;
}

/** Decodes in bounded steps; the output buffers add up to at most bytesMax + 1 bytes. */
function decompressZstdSteps(data: Buffer, bytesMax: number): Buffer {
  zstdDecompressor.reset(zstd.ResetDirective.sessionAndParameters);
  zstdDecompressor.setParameter(zstd.DParameter.windowLogMax, zstdWindowLogMax);
  const pieces: Buffer[] = [];
  let bytes = 0;
  let position = 0;
  let frameOpen = true;
  let stepBytes = Math.min(zstdStepBytesMax, Math.max(64 * 1024, data.length * 4));
  while (position < data.length || frameOpen) {
    const room = Math.min(stepBytes, bytesMax + 1 - bytes);
    const step = Buffer.allocUnsafe(room);
    const [remaining, produced, consumed] = zstdDecompressor.decompressStream(step, data.subarray(position));
    position += consumed;
    bytes += produced;
    if (produced > 0) pieces.push(step.subarray(0, produced));
    if (bytes > bytesMax) throw tooLarge('zstd', bytes, bytesMax);
    frameOpen = remaining !== 0;
    // Every step has room for output, so a step that moves nothing means the input cannot go on.
    if (produced === 0 && consumed === 0) throw corrupt('zstd: truncated or malformed frame');
    stepBytes = Math.min(zstdStepBytesMax, stepBytes * 2);
  }
  return Buffer.concat(pieces, bytes);
}
