/**
 * The sparse offset index of one segment (`<base>.index`): maps offsets to file positions so that a
 * read starts near its batch instead of scanning the segment.
 *
 * File layout: a run of 8-byte entries, no header (docs/format/indexes.md):
 *
 *   offset  size  field
 *        0     4  relativeOffset  uint32  base offset of a batch minus the segment's base offset
 *        4     4  position        uint32  byte position of that batch in the .log file
 *
 * Entries are strictly increasing in both fields; one is added before a batch whenever at least
 * `indexIntervalBytes` of log were written since the previous entry. A lookup finds the last entry
 * at or before an offset; position 0 stands in when there is none.
 */
import { WeirError } from '../util/errors.js';

export const offsetIndexEntryBytes = 8;

export class OffsetIndex {
  #relativeOffsets: Uint32Array;
  #positions: Uint32Array;
  #count = 0;

  constructor(capacity = 16) {
    this.#relativeOffsets = new Uint32Array(capacity);
    this.#positions = new Uint32Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes of memory held (for the index cache's bound). */
  get memoryBytes(): number {
    return this.#relativeOffsets.byteLength + this.#positions.byteLength;
  }

  get lastPosition(): number {
    return this.#count === 0 ? 0 : this.#positions[this.#count - 1]!;
  }

  append(relativeOffset: number, position: number): void {
    const last = this.#count - 1;
    if (last >= 0 && (relativeOffset <= this.#relativeOffsets[last]! || position <= this.#positions[last]!)) {
      throw new Error(`offset index entries must increase: (${relativeOffset}, ${position}) after (${this.#relativeOffsets[last]}, ${this.#positions[last]})`);
    }
    if (this.#count === this.#positions.length) this.#grow();
    this.#relativeOffsets[this.#count] = relativeOffset;
    this.#positions[this.#count] = position;
    this.#count++;
  }

  /** Position of the last indexed batch starting at or before `relativeOffset` (0 if none). */
  positionFloor(relativeOffset: number): number {
    let low = 0;
    let high = this.#count - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.#relativeOffsets[middle]! <= relativeOffset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found < 0 ? 0 : this.#positions[found]!;
  }

  /** Drops entries at or past `position` (after the log was truncated there). */
  truncateToPosition(position: number): void {
    while (this.#count > 0 && this.#positions[this.#count - 1]! >= position) this.#count--;
  }

  encode(): Buffer {
    const buffer = Buffer.allocUnsafe(this.#count * offsetIndexEntryBytes);
    for (let i = 0; i < this.#count; i++) {
      buffer.writeUInt32BE(this.#relativeOffsets[i]!, i * offsetIndexEntryBytes);
      buffer.writeUInt32BE(this.#positions[i]!, i * offsetIndexEntryBytes + 4);
    }
    return buffer;
  }

  /**
   * Parses an index file, checking what a consistent index must satisfy: whole entries, strictly
   * increasing fields, positions inside the segment. Throws CORRUPT_MESSAGE otherwise (the caller
   * rebuilds the index from the segment).
   */
  static decode(bytes: Buffer, segmentBytes: number): OffsetIndex {
    if (bytes.length % offsetIndexEntryBytes !== 0) {
      throw new WeirError('CORRUPT_MESSAGE', `offset index of ${bytes.length} bytes is not a whole number of entries`);
    }
    const count = bytes.length / offsetIndexEntryBytes;
    const index = new OffsetIndex(Math.max(count, 1));
    for (let i = 0; i < count; i++) {
      const relativeOffset = bytes.readUInt32BE(i * offsetIndexEntryBytes);
      const position = bytes.readUInt32BE(i * offsetIndexEntryBytes + 4);
      if (position >= segmentBytes) {
        throw new WeirError('CORRUPT_MESSAGE', `offset index entry ${i} points at position ${position} past the segment's ${segmentBytes} bytes`);
      }
      try {
        index.append(relativeOffset, position);
      } catch (error) {
        throw new WeirError('CORRUPT_MESSAGE', `offset index entry ${i} out of order`, { cause: error });
      }
    }
    return index;
  }

  #grow(): void {
    const capacity = this.#positions.length * 2;
    const relativeOffsets = new Uint32Array(capacity);
    relativeOffsets.set(this.#relativeOffsets);
    const positions = new Uint32Array(capacity);
    positions.set(this.#positions);
    this.#relativeOffsets = relativeOffsets;
    this.#positions = positions;
  }
}
