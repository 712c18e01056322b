/**
 * Walks the batches of a segment file, checking each one as recovery requires: a whole header, a
 * length that fits the file and the limit, magic 2 and the CRC (verifyBatchFrame), and offsets that
 * increase (the first batch of a segment starts at the segment's base offset). Stops at the first
 * batch that fails and reports where and why; `findValidBatchAfter` then tells a torn tail (nothing
 * valid follows) from damage in the middle (valid data follows).
 */
import { batchHeaderBytes, batchOffsets, batchBytesMaxHard, verifyBatchFrame } from '../format/record-batch.js';
import { WeirError } from '../util/errors.js';
import { errorMessageOf } from './storage-errors.js';
import { readFully, type FileSystem } from './file-system.js';

export const scanChunkBytes = 1024 * 1024;
/** Read size of a walk over batch headers only: a few small batches per read, not a large one's body. */
const headerWalkChunkBytes = 16 * 1024;
/** Offsets relative to a segment's base are stored as uint32. */
export const relativeOffsetMax = 0xffff_ffff;

export interface ScannedBatch {
  position: number;
  bytes: number;
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestampMs: number;
}

export interface ScanDamage {
  position: number;
  reason: string;
}

export interface ScanResult {
  /** Bytes from the start of the file up to the end of the last valid batch. */
  validBytes: number;
  /** Offset after the last valid batch (the segment's base offset if there is none). */
  endOffset: bigint;
  damage: ScanDamage | null;
}

export interface ScanOptions {
  fileBytes: number;
  baseOffset: bigint;
  onBatch?: (batch: ScannedBatch) => void;
}

/** Reads file bytes through a window that is refilled as the walk moves on. */
class Window {
  buffer: Buffer;
  start = 0;
  length = 0;

  constructor(
    readonly fileSystem: FileSystem,
    readonly handle: number,
    readonly fileBytes: number,
    readonly chunkBytes = scanChunkBytes,
  ) {
    this.buffer = Buffer.allocUnsafe(chunkBytes);
  }

  /** Makes [position, position + bytes) available; returns the index of `position` in `buffer`. */
  async need(position: number, bytes: number): Promise<number> {
    if (position >= this.start && position + bytes <= this.start + this.length) return position - this.start;
    const size = Math.min(Math.max(bytes, this.chunkBytes), this.fileBytes - position);
    if (size > this.buffer.length) this.buffer = Buffer.allocUnsafe(size);
    this.length = await readFully(this.fileSystem, this.handle, this.buffer, size, position);
    this.start = position;
    return 0;
  }
}

export async function scanSegment(fileSystem: FileSystem, handle: number, options: ScanOptions): Promise<ScanResult> {
  const window = new Window(fileSystem, handle, options.fileBytes);
  let position = 0;
  let offsetMin = options.baseOffset;
  const damaged = (reason: string): ScanResult => ({ validBytes: position, endOffset: offsetMin, damage: { position, reason } });
  while (position < options.fileBytes) {
    const available = options.fileBytes - position;
    if (available < batchHeaderBytes) return damaged(`${available} bytes at the end are shorter than a batch header`);
    let at = await window.need(position, batchHeaderBytes);
    const total = window.buffer.readInt32BE(at + batchOffsets.batchLength) + 12;
    if (total < batchHeaderBytes || total > available || total > batchBytesMaxHard) {
      return damaged(`batch length ${total} does not fit the ${available} bytes left`);
    }
    at = await window.need(position, total);
    const batch = window.buffer.subarray(at, at + total);
    try {
      verifyBatchFrame(batch, 0, batchBytesMaxHard);
    } catch (error) {
      return damaged(errorMessageOf(error));
    }
    const baseOffset = batch.readBigInt64BE(batchOffsets.baseOffset);
    const lastOffsetDelta = batch.readInt32BE(batchOffsets.lastOffsetDelta);
    const lastOffset = baseOffset + BigInt(lastOffsetDelta);
    const problem = offsetProblem(position, baseOffset, lastOffsetDelta, offsetMin, options.baseOffset);
    if (problem !== null) return damaged(problem);
    options.onBatch?.({
      position,
      bytes: total,
      baseOffset,
      lastOffset,
      maxTimestampMs: Number(batch.readBigInt64BE(batchOffsets.maxTimestamp)),
    });
    offsetMin = lastOffset + 1n;
    position += total;
  }
  return { validBytes: position, endOffset: offsetMin, damage: null };
}

