/**
 * RecordBatch v2 (magic 2), the unit Weir stores on disk and carries on every wire.
 *
 * Byte layout (all integers big-endian; docs/format/record-batch.md has the full description):
 *
 *   offset  size  field
 *        0     8  baseOffset             int64   assigned by the log on append
 *        8     4  batchLength            int32   bytes after this field (total - 12)
 *       12     4  partitionLeaderEpoch   int32
 *       16     1  magic                  int8    always 2
 *       17     4  crc                    uint32  CRC-32C of bytes 21..end
 *       21     2  attributes             int16   bits 0-2 compression, 3 timestamp type,
 *                                                4 transactional, 5 control, 6 delete horizon
 *       23     4  lastOffsetDelta        int32
 *       27     8  baseTimestamp          int64
 *       35     8  maxTimestamp           int64
 *       43     8  producerId             int64   -1 when not idempotent
 *       51     2  producerEpoch          int16
 *       53     4  baseSequence           int32
 *       57     4  recordCount            int32
 *       61     …  records (compressed as a whole when attributes say so)
 *
 * Each record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 * key (varint length, -1 = null), value (likewise), header count varint, then per header a key
 * (varint length + UTF-8) and a value (varint length, -1 = null).
 *
 * The CRC does not cover baseOffset or partitionLeaderEpoch, so the log can stamp those without
 * recomputing it; everything else is stored exactly as produced.
 */
import { ByteReader } from './byte-reader.js';
import { compress, decompress, type CompressionCodec } from './compression.js';
import { crc32c } from './crc32c.js';
import { varintSize, varlongSize, writeVarint, writeVarlong } from './varint.js';
import { WeirError } from '../util/errors.js';

export const batchOffsets = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
  records: 61,
} as const;

export const batchHeaderBytes = 61;
/** The part of the header before batchLength's coverage starts: baseOffset + batchLength. */
export const batchLogOverheadBytes = 12;
export const batchMagic = 2;
/** Hard ceiling for one batch, whatever the configuration says (Kafka's int32 length field). */
export const batchBytesMaxHard = 0x7fff_ffff;

export const batchAttributes = {
  compressionMask: 0x07,
  timestampLogAppend: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record as an application hands it over. */
export interface RecordInput {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
  /** Milliseconds since the epoch; defaults to the time the record is added. */
  timestamp?: number;
}

/** A record read back from a batch. */
export interface DecodedRecord {
  offset: bigint;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** The fixed-size part of a batch, parsed. */
export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface DecodedBatch {
  header: BatchHeader;
  records: DecodedRecord[];
}

export interface DecodeOptions {
  /** Upper bound for the records section after decompression. */
  decompressedBytesMax: number;
  /** Skip the CRC check (the caller verified it already). */
  crcVerified?: boolean;
}

/** Total bytes of the batch starting at `position`, from its length field (unchecked). */
export function batchTotalBytes(buffer: Buffer, position = 0): number {
  return buffer.readInt32BE(position + batchOffsets.batchLength) + batchLogOverheadBytes;
}

export function readBatchHeader(buffer: Buffer, position = 0): BatchHeader {
  const reader = new ByteReader(buffer, { start: position, what: 'record batch header' });
  reader.need(batchHeaderBytes, 'header');
  return {
    baseOffset: reader.int64(),
    batchLength: reader.int32(),
    partitionLeaderEpoch: reader.int32(),
    magic: reader.int8(),
    crc: reader.uint32(),
    attributes: reader.int16(),
    lastOffsetDelta: reader.int32(),
    baseTimestamp: reader.int64Number('baseTimestamp'),
    maxTimestamp: reader.int64Number('maxTimestamp'),
    producerId: reader.int64(),
    producerEpoch: reader.int16(),
    baseSequence: reader.int32(),
    recordCount: reader.int32(),
  };
}

export function batchCompression(attributes: number): CompressionCodec {
  const codec = attributes & batchAttributes.compressionMask;
  if (codec > 4) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: unknown compression codec ${codec}`);
  }
  return codec as CompressionCodec;
}

/**
 * Checks the frame of the batch at `position`: that its length field fits the buffer and the
 * limit, that the magic is 2 and that the CRC matches. Returns the batch's total size in bytes.
 * Does not look inside the records.
 */
export function verifyBatchFrame(buffer: Buffer, position: number, bytesMax: number): number {
  const available = buffer.length - position;
  if (available < batchHeaderBytes) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: ${available} bytes is shorter than the ${batchHeaderBytes}-byte header`);
  }
  const batchLength = buffer.readInt32BE(position + batchOffsets.batchLength);
  const total = batchLength + batchLogOverheadBytes;
  if (batchLength < batchHeaderBytes - batchLogOverheadBytes) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: length ${batchLength} is shorter than the header`);
  }
  if (total > bytesMax) {
    throw new WeirError('MESSAGE_TOO_LARGE', `record batch of ${total} bytes exceeds the limit of ${bytesMax} bytes`);
  }
  if (total > available) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: length says ${total} bytes but ${available} are present`);
  }
  const magic = buffer.readInt8(position + batchOffsets.magic);
  if (magic !== batchMagic) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: magic ${magic} is not supported (only 2)`);
  }
  const stored = buffer.readUInt32BE(position + batchOffsets.crc);
  const computed = crc32c(buffer.subarray(position + batchOffsets.attributes, position + total));
  if (stored !== computed) {
    throw new WeirError(
      'CORRUPT_MESSAGE',
      `record batch: CRC mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
    );
  }
  return total;
}

