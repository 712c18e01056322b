/**
 * Length-prefixed framing, shared by the native protocol and the Kafka-compatible listener: each
 * frame is a uint32 big-endian length and that many bytes.
 */
import assert from 'node:assert/strict';

/** The length prefix. */
export const frameLengthBytes = 4;

/**
 * The least a growing assembly's first block holds (a frame this size or smaller gets its whole
 * buffer at once): about one socket read, so small frames are copied once.
 */
export const assemblyBytesMin = 64 * 1024;
/** The size of a growing assembly's further blocks (the last one may be smaller: the frame's end). */
export const assemblyBlockBytes = 1024 * 1024;

/**
 * Cuts a byte stream into frames. Each length goes through the protocol's check as soon as its
 * four bytes are there, before the frame's buffer exists. A frame that arrived whole in a kept
 * chunk is returned as a view; a frame spread over several chunks is copied, piece by piece as
 * they arrive, into one buffer of its size. A transient chunk (a read buffer the socket reuses) is
 * valid only during `push`: every frame taken from it is a copy, and so is whatever of it stays
 * buffered.
 *
 * With `growing`, a frame's memory grows with the bytes that arrive instead of being allocated at
 * the length its prefix declares: its bytes go into blocks, the first as large as what has arrived
 * (at least `assemblyBytesMin`), the next `assemblyBlockBytes` each, and a frame in more than one
 * block is copied into one buffer when its last byte arrives. So a peer that declares a large frame
 * and sends little of it makes the reader hold what it sent plus at most one block, at the cost of
 * copying a large frame's bytes twice instead of once (a frame that fits its first block, as a
 * small one does, is copied once). A server, whose peers are not trusted, reads this way;
 * `heldBytes` is what it holds.
 */
export class LengthPrefixedFrames {
  readonly #checkLength: (length: number) => void;
  readonly #growing: boolean;
  /** Received bytes not yet framed: only a partial length prefix, or what arrived while stopped. */
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  /**
   * The frame being filled from chunks as they arrive, once its length is known: its blocks (none
   * when no frame is being assembled; without `growing` one, of the frame's length), their total
   * size, the frame's length, and how many of its bytes are here.
   */
  #blocks: Buffer[] = [];
  #blocksBytes = 0;
  /** Bytes in the last block. */
  #blockFill = 0;
  #assemblyLength = 0;
  #assembled = 0;

  /** `checkLength` throws (a WeirError naming the limit) for a length the protocol refuses. */
  constructor(checkLength: (length: number) => void, options?: { growing?: boolean }) {
    this.#checkLength = checkLength;
    this.#growing = options?.growing ?? false;
  }

  /** Bytes received but not yet returned as frames (bounded by the largest frame + one chunk). */
  get bufferedBytes(): number {
    return this.#bufferedBytes + this.#assembled;
  }

  /** Bytes of memory the reader holds: what it buffers and its assembly's blocks. */
  get heldBytes(): number {
    return this.#bufferedBytes + this.#blocksBytes;
  }

  /** Whether a frame is part-way assembled (its length known, not all of its bytes here yet). */
  get assembling(): boolean {
    return this.#blocks.length > 0;
  }

  /**
   * Adds received bytes and calls `onFrame` for each complete frame; `onFrame` returning false
   * stops there (the rest stays buffered until `drain`). Throws on a bad length.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean | void, transient = false): void {
    let at = 0;
    if (this.#blocks.length > 0) {
      at = Math.min(chunk.length, this.#assemblyLength - this.#assembled);
      this.#fill(chunk.subarray(0, at));
      if (this.#assembled < this.#assemblyLength) return;
      if (onFrame(this.#assembledFrame()) === false) return this.#keep(chunk, at, transient);
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

  /** Starts filling a frame of `length` bytes with the first of them (fewer than `length`). */
  #assemble(length: number, parts: Buffer[]): void {
    let arrived = 0;
    for (const part of parts) arrived += part.length;
    assert.ok(arrived < length, `${arrived} bytes of a ${length}-byte frame`);
    this.#assemblyLength = length;
    this.#assembled = 0;
    this.#addBlock(this.#growing ? Math.min(length, Math.max(assemblyBytesMin, arrived)) : length);
    for (const part of parts) this.#fill(part);
  }

  #addBlock(bytes: number): void {
    this.#blocks.push(Buffer.allocUnsafe(bytes));
    this.#blocksBytes += bytes;
    this.#blockFill = 0;
  }

  /** Appends bytes of the frame being assembled (no more than it still needs), adding blocks as they fill. */
  #fill(part: Buffer): void {
    assert.ok(this.#assembled + part.length <= this.#assemblyLength, 'bytes past the end of the frame');
    let at = 0;
    while (at < part.length) {
      if (this.#blockFill === this.#blocks[this.#blocks.length - 1]!.length) {
        this.#addBlock(Math.min(assemblyBlockBytes, this.#assemblyLength - this.#blocksBytes));
      }
      const copied = part.copy(this.#blocks[this.#blocks.length - 1]!, this.#blockFill, at);
      this.#blockFill += copied;
      this.#assembled += copied;
      at += copied;
    }
  }

  /** The assembled frame, whole (its blocks copied into one buffer when there are several); the assembly ends. */
  #assembledFrame(): Buffer {
    assert.equal(this.#assembled, this.#assemblyLength);
    assert.equal(this.#blocksBytes, this.#assemblyLength);
    const blocks = this.#blocks;
    this.#blocks = [];
    this.#blocksBytes = 0;
    this.#assembled = 0;
    return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks, this.#assemblyLength);
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
