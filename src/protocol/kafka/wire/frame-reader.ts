/**
 * Splits a TCP byte stream into Kafka frames: an int32 size, then that many bytes.
 *
 * The size is checked against `requestBytesMax` (Kafka's socket.request.max.bytes, 100 MiB by
 * default) before anything is allocated; a larger or negative size is a protocol violation the
 * caller answers by closing the connection. Chunks are kept by reference until a frame is whole,
 * so a frame split over many TCP segments is copied once, and a chunk holding several frames is
 * sliced without copying.
 */
import { WeirError } from '../../../util/errors.js';

export const requestBytesMaxDefault = 100 * 1024 * 1024;
const sizePrefixBytes = 4;

export class FrameReader {
  readonly #frameBytesMax: number;
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  /** Size of the frame being assembled, once its prefix is known. */
  #frameBytes = -1;

  constructor(options?: { frameBytesMax?: number }) {
    this.#frameBytesMax = options?.frameBytesMax ?? requestBytesMaxDefault;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Adds a chunk and returns the frames (without their size prefix) it completed. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#bufferedBytes += chunk.length;
    }
    for (;;) {
      if (this.#frameBytes < 0) {
        if (this.#bufferedBytes < sizePrefixBytes) break;
        const size = this.#take(sizePrefixBytes).readInt32BE(0);
        if (size < 0 || size > this.#frameBytesMax) {
          throw new WeirError('INVALID_REQUEST', `frame size ${size} is outside 0..${this.#frameBytesMax}`);
        }
        this.#frameBytes = size;
      }
      if (this.#bufferedBytes < this.#frameBytes) break;
      frames.push(this.#take(this.#frameBytes));
      this.#frameBytes = -1;
    }
    return frames;
  }

  /** Removes `bytes` from the front of the buffered chunks (a view when one chunk holds them). */
  #take(bytes: number): Buffer {
    this.#bufferedBytes -= bytes;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= bytes) {
      const taken = first.subarray(0, bytes);
      if (first.length === bytes) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(bytes);
      return taken;
    }
    const taken = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(chunk.length, bytes - filled);
      chunk.copy(taken, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    return taken;
  }
}