/**
 * The most a batch's records may take once decompressed: a batch that inflates past it is refused
 * when produced and cannot be read (a guard against decompression bombs).
 */
export const decompressedBytesMax = 64 * 1024 * 1024;

/**
 * Full validation of one batch for appending: the frame (verifyBatchFrame), a sane record count
 * that agrees with lastOffsetDelta, and a walk over every record (decompressed first when the
 * batch is compressed) proving that exactly `recordCount` well-formed records fill the batch:
 * each record's fields lie inside it and fill it, offset deltas stay within the batch, lengths
 * are -1 (null) or more, header keys are not null. Consumers can then read every stored batch.
 * A control batch is refused (INVALID_RECORD): consumers skip them, so one stored from a client
 * would be acknowledged and never delivered.
 *
 * Then the timestamps: with `timestampAhead`, a record (baseTimestamp + its delta) or a header
 * maxTimestamp further ahead of the clock than it allows is refused (INVALID_TIMESTAMP), as Kafka
 * checks each record's timestamp; the header's too, because the log keeps it as sent and its
 * time index and retention go by it. `timestampBehind` does the same for a record or header
 * maxTimestamp further behind the clock (the oldest record is baseTimestamp + the least delta,
 * so both bounds cost a comparison each, not a second walk). Last, every timestamp, header and record, must be a safe integer (within ±(2^53 - 1))
 * for it to be read back exactly (CORRUPT_MESSAGE): the bound comes first, so that a timestamp in
 * nanoseconds is answered as too far ahead.
 */
export function validateBatch(buffer: Buffer, position: number, bytesMax: number, options: ValidateOptions = {}): number {
  const total = verifyBatchFrame(buffer, position, bytesMax);
  const recordCount = buffer.readInt32BE(position + batchOffsets.recordCount);
  const lastOffsetDelta = buffer.readInt32BE(position + batchOffsets.lastOffsetDelta);
  if (recordCount <= 0) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: record count ${recordCount} (a batch holds at least one record)`);
  }
  if (lastOffsetDelta !== recordCount - 1) {
    throw new WeirError(
      'CORRUPT_MESSAGE',
      `record batch: lastOffsetDelta ${lastOffsetDelta} does not match record count ${recordCount}`,
    );
  }
  const attributes = buffer.readInt16BE(position + batchOffsets.attributes);
  if ((attributes & batchAttributes.control) !== 0) {
    throw new WeirError('INVALID_RECORD', 'record batch: a control batch (attribute bit 5) is written by brokers only, never produced');
  }
  const codec = batchCompression(attributes);
  let section: Buffer;
  if (codec === 0) {
    section = buffer.subarray(position + batchHeaderBytes, position + total);
  } else {
    section = decompress(codec, buffer.subarray(position + batchHeaderBytes, position + total), decompressedBytesMax); // CORRUPT_MESSAGE
  }
  try {
    checkRecords(section, recordCount);
  } finally {
    walk.buffer = noBytes; // the walk keeps no batch alive
  }
  checkTimestamps(buffer, position, options);
  return total;
}

/** How far from the clock (`nowMs`), ahead or behind, a timestamp may be. */
export interface TimestampBound {
  nowMs: number;
  msMax: number;
}

export interface ValidateOptions {
  /** How far ahead; null or absent: no bound. */
  timestampAhead?: TimestampBound | null;
  /** How far behind; null or absent: no bound. */
  timestampBehind?: TimestampBound | null;
}

/** Refuses `timestampMs`, further `direction` of the clock than `bound` allows. */
function refuseTimestamp(what: string, timestampMs: number, bound: TimestampBound, direction: 'ahead' | 'behind'): never {
  const [distanceMs, relation, setting] =
    direction === 'ahead' ? [timestampMs - bound.nowMs, 'ahead of', 'timestampAheadMsMax'] : [bound.nowMs - timestampMs, 'behind', 'timestampBehindMsMax'];
  throw new WeirError('INVALID_TIMESTAMP', `record batch: ${what} ${timestampMs} is ${distanceMs} ms ${relation} the broker's clock; ${setting} is ${bound.msMax}`);
}