function offsetProblem(position: number, baseOffset: bigint, lastOffsetDelta: number, offsetMin: bigint, segmentBase: bigint): string | null {
  if (lastOffsetDelta < 0) return `batch has negative lastOffsetDelta ${lastOffsetDelta}`;
  if (position === 0 && baseOffset !== segmentBase) return `first batch has base offset ${baseOffset}, the segment's name says ${segmentBase}`;
  if (baseOffset < offsetMin) return `batch base offset ${baseOffset} does not follow the previous batch (expected at least ${offsetMin})`;
  if (baseOffset + BigInt(lastOffsetDelta) - segmentBase > BigInt(relativeOffsetMax)) return `batch offset ${baseOffset} is too far from the segment base ${segmentBase}`;
  return null;
}

/**
 * The largest batch maxTimestamp from `position` (a batch start) to `fileBytes`, walking batch
 * headers only (the batches were checked when written or recovered); -1 when there is no batch.
 * Throws CORRUPT_MESSAGE when a batch length does not fit.
 */
export async function maxTimestampFrom(fileSystem: FileSystem, handle: number, options: { position: number; fileBytes: number }): Promise<number> {
  const window = new Window(fileSystem, handle, options.fileBytes, headerWalkChunkBytes);
  let maxTimestampMs = -1;
  for (let position = options.position; position < options.fileBytes; ) {
    const available = options.fileBytes - position;
    const at = available < batchHeaderBytes ? -1 : await window.need(position, batchHeaderBytes);
    const total = at < 0 ? 0 : window.buffer.readInt32BE(at + batchOffsets.batchLength) + 12;
    if (total < batchHeaderBytes || total > available) {
      throw new WeirError('CORRUPT_MESSAGE', `no whole batch at byte position ${position} (${available} bytes left)`);
    }
    maxTimestampMs = Math.max(maxTimestampMs, Number(window.buffer.readBigInt64BE(at + batchOffsets.maxTimestamp)));
    position += total;
  }
  return maxTimestampMs;
}

/**
 * Looks for a batch that passes the frame check and continues the offsets (base offset at least
 * `offsetMin`) anywhere after `position`. Returns its position, or null when the rest of the file
 * holds nothing valid (a torn or garbage tail). Costs a pass over the rest of the file.
 */
export async function findValidBatchAfter(
  fileSystem: FileSystem,
  handle: number,
  options: { fileBytes: number; position: number; offsetMin: bigint },
): Promise<number | null> {
  const window = new Window(fileSystem, handle, options.fileBytes);
  for (let candidate = options.position + 1; candidate + batchHeaderBytes <= options.fileBytes; candidate++) {
    let at = await window.need(candidate, batchHeaderBytes);
    // Jump to the next byte that could be a magic byte (2), within what the window holds.
    const magicAt = window.buffer.indexOf(2, at + batchOffsets.magic);
    const windowEnd = window.length;
    if (magicAt < 0 || magicAt >= windowEnd) {
      candidate = window.start + windowEnd - batchHeaderBytes; // the loop's ++ moves past; headers straddling the window end are re-read
      if (window.start + windowEnd >= options.fileBytes) break;
      continue;
    }
    if (magicAt - batchOffsets.magic > at) {
      candidate += magicAt - batchOffsets.magic - at;
      if (candidate + batchHeaderBytes > options.fileBytes) break;
      at = await window.need(candidate, batchHeaderBytes);
    }
    const buffer = window.buffer;
    if (buffer[at + batchOffsets.magic] !== 2) continue;
    const total = buffer.readInt32BE(at + batchOffsets.batchLength) + 12;
    if (total < batchHeaderBytes || total > options.fileBytes - candidate) continue;
    if (buffer.readBigInt64BE(at + batchOffsets.baseOffset) < options.offsetMin) continue;
    at = await window.need(candidate, total);
    try {
      verifyBatchFrame(window.buffer.subarray(at, at + total), 0, batchBytesMaxHard);
      return candidate;
    } catch {
      continue;
    }
  }
  return null;
}

/**
 * True when every byte from `position` to the end of the file is zero: space the log preallocated
 * ahead of its writes (partition-log.ts) and never filled, as opposed to a torn or damaged tail.
 */
export async function isZeroFrom(fileSystem: FileSystem, handle: number, options: { fileBytes: number; position: number }): Promise<boolean> {
  const window = new Window(fileSystem, handle, options.fileBytes);
  let at = options.position;
  while (at < options.fileBytes) {
    const index = await window.need(at, 1);
    if (window.length <= index) break; // the file ended early: nothing more to look at
    const buffer = window.buffer;
    for (let i = index; i < window.length; i++) if (buffer[i] !== 0) return false;
    at = window.start + window.length;
  }
  return true;
}
