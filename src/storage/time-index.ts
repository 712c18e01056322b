/**
 * The sparse time index of one segment (`<base>.timeindex`): finds where to start looking for the
 * first record at or after a timestamp.
 *
 * File layout: a run of 12-byte entries, no header (docs/format/indexes.md):
 *
 *   offset  size  field
 *        0     8  timestampMs     int64   the largest batch maxTimestamp of all batches BEFORE the
 *                                         batch at relativeOffset
 *        8     4  relativeOffset  uint32  a batch base offset minus the segment's base offset
 *                                         (or, for the entry written when the segment is sealed,
 *                                         the segment's end offset minus its base offset)
 *
 * Both fields strictly increase. Meaning of an entry (T, r): every batch of the segment before
 * relative offset r has all its timestamps <= T. So to find the first record with timestamp >= t,
 * start at the last entry with T < t (or at the segment start) and scan forward. The last entry's T
 * is the segment's largest timestamp once the segment is sealed.
 */
import { WeirError } from '../util/errors.js';

export const timeIndexEntryBytes = 12;

export class TimeIndex {
  #timestamps: Float64Array;
  #relativeOffsets: Uint32Array;
  #count = 0;

  constructor(capacity = 16) {
    this.#timestamps = new Float64Array(capacity);
    this.#relativeOffsets = new Uint32Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  get memoryBytes(): number {
    return this.#timestamps.byteLength + this.#relativeOffsets.byteLength;
  }

  /** Largest timestamp recorded, or -1 for an empty index. */
  get lastTimestampMs(): number {
    return this.#count === 0 ? -1 : this.#timestamps[this.#count - 1]!;
  }

  get lastRelativeOffset(): number {
    return this.#count === 0 ? -1 : this.#relativeOffsets[this.#count - 1]!;
  }

  /** Adds an entry if it moves both fields forward; otherwise keeps the index as it is. */
  maybeAppend(timestampMs: number, relativeOffset: number): void {
    const last = this.#count - 1;
    if (last >= 0 && (timestampMs <= this.#timestamps[last]! || relativeOffset <= this.#relativeOffsets[last]!)) return;
    if (this.#count === this.#timestamps.length) this.#grow();
    this.#timestamps[this.#count] = timestampMs;
    this.#relativeOffsets[this.#count] = relativeOffset;
    this.#count++;
  }

  /** Relative offset to start scanning at for the first record with timestamp >= `timestampMs`. */
  relativeOffsetFloor(timestampMs: number): number {
    let low = 0;
    let high = this.#count - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.#timestamps[middle]! < timestampMs) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found < 0 ? 0 : this.#relativeOffsets[found]!;
  }

  /** Drops entries at or past `relativeOffset`. */
  truncateToRelativeOffset(relativeOffset: number): void {
    while (this.#count > 0 && this.#relativeOffsets[this.#count - 1]! > relativeOffset) this.#count--;
  }

  encode(): Buffer {
    const buffer = Buffer.allocUnsafe(this.#count * timeIndexEntryBytes);
    for (let i = 0; i < this.#count; i++) {
      buffer.writeBigInt64BE(BigInt(this.#timestamps[i]!), i * timeIndexEntryBytes);
      buffer.writeUInt32BE(this.#relativeOffsets[i]!, i * timeIndexEntryBytes + 8);
    }
    return buffer;
  }

  static decode(bytes: Buffer): TimeIndex {
    if (bytes.length % timeIndexEntryBytes !== 0) {
      throw new WeirError('CORRUPT_MESSAGE', `time index of ${bytes.length} bytes is not a whole number of entries`);
    }
    const count = bytes.length / timeIndexEntryBytes;
    const index = new TimeIndex(Math.max(count, 1));
    for (let i = 0; i < count; i++) {
      const timestampMs = Number(bytes.readBigInt64BE(i * timeIndexEntryBytes));
      const relativeOffset = bytes.readUInt32BE(i * timeIndexEntryBytes + 8);
      const before = index.count;
      index.maybeAppend(timestampMs, relativeOffset);
      if (index.count === before) throw new WeirError('CORRUPT_MESSAGE', `time index entry ${i} out of order`);
    }
    return index;
  }

  #grow(): void {
    const capacity = this.#timestamps.length * 2;
    const timestamps = new Float64Array(capacity);
    timestamps.set(this.#timestamps);
    const relativeOffsets = new Uint32Array(capacity);
    relativeOffsets.set(this.#relativeOffsets);
    this.#timestamps = timestamps;
    this.#relativeOffsets = relativeOffsets;
  }
}