/** The timestamp checks of validateBatch, on the header and on the record deltas the walk left in `walk`. */
/** A record's or batch's timestamp when the producer gave none. */
const noTimestamp = -1;

function checkTimestamps(buffer: Buffer, position: number, { timestampAhead: ahead = null, timestampBehind: behind = null }: ValidateOptions): void {
  const baseMs = int64Nearest(buffer, position + batchOffsets.baseTimestamp);
  const maxMs = int64Nearest(buffer, position + batchOffsets.maxTimestamp);
  // Past 2^53 these sums are approximate, and so far past any bound either way.
  const recordMaxMs = baseMs + walk.deltaMax;
  const recordMinMs = baseMs + walk.deltaMin;
  if (ahead !== null) {
    if (recordMaxMs - ahead.nowMs > ahead.msMax) refuseTimestamp("a record's timestamp", recordMaxMs, ahead, 'ahead');
    if (maxMs - ahead.nowMs > ahead.msMax) refuseTimestamp('maxTimestamp', maxMs, ahead, 'ahead');
  }
  // "No timestamp" (-1) is no time at all, not one far behind: exempt, as Kafka exempts it (time
  // retention ages a segment without timestamps by its file's time).
  if (behind !== null) {
    if (recordMinMs !== noTimestamp && behind.nowMs - recordMinMs > behind.msMax) refuseTimestamp("a record's timestamp", recordMinMs, behind, 'behind');
    if (maxMs !== noTimestamp && behind.nowMs - maxMs > behind.msMax) refuseTimestamp('maxTimestamp', maxMs, behind, 'behind');
  }
  if (!Number.isSafeInteger(baseMs) || !Number.isSafeInteger(maxMs)) {
    const [base, max] = [batchOffsets.baseTimestamp, batchOffsets.maxTimestamp].map((at) => buffer.readBigInt64BE(position + at));
    throw new WeirError('CORRUPT_MESSAGE', `record batch: baseTimestamp ${base} or maxTimestamp ${max} is outside the safe integer range`);
  }
  if (!Number.isSafeInteger(recordMaxMs) || !Number.isSafeInteger(recordMinMs)) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: a record's timestamp (${recordMinMs} to ${recordMaxMs}) is outside the safe integer range`);
  }
}

/** The int64 at `at` as a number: exact when it is a safe integer, otherwise the nearest (never a safe integer). */
function int64Nearest(buffer: Buffer, at: number): number {
  return buffer.readInt32BE(at) * 0x1_0000_0000 + buffer.readUInt32BE(at + 4);
}

