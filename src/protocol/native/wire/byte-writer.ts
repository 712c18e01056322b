/**
 * A growable big-endian writer for native-protocol frames. Large byte fields (record batches)
 * are not copied: `bytesReference` seals the current chunk and keeps the caller's buffer as a
 * chunk of its own, so a frame may be a list of buffers written to the socket in one go.
 */

/** Byte fields at least this long are carried by reference instead of copied. */
export const bytesReferenceMin = 4096;
const chunkBytesInitial = 256;

export class ByteWriter {
  #chunks: Buffer[] = [];
  #current: Buffer;
  #position = 0;
  #sealedBytes = 0;

  constructor(bytesInitial = chunkBytesInitial) {
    this.#current = Buffer.allocUnsafe(bytesInitial);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#sealedBytes + this.#position;
  }

  #ensure(bytes: number): void {
    if (this.#position + bytes <= this.#current.length) return;
    let size = Math.max(this.#current.length * 2, chunkBytesInitial);
    while (size < this.#position + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#current.copy(grown, 0, 0, this.#position);
    this.#current = grown;
  }

  int8(value: number): void {
    this.#ensure(1);
    this.#current.writeInt8(value, this.#position);
    this.#position += 1;
  }

  uint8(value: number): void {
    this.#ensure(1);
    this.#current[this.#position++] = value;
  }

  int16(value: number): void {
    this.#ensure(2);
    this.#current.writeInt16BE(value, this.#position);
    this.#position += 2;
  }

  uint16(value: number): void {
    this.#ensure(2);
    this.#current.writeUInt16BE(value, this.#position);
    this.#position += 2;
  }

  int32(value: number): void {
    this.#ensure(4);
    this.#current.writeInt32BE(value, this.#position);
    this.#position += 4;
  }

  uint32(value: number): void {
    this.#ensure(4);
    this.#current.writeUInt32BE(value, this.#position);
    this.#position += 4;
  }

  int64(value: bigint): void {
    this.#ensure(8);
    this.#current.writeBigInt64BE(value, this.#position);
    this.#position += 8;
  }

  /** Raw bytes, copied. */
  raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#current.set(bytes, this.#position);
    this.#position += bytes.length;
  }

  /** A UTF-8 string's bytes, without a length. */
  utf8(text: string, byteLength: number): void {
    this.#ensure(byteLength);
    this.#position += this.#current.write(text, this.#position, 'utf8');
  }

  /** Raw bytes, kept by reference when large (the caller must not change them afterwards). */
  bytesReference(bytes: Buffer): void {
    if (bytes.length < bytesReferenceMin) {
      this.raw(bytes);
      return;
    }
    this.#seal();
    this.#chunks.push(bytes);
    this.#sealedBytes += bytes.length;
  }

  /** Overwrites a uint32 at an absolute position that lies in the current (unsealed) chunk. */
  patchUint32(position: number, value: number): void {
    const local = position - this.#sealedBytes;
    if (local >= 0) {
      this.#current.writeUInt32BE(value, local);
      return;
    }
    // The position lies in a sealed chunk: find it (the first chunk in practice).
    let chunkStart = 0;
    for (const chunk of this.#chunks) {
      if (position < chunkStart + chunk.length) {
        chunk.writeUInt32BE(value, position - chunkStart);
        return;
      }
      chunkStart += chunk.length;
    }
    throw new RangeError(`patch position ${position} lies outside the written bytes`);
  }

  #seal(): void {
    if (this.#position === 0) return;
    this.#chunks.push(this.#current.subarray(0, this.#position));
    this.#sealedBytes += this.#position;
    this.#current = this.#current.subarray(this.#position);
    this.#position = 0;
  }

  /** The written bytes as a list of chunks (in order). The writer must not be used afterwards. */
  finish(): Buffer[] {
    this.#seal();
    return this.#chunks;
  }

  /** The written bytes as one buffer (copies when there is more than one chunk). */
  finishConcat(): Buffer {
    const chunks = this.finish();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#sealedBytes);
  }
}
