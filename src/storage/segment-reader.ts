/**
 * Reading a segment: locating the batch that holds an offset (sparse index, then a short forward
 * walk over batch headers) and returning whole stored batches; finding the first record at or after
 * a timestamp (time index, then a walk over batch maxTimestamps). Reads never go past the segment's
 * readable bytes (the high watermark).
 */
import { WeirError } from '../util/errors.js';
import { batchAttributes, batchHeaderBytes, batchOffsets, decodeBatch } from '../format/record-batch.js';
import { readFully } from './file-system.js';
import type { Segment, SegmentContext } from './segment.js';

/** Extra bytes read past `bytesMax` so the walk from the index entry usually needs one read. */
const readSlackBytes = 64 * 1024;
const readBytesMin = 4096;
/** Cap on the decompressed records of one batch while searching by timestamp. */
const decompressedBytesMax = 256 * 1024 * 1024;
/** Bytes of a batch header needed to know its extent and last offset. */
const headerPrefixBytes = batchOffsets.lastOffsetDelta + 4;

function corrupt(segment: Segment, position: number, reason: string): WeirError {
  return new WeirError('CORRUPT_MESSAGE', `segment ${segment.logPath} is damaged at byte position ${position}: ${reason}`);
}

function batchBytesAt(segment: Segment, buffer: Buffer, at: number, filePosition: number, limit: number): number {
  const total = buffer.readInt32BE(at + batchOffsets.batchLength) + 12;
  if (total < batchHeaderBytes || filePosition + total > limit) {
    throw corrupt(segment, filePosition, `batch length ${total} does not fit below byte ${limit}`);
  }
  return total;
}

export async function readBatches(segment: Segment, context: SegmentContext, request: { offset: bigint; bytesMax: number }): Promise<Buffer> {
  const limit = segment.readableBytes;
  if (limit === 0 || request.offset >= segment.endOffset) return Buffer.alloc(0);
  const indexes = await segment.indexes();
  let position = indexes.offsetIndex.positionFloor(Number(request.offset - segment.baseOffset));
  if (position >= limit) position = 0;
  return context.handles.use(segment.logPath, async (handle) => {
    while (position < limit) {
      const want = Math.min(limit - position, Math.max(request.bytesMax, readBytesMin) + readSlackBytes);
      const buffer = Buffer.allocUnsafe(want);
      const got = await readFully(context.fileSystem, handle, buffer, want, position);
      if (got < Math.min(want, headerPrefixBytes)) throw corrupt(segment, position, `file ends after ${got} bytes, expected ${want}`);
      let at = 0;
      while (at + headerPrefixBytes <= got) {
        const total = batchBytesAt(segment, buffer, at, position + at, limit);
        const lastOffset = buffer.readBigInt64BE(at) + BigInt(buffer.readInt32BE(at + batchOffsets.lastOffsetDelta));
        if (lastOffset >= request.offset) {
          if (at + total > got) return readExactly(segment, context, handle, position + at, total);
          let end = at + total;
          while (end + headerPrefixBytes <= got) {
            const next = buffer.readInt32BE(end + batchOffsets.batchLength) + 12;
            // Damage after good batches: they are returned, and the read that starts there reports it.
            if (next < batchHeaderBytes || position + end + next > limit) break;
            if (end + next > got || end + next - at > request.bytesMax) break;
            end += next;
          }
          return buffer.subarray(at, end);
        }
        at += total;
      }
      if (at === 0) throw corrupt(segment, position, 'no batch header could be read');
      position += at;
    }
    return Buffer.alloc(0);
  });
}

async function readExactly(segment: Segment, context: SegmentContext, handle: number, position: number, bytes: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(bytes);
  const got = await readFully(context.fileSystem, handle, buffer, bytes, position);
  if (got !== bytes) throw corrupt(segment, position, `file ends ${bytes - got} bytes short of the batch`);
  return buffer;
}

/** The first record of `segment` with timestamp >= `timestampMs`, or null. */
export async function findRecordAtTime(
  segment: Segment,
  context: SegmentContext,
  timestampMs: number,
): Promise<{ offset: bigint; timestampMs: number } | null> {
  const indexes = await segment.indexes();
  const limit = segment.readableBytes;
  let position = indexes.offsetIndex.positionFloor(indexes.timeIndex.relativeOffsetFloor(timestampMs));
  if (position >= limit) position = 0;
  const header = Buffer.allocUnsafe(batchHeaderBytes);
  return context.handles.use(segment.logPath, async (handle) => {
    while (position + batchHeaderBytes <= limit) {
      const got = await readFully(context.fileSystem, handle, header, batchHeaderBytes, position);
      if (got !== batchHeaderBytes) throw corrupt(segment, position, 'short batch header');
      const total = batchBytesAt(segment, header, 0, position, limit);
      const maxTimestampMs = Number(header.readBigInt64BE(batchOffsets.maxTimestamp));
      if (maxTimestampMs >= timestampMs) {
        const found = await recordAtTime(segment, context, handle, { position, total, timestampMs, maxTimestampMs });
        if (found !== null) return found;
      }
      position += total;
    }
    return null;
  });
}

async function recordAtTime(
  segment: Segment,
  context: SegmentContext,
  handle: number,
  batch: { position: number; total: number; timestampMs: number; maxTimestampMs: number },
): Promise<{ offset: bigint; timestampMs: number } | null> {
  const bytes = await readExactly(segment, context, handle, batch.position, batch.total);
  const attributes = bytes.readInt16BE(batchOffsets.attributes);
  if ((attributes & batchAttributes.timestampLogAppend) !== 0) {
    return { offset: bytes.readBigInt64BE(batchOffsets.baseOffset), timestampMs: batch.maxTimestampMs };
  }
  const { records } = decodeBatch(bytes, 0, { decompressedBytesMax, crcVerified: true });
  for (const record of records) {
    if (record.timestamp >= batch.timestampMs) return { offset: record.offset, timestampMs: record.timestamp };
  }
  return null;
}