/** Walks `recordCount` records without copying anything; throws CORRUPT_MESSAGE naming the first fault. */
function checkRecords(section: Buffer, recordCount: number): void {
  // Plain reads on the buffer rather than ByteReader's: this runs for every record produced.
  walk.buffer = section;
  walk.at = 0;
  let deltaMin = Infinity;
  let deltaMax = -Infinity;
  const sectionEnd = section.length;
  for (let i = 0; i < recordCount; i++) {
    const length = walkVarint(sectionEnd);
    if (length < 0 || length > sectionEnd - walk.at) recordFault(i, `its length ${length} does not fit the ${sectionEnd - walk.at} bytes left`);
    const end = walk.at + length;
    if (end - walk.at < 1) recordFault(i, 'it has no attributes byte');
    walk.at += 1; // attributes
    const timestampDelta = walkTimestampDelta(end);
    if (timestampDelta > deltaMax) deltaMax = timestampDelta;
    if (timestampDelta < deltaMin) deltaMin = timestampDelta;
    const offsetDelta = walkVarint(end);
    if (offsetDelta < 0 || offsetDelta >= recordCount) recordFault(i, `offset delta ${offsetDelta} is outside the batch's ${recordCount} records`);
    walkBytes(end, i, 'key');
    walkBytes(end, i, 'value');
    const headerCount = walkVarint(end);
    if (headerCount < 0 || headerCount > (end - walk.at) / 2) recordFault(i, `header count ${headerCount} does not fit in ${end - walk.at} bytes`);
    for (let h = 0; h < headerCount; h++) {
      const keyLength = walkVarint(end);
      if (keyLength < 0) recordFault(i, `header key length ${keyLength} is negative`);
      walkBytesAfterLength(end, i, 'header key', keyLength);
      walkBytes(end, i, 'header value');
    }
    if (walk.at !== end) recordFault(i, `${end - walk.at} bytes are left inside the record`);
  }
  if (walk.at !== sectionEnd) throw new WeirError('CORRUPT_MESSAGE', `record batch: ${sectionEnd - walk.at} bytes follow the last of ${recordCount} records`);
  walk.deltaMin = deltaMin;
  walk.deltaMax = deltaMax;
}

/**
 * The section being walked, the position in it, and the least and greatest record timestamp
 * delta seen (one walk at a time: validation is synchronous).
 */
const noBytes = Buffer.alloc(0);
const walk: { buffer: Buffer; at: number; deltaMin: number; deltaMax: number } = { buffer: noBytes, at: 0, deltaMin: 0, deltaMax: 0 };

function recordFault(index: number, what: string): never {
  throw new WeirError('CORRUPT_MESSAGE', `record batch: record ${index}: ${what}`);
}

/** A zigzag varint (32 bits) at `walk.at`, not reading past `end`. */
function walkVarint(end: number): number {
  const buffer = walk.buffer;
  let raw = 0;
  let shift = 0;
  for (;;) {
    if (walk.at >= end) throw new WeirError('CORRUPT_MESSAGE', 'record batch: a varint runs past its record');
    const byte = buffer[walk.at++]!;
    raw |= (byte & 0x7f) << shift;
    if (byte < 0x80) break;
    shift += 7;
    if (shift > 28) throw new WeirError('CORRUPT_MESSAGE', 'record batch: a varint is longer than 5 bytes');
  }
  return (raw >>> 1) ^ -(raw & 1);
}

/**
 * A zigzag varlong (up to 10 bytes) at `walk.at`, not reading past `end`, as a number: exact
 * when it is a safe integer, otherwise the nearest number (never a safe integer, sign kept).
 */
function walkTimestampDelta(end: number): number {
  // One or two bytes (a delta within ±8191 ms) is the common case, kept small enough to inline.
  const buffer = walk.buffer;
  const start = walk.at;
  let raw = start < end ? buffer[start]! : 0x80;
  if (raw >= 0x80) {
    const second = start + 1 < end ? buffer[start + 1]! : 0x80;
    if (second >= 0x80) return walkLongTimestampDelta(end);
    raw = (raw & 0x7f) | (second << 7);
    walk.at = start + 2;
  } else {
    walk.at = start + 1;
  }
  return (raw >>> 1) ^ -(raw & 1);
}

function walkLongTimestampDelta(end: number): number {
  const buffer = walk.buffer;
  const start = walk.at;
  let raw = 0;
  let multiplier = 1;
  let bytes = 1;
  for (; ; bytes++) {
    if (walk.at >= end) throw new WeirError('CORRUPT_MESSAGE', 'record batch: a varlong runs past its record');
    const byte = buffer[walk.at++]!;
    raw += (byte & 0x7f) * multiplier;
    if (byte < 0x80) break;
    if (bytes === 10) throw new WeirError('CORRUPT_MESSAGE', 'record batch: a varlong is longer than 10 bytes');
    multiplier *= 128;
  }
  // Up to 7 bytes (49 bits) the sum is exact; longer ones (a delta of 2^48 ms or more) are rare.
  if (bytes <= 7) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  if (bytes === 10 && buffer[start + 9]! > 0x01) throw new WeirError('CORRUPT_MESSAGE', 'record batch: a varlong overflows 64 bits');
  let big = 0n;
  for (let i = bytes - 1; i >= 0; i--) big = (big << 7n) | BigInt(buffer[start + i]! & 0x7f);
  return Number((big >> 1n) ^ -(big & 1n));
}

