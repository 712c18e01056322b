/**
 * A writer that collects an encoded message as a list of chunks. Small fields go into a scratch
 * buffer that grows by doubling; a large blob (a fetch response's record batches) is appended by
 * reference, so a multi-megabyte fetch is never copied before it reaches the socket.
 */
import { uvarintSize, writeUvarint } from '../../../format/varint.js';

/** Blobs at least this long are kept by reference instead of copied. */
export const writerBlobBytesMin = 1024;
const scratchBytesInitial = 256;

export class ByteWriter {
  #chunks: Buffer[] = [];
  #scratch: Buffer = Buffer.allocUnsafe(scratchBytesInitial);
  #scratchUsed = 0;
  #flushedBytes = 0;

  get length(): number {
    return this.#flushedBytes + this.#scratchUsed;
  }

  /** Reserves `bytes` in the scratch buffer (which may be replaced) and returns where they start. */
  #room(bytes: number): number {
    if (this.#scratchUsed + bytes > this.#scratch.length) {
      let size = this.#scratch.length * 2;
      while (size < this.#scratchUsed + bytes) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.#scratch.copy(grown, 0, 0, this.#scratchUsed);
      this.#scratch = grown;
    }
    const at = this.#scratchUsed;
    this.#scratchUsed += bytes;
    return at;
  }

  int8(value: number): void {
    const at = this.#room(1);
    this.#scratch.writeInt8(value, at);
  }

  int16(value: number): void {
    const at = this.#room(2);
    this.#scratch.writeInt16BE(value, at);
  }

  uint16(value: number): void {
    const at = this.#room(2);
    this.#scratch.writeUInt16BE(value, at);
  }

  int32(value: number): void {
    const at = this.#room(4);
    this.#scratch.writeInt32BE(value, at);
  }

  int64(value: bigint): void {
    const at = this.#room(8);
    this.#scratch.writeBigInt64BE(value, at);
  }

  float64(value: number): void {
    const at = this.#room(8);
    this.#scratch.writeDoubleBE(value, at);
  }

  uvarint(value: number): void {
    const at = this.#room(uvarintSize(value));
    writeUvarint(this.#scratch, at, value);
  }

  raw(bytes: Buffer): void {
    if (bytes.length >= writerBlobBytesMin) {
      this.#flushScratch();
      this.#chunks.push(bytes);
      this.#flushedBytes += bytes.length;
      return;
    }
    const at = this.#room(bytes.length);
    bytes.copy(this.#scratch, at);
  }

  #flushScratch(): void {
    if (this.#scratchUsed === 0) return;
    this.#chunks.push(this.#scratch.subarray(0, this.#scratchUsed));
    this.#flushedBytes += this.#scratchUsed;
    // The flushed view keeps the old buffer alive; continue in a fresh one.
    this.#scratch = Buffer.allocUnsafe(this.#scratch.length);
    this.#scratchUsed = 0;
  }

  /** The chunks written so far; the writer must not be used afterwards. */
  chunks(): Buffer[] {
    this.#flushScratch();
    return this.#chunks;
  }

  /** Everything written, as one buffer. */
  toBuffer(): Buffer {
    const chunks = this.chunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
}
