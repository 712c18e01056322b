/**
 * Length-prefixed framing, shared by the native protocol and the Kafka-compatible listener: each
 * frame is a uint32 big-endian length and that many bytes.
 */

/** The length prefix. */
export const frameLengthBytes = 4;

/**
 * Cuts a byte stream into frames. Each length goes through the protocol's check as soon as its
 * four bytes are there, before the frame's buffer exists. A frame that arrived whole in a kept
 * chunk is returned as a view; a frame spread over several chunks is copied, piece by piece as
 * they arrive, into one buffer of its size. A transient chunk (a read buffer the socket reuses) is
 * valid only during `push`: every frame taken from it is a copy, and so is whatever of it stays
 * buffered.
 */
export class LengthPrefixedFrames {
  readonly #checkLength: (length: number) => void;
  /** Received bytes not yet framed: only a partial length prefix, or what arrived while stopped. */
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  /** The frame being filled from chunks as they arrive, once its length is known; and its fill. */
  #assembly: Buffer | null = null;
  #assembled = 0;

  /** `checkLength` throws (a WeirError naming the limit) for a length the protocol refuses. */
  constructor(checkLength: (length: number) => void) {
    this.#checkLength = checkLength;
  }

  /** Bytes received but not yet returned as frames (bounded by the largest frame + one chunk). */
  get bufferedBytes(): number {
    return this.#bufferedBytes + this.#assembled;
  }

  /**
   * Adds received bytes and calls `onFrame` for each complete frame; `onFrame` returning false
   * stops there (the rest stays buffered until `drain`). Throws on a bad length.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean | void, transient = false): void {
    let at = 0;
    const assembly = this.#assembly;
    if (assembly !== null) {
      at = Math.min(chunk.length, assembly.length - this.#assembled);
      chunk.copy(assembly, this.#assembled, 0, at);
      this.#assembled += at;
      if (this.#assembled < assembly.length) return;
      this.#assembly = null;
      this.#assembled = 0;
      if (onFrame(assembly) === false) return this.#keep(chunk, at, transient);
    }
    if (this.#bufferedBytes > 0) {
      this.#keep(chunk, at, transient);
      this.drain(onFrame);
      return;
    }
    // Nothing buffered: frames are cut straight from the chunk.
    while (chunk.length - at >= frameLengthBytes) {
      const length = this.#checked(chunk.readUInt32BE(at));
      const start = at + frameLengthBytes;
      if (chunk.length - start < length) {
        this.#assemble(length, [chunk.subarray(start)]);
        return;
      }
      at = start + length;
      const view = chunk.subarray(start, at);
      if (onFrame(transient ? Buffer.from(view) : view) === false) break;
    }
    this.#keep(chunk, at, transient);
  }

  /** Hands over the complete frames already buffered (after `onFrame` stopped the last push). */
  drain(onFrame: (frame: Buffer) => boolean | void): void {
    while (this.#bufferedBytes >= frameLengthBytes) {
      const length = this.#checked(this.#take(frameLengthBytes).readUInt32BE(0));
      if (this.#bufferedBytes < length) {
        this.#assemble(length, this.#chunks.splice(0));
        this.#bufferedBytes = 0;
        return;
      }
      if (onFrame(this.#take(length)) === false) return;
    }
  }

  #checked(length: number): number {
    this.#checkLength(length);
    return length;
  }

  /** Starts filling a frame of `length` bytes with the first of them. */
  #assemble(length: number, parts: Buffer[]): void {
    const assembly = Buffer.allocUnsafe(length);
    let filled = 0;
    for (const part of parts) filled += part.copy(assembly, filled);
    this.#assembly = assembly;
    this.#assembled = filled;
  }

  /** Buffers the chunk from `at` on (a copy when the chunk is transient). */
  #keep(chunk: Buffer, at: number, transient: boolean): void {
    if (at >= chunk.length) return;
    const rest = chunk.subarray(at);
    this.#chunks.push(transient ? Buffer.from(rest) : rest);
    this.#bufferedBytes += rest.length;
  }

  /** Removes `count` buffered bytes from the front (a view when they lie in one chunk). */
  #take(count: number): Buffer {
    if (count === 0) return Buffer.alloc(0); // an empty frame (Kafka allows them) with nothing after it
    const first = this.#chunks[0]!;
    this.#bufferedBytes -= count;
    if (first.length >= count) {
      const out = first.subarray(0, count);
      if (first.length === count) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(count);
      return out;
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(chunk.length, count - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