/** Skips a byte field with a varint length (-1: null). */
function walkBytes(end: number, index: number, field: string): void {
  walkBytesAfterLength(end, index, field, walkVarint(end));
}

function walkBytesAfterLength(end: number, index: number, field: string, length: number): void {
  if (length < -1) recordFault(index, `${field} length ${length} is negative`);
  if (length > end - walk.at) recordFault(index, `${field} length ${length} runs past the record`);
  if (length > 0) walk.at += length;
}

/** Decodes one whole batch at `position` (records included, decompressing with a cap). */
export function decodeBatch(buffer: Buffer, position: number, options: DecodeOptions): DecodedBatch {
  const total = options.crcVerified
    ? batchTotalBytes(buffer, position)
    : verifyBatchFrame(buffer, position, batchBytesMaxHard);
  const header = readBatchHeader(buffer, position);
  if (header.recordCount < 0) {
    throw new WeirError('CORRUPT_MESSAGE', `record batch: negative record count ${header.recordCount}`);
  }
  if (total < batchHeaderBytes) throw new WeirError('CORRUPT_MESSAGE', `record batch: ${total} bytes is shorter than the header`);
  const body = batchRecordSection(buffer, position, header, options.decompressedBytesMax);
  // A record takes at least 7 bytes (length, attributes, three varints, two null lengths, header count):
  // checked before the array is sized, so a lying count cannot allocate.
  if (header.recordCount > Math.ceil(body.length / 7)) {
    throw new WeirError(
      'CORRUPT_MESSAGE',
      `record batch: ${header.recordCount} records cannot fit in ${body.length} bytes`,
    );
  }
  const reader = new ByteReader(body, { what: 'record batch records' });
  const records: DecodedRecord[] = new Array(header.recordCount);
  for (let i = 0; i < header.recordCount; i++) {
    records[i] = readRecord(reader, header.baseOffset, header.baseTimestamp);
  }
  if (reader.remaining !== 0) reader.fail(`${reader.remaining} bytes follow the last record`);
  return { header, records };
}

function readRecord(reader: ByteReader, baseOffset: bigint, baseTimestamp: number): DecodedRecord {
  const length = reader.varint('record length');
  if (length < 0) reader.fail(`record length ${length} is negative`);
  reader.need(length, 'record');
  // The record's fields must lie inside it: the reader stops at its end while they are read.
  const end = reader.position + length;
  const sectionEnd = reader.end;
  reader.end = end;
  reader.int8('record attributes');
  const timestampDelta = reader.varlong('timestampDelta');
  const offsetDelta = reader.varint('offsetDelta');
  const key = reader.varintBytes('key');
  const value = reader.varintBytes('value');
  const headers = readHeaders(reader);
  if (reader.remaining !== 0) reader.fail(`${reader.remaining} bytes left inside the record`);
  reader.end = sectionEnd;
  return {
    offset: baseOffset + BigInt(offsetDelta),
    timestamp: baseTimestamp + timestampDelta,
    key,
    value,
    headers,
  };
}

/** A record's header count and headers, from the reader's position. */
function readHeaders(reader: ByteReader): RecordHeader[] {
  const headerCount = reader.varint('header count');
  // A header takes at least 2 bytes (two varint lengths).
  if (headerCount < 0 || headerCount > reader.remaining / 2) {
    reader.fail(`header count ${headerCount} does not fit in ${reader.remaining} bytes`);
  }
  const headers: RecordHeader[] = new Array(headerCount);
  for (let h = 0; h < headerCount; h++) {
    const keyLength = reader.varint('header key length');
    if (keyLength < 0) reader.fail(`header key length ${keyLength} is negative`);
    const headerKey = reader.bytes(keyLength, 'header key').toString('utf8');
    headers[h] = { key: headerKey, value: reader.varintBytes('header value') };
  }
  return headers;
}

/**
 * Decodes a run of whole records cut out of a batch's (uncompressed) record section, such as a
 * queue delivery carries: offsets and timestamps are relative to the batch's base values.
 */
export function decodeRecords(records: Buffer, baseOffset: bigint, baseTimestamp: number): DecodedRecord[] {
  const reader = new ByteReader(records, { what: 'records' });
  const out: DecodedRecord[] = [];
  while (reader.remaining > 0) out.push(readRecord(reader, baseOffset, baseTimestamp));
  return out;
}

/** The record section of the batch at `position`, decompressed when needed (with a cap). */
export function batchRecordSection(buffer: Buffer, position: number, header: BatchHeader, decompressedBytesMax: number): Buffer {
  const body = buffer.subarray(position + batchHeaderBytes, position + header.batchLength + batchLogOverheadBytes);
  const codec = batchCompression(header.attributes);
  return codec === 0 ? body : decompress(codec, body, decompressedBytesMax);
}

/**
 * Walks the records of a record section without decoding their keys, values or headers: after
 * each `next()` the fields describe one record. Used where records are passed on as they are
 * stored (queue deliveries) and where a queue consumer takes views of their keys and values.
 * Throws CORRUPT_MESSAGE on a malformed record.
 */
export class RecordCursor {
  readonly #reader: ByteReader;
  /** The record's bytes in the section, its length prefix included. */
  start = 0;
  end = 0;
  offsetDelta = 0;
  timestampDelta = 0;
  /** The key's bytes (keyLength -1: no key). */
  keyStart = 0;
  keyLength = -1;
  /** The value's bytes (valueLength -1: no value). */
  valueStart = 0;
  valueLength = -1;
  /** Where the header count starts, and the count. */
  headersStart = 0;
  headerCount = 0;

  constructor(section: Buffer) {
    this.#reader = new ByteReader(section, { what: 'record batch records' });
  }

  /** Moves to the next record; false at the end of the section. */
  next(): boolean {
    const reader = this.#reader;
    if (reader.remaining === 0) return false;
    this.start = reader.position;
    const length = reader.varint('record length');
    if (length < 0) reader.fail(`record length ${length} is negative`);
    reader.need(length, 'record');
    const end = reader.position + length;
    reader.position += 1; // attributes
    this.timestampDelta = reader.varlong('timestampDelta');
    this.offsetDelta = reader.varint('offsetDelta');
    this.keyLength = reader.varint('key length');
    this.keyStart = reader.position;
    if (this.keyLength > 0) reader.position += this.keyLength;
    const valueLength = reader.varint('value length');
    this.valueStart = reader.position;
    this.valueLength = valueLength;
    if (valueLength > 0) reader.position += valueLength;
    this.headersStart = reader.position;
    this.headerCount = reader.varint('header count');
    if (reader.position > end || this.keyLength < -1 || valueLength < -1 || this.headerCount < 0) reader.fail('record fields overrun the record');
    reader.position = end;
    this.end = end;
    return true;
  }

  /** The current record's headers (decoded on demand: most records have none). */
  headers(): RecordHeader[] {
    return readHeaders(new ByteReader(this.#reader.buffer, { start: this.headersStart, end: this.end, what: 'record headers' }));
  }
}

/**
 * Splits a byte run of consecutive whole batches (as a log read returns them) into their
 * positions. A trailing partial batch is ignored, as Kafka clients ignore one.
 */
export function* batchPositions(buffer: Buffer): Generator<{ position: number; bytes: number }> {
  let position = 0;
  while (buffer.length - position >= batchHeaderBytes) {
    const bytes = batchTotalBytes(buffer, position);
    if (bytes < batchHeaderBytes || bytes > buffer.length - position) return;
    yield { position, bytes };
    position += bytes;
  }
}

/** Decodes every whole batch in a byte run; `offsetMin` drops records before it. */
export function decodeBatches(buffer: Buffer, options: DecodeOptions & { offsetMin?: bigint }): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  for (const { position } of batchPositions(buffer)) {
    const { records } = decodeBatch(buffer, position, options);
    for (const record of records) {
      if (options.offsetMin === undefined || record.offset >= options.offsetMin) out.push(record);
    }
  }
  return out;
}

export interface BuildOptions {
  compression?: CompressionCodec;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
}

const builderBytesInitial = 4096;

/**
 * Buffers of sent batches handed back once nothing refers to them any more, for builders to
 * build new batches in (a producer's batches come and go at the same size; reusing their memory
 * spares an allocation and the garbage collector's work per batch). Keeps at most `max`.
 */
export class BatchBufferPool {
  readonly #free: Buffer[] = [];
  /** The memory this pool's builders allocated: only that is taken back. */
  readonly #own = new WeakSet<ArrayBufferLike>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** A buffer of at least `bytes` (a free one if there is one). */
  take(bytes: number): Buffer {
    const free = this.#free.pop();
    if (free !== undefined && free.length >= bytes) return free;
    return this.allocate(bytes);
  }

  allocate(bytes: number): Buffer {
    const buffer = Buffer.allocUnsafeSlow(bytes);
    this.#own.add(buffer.buffer);
    return buffer;
  }

  /** `batch` was built by a builder of this pool and is no longer read or written by anyone. */
  give(batch: Buffer): void {
    if (this.#free.length >= this.#max || batch.byteOffset !== 0 || !this.#own.has(batch.buffer)) return;
    this.#free.push(Buffer.from(batch.buffer, 0, batch.buffer.byteLength));
  }
}

/**
 * Accumulates records into one batch without per-record allocations beyond the caller's own
 * buffers: each `add` writes the record's bytes into a growing buffer after room for the header.
 * `build` fills in the header (compressing the records first if asked), computes the CRC and
 * starts the builder afresh. A batch that fills at least half of the buffer is returned in it without a copy, and the builder
 * takes a new buffer of the same size for its next batch; with a pool, from the pool.
 */
export class RecordBatchBuilder {
  #buffer: Buffer | null = null;
  /** The size of the next buffer to take. */
  #capacity = builderBytesInitial;
  #end = batchHeaderBytes;
  #count = 0;
  #baseTimestamp = 0;
  #maxTimestamp = -1;
  readonly #pool: BatchBufferPool | null;

  constructor(pool: BatchBufferPool | null = null) {
    this.#pool = pool;
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes of the batch if built now, without compression. */
  get sizeBytes(): number {
    return this.#end;
  }

  /** Bytes `record` will add (for deciding whether it still fits). */
  static recordSizeBytes(record: RecordInput, timestampDelta = 0, offsetDelta = 0): number {
    const inner = recordInnerBytes(record, timestampDelta, offsetDelta);
    return varintSize(inner) + inner;
  }

  add(record: RecordInput): void {
    const timestamp = record.timestamp ?? Date.now();
    if (this.#count === 0) this.#baseTimestamp = timestamp;
    if (timestamp > this.#maxTimestamp) this.#maxTimestamp = timestamp;
    const timestampDelta = timestamp - this.#baseTimestamp;
    const offsetDelta = this.#count;
    const inner = recordInnerBytes(record, timestampDelta, offsetDelta);
    const body = this.#ensure(varintSize(inner) + inner);
    let p = writeVarint(body, this.#end, inner);
    body[p++] = 0; // record attributes: unused
    p = writeVarlong(body, p, timestampDelta);
    p = writeVarint(body, p, offsetDelta);
    p = writeNullableBytes(body, p, record.key ?? null);
    p = writeNullableBytes(body, p, record.value);
    const headers = record.headers;
    if (headers == null) body[p++] = 0; // no headers: a zero count
    else p = writeHeaders(body, p, headers);
    this.#end = p;
    this.#count++;
  }

  /** The batch of the records added so far; the builder is then empty, for the next batch. */
  build(options: BuildOptions = {}): Buffer {
    if (this.#count === 0) throw new WeirError('INVALID_REQUEST', 'a record batch needs at least one record');
    const codec = options.compression ?? 0;
    const buffer = this.#buffer!;
    let batch: Buffer;
    if (codec === 0 && this.#end * 2 >= buffer.length) {
      batch = buffer.subarray(0, this.#end);
      this.#buffer = null; // the batch keeps it; the next batch is built in a new one
    } else {
      const raw = buffer.subarray(batchHeaderBytes, this.#end);
      const records = codec === 0 ? raw : compress(codec, raw);
      batch = Buffer.allocUnsafe(batchHeaderBytes + records.length);
      records.copy(batch, batchHeaderBytes);
    }
    batch.writeBigInt64BE(options.baseOffset ?? 0n, batchOffsets.baseOffset);
    batch.writeInt32BE(batch.length - batchLogOverheadBytes, batchOffsets.batchLength);
    batch.writeInt32BE(options.partitionLeaderEpoch ?? -1, batchOffsets.partitionLeaderEpoch);
    batch.writeInt8(batchMagic, batchOffsets.magic);
    batch.writeInt16BE(codec | (options.transactional ? batchAttributes.transactional : 0), batchOffsets.attributes);
    batch.writeInt32BE(this.#count - 1, batchOffsets.lastOffsetDelta);
    batch.writeBigInt64BE(BigInt(this.#baseTimestamp), batchOffsets.baseTimestamp);
    batch.writeBigInt64BE(BigInt(this.#maxTimestamp), batchOffsets.maxTimestamp);
    batch.writeBigInt64BE(options.producerId ?? -1n, batchOffsets.producerId);
    batch.writeInt16BE(options.producerEpoch ?? -1, batchOffsets.producerEpoch);
    batch.writeInt32BE(options.baseSequence ?? -1, batchOffsets.baseSequence);
    batch.writeInt32BE(this.#count, batchOffsets.recordCount);
    batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
    this.reset();
    return batch;
  }

  reset(): void {
    this.#end = batchHeaderBytes;
    this.#count = 0;
    this.#maxTimestamp = -1;
  }

  /** The buffer, with room for `extra` more bytes. */
  #ensure(extra: number): Buffer {
    const needed = this.#end + extra;
    let buffer = this.#buffer;
    if (buffer === null) {
      // A new batch (nothing written yet: #end is the header's size).
      while (this.#capacity < needed) this.#capacity *= 2;
      buffer = this.#buffer = this.#pool?.take(this.#capacity) ?? Buffer.allocUnsafeSlow(this.#capacity);
      this.#capacity = buffer.length;
      return buffer;
    }
    if (needed <= buffer.length) return buffer;
    let size = buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = this.#pool?.allocate(size) ?? Buffer.allocUnsafeSlow(size);
    buffer.copy(grown, 0, 0, this.#end);
    this.#buffer = grown;
    this.#capacity = size;
    return grown;
  }
}

/** Encodes `records` as one batch. */
export function encodeBatch(records: readonly RecordInput[], options: BuildOptions = {}): Buffer {
  const builder = new RecordBatchBuilder();
  for (const record of records) builder.add(record);
  return builder.build(options);
}

/** Rewrites the base offset of the batch at `position` in place (not covered by the CRC). */
export function stampBaseOffset(buffer: Buffer, position: number, baseOffset: bigint): void {
  buffer.writeBigInt64BE(baseOffset, position + batchOffsets.baseOffset);
}

function recordInnerBytes(record: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let bytes = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta);
  bytes += nullableBytesSize(record.key ?? null) + nullableBytesSize(record.value);
  const headers = record.headers;
  if (headers == null) return bytes + 1; // a zero header count
  bytes += varintSize(headers.length);
  for (const header of headers) {
    const keyBytes = Buffer.byteLength(header.key);
    bytes += varintSize(keyBytes) + keyBytes + nullableBytesSize(header.value);
  }
  return bytes;
}

function writeHeaders(body: Buffer, position: number, headers: readonly RecordHeader[]): number {
  let p = writeVarint(body, position, headers.length);
  for (const header of headers) {
    const keyBytes = Buffer.byteLength(header.key);
    p = writeVarint(body, p, keyBytes);
    p += body.write(header.key, p, 'utf8');
    p = writeNullableBytes(body, p, header.value);
  }
  return p;
}

function nullableBytesSize(bytes: Buffer | null): number {
  return bytes === null ? 1 : varintSize(bytes.length) + bytes.length;
}

function writeNullableBytes(buffer: Buffer, position: number, bytes: Buffer | null): number {
  if (bytes === null) return writeVarint(buffer, position, -1);
  position = writeVarint(buffer, position, bytes.length);
  buffer.set(bytes, position); // cheaper than bytes.copy() for the small values records mostly hold
  return position + bytes.length;
}
