/**
 * Native protocol framing. Every frame is
 *
 *   uint32  length   bytes that follow this field; 5 ≤ length ≤ frameBytesMax
 *   uint8   kind     1 request, 2 response, 3 delivery, 4 subscription end, 5 queue delivery
 *   uint32  id       correlation id (request, response), subscription id (delivery, end) or
 *                    queue consumer id (queue delivery, end)
 *   …       rest     depends on the kind:
 *     request             uint16 api, then the api's request body
 *     response            uint16 errorCode (0 = success); when non-zero a string message;
 *                         then the api's response body (on error only the hello response has one)
 *     delivery            the delivery body (messages.ts)
 *     subscription end    uint16 errorCode, string message
 *     queue delivery      an array of queueDelivery bodies (messages.ts)
 *
 * The length is checked against the reader's `frameBytesMax` as soon as its four bytes have
 * arrived, before any buffer for the frame is allocated. docs/native-protocol.md has the whole
 * specification.
 */
import { ByteReader } from '../../../format/byte-reader.js';
import { WeirError, errorCatalog, errorCodeFromWire, type ErrorCode } from '../../../util/errors.js';
import { ByteWriter } from './byte-writer.js';
import type { Codec } from './codec.js';
import { string } from './codec.js';

export const frameKinds = { request: 1, response: 2, delivery: 3, subscriptionEnd: 4, queueDelivery: 5 } as const;
export type FrameKind = (typeof frameKinds)[keyof typeof frameKinds];

/** The default largest frame, either direction. */
export const frameBytesMaxDefault = 64 * 1024 * 1024;
/** The length prefix. */
export const frameLengthBytes = 4;
/** kind + id: the smallest legal frame after the length prefix. */
export const frameBytesMin = 5;

/** A frame parsed up to its kind-specific part; `reader` is positioned at the rest. */
export interface Frame {
  kind: FrameKind;
  id: number;
  reader: ByteReader;
}

export function parseFrame(frame: Buffer): Frame {
  const reader = new ByteReader(frame, { what: 'native frame', code: 'INVALID_REQUEST' });
  const kind = reader.uint8('frame kind');
  if (kind < frameKinds.request || kind > frameKinds.queueDelivery) reader.fail(`frame kind ${kind} is unknown`);
  const id = reader.uint32('frame id');
  return { kind: kind as FrameKind, id, reader };
}

/** Starts a frame: the length placeholder, kind and id. `finishFrame` patches the length. */
export function startFrame(kind: FrameKind, id: number, bytesInitial?: number): ByteWriter {
  const writer = new ByteWriter(bytesInitial);
  writer.uint32(0);
  writer.uint8(kind);
  writer.uint32(id);
  return writer;
}

export function finishFrame(writer: ByteWriter): Buffer[] {
  const length = writer.length - frameLengthBytes;
  writer.patchUint32(0, length);
  return writer.finish();
}

export function encodeRequest<T>(correlationId: number, api: number, codec: Codec<T>, body: T): Buffer[] {
  const writer = startFrame(frameKinds.request, correlationId);
  writer.uint16(api);
  codec.write(writer, body);
  return finishFrame(writer);
}

export function encodeResponse<T>(correlationId: number, codec: Codec<T>, body: T): Buffer[] {
  const writer = startFrame(frameKinds.response, correlationId);
  writer.uint16(0);
  codec.write(writer, body);
  return finishFrame(writer);
}

export function encodeErrorResponse(correlationId: number, code: ErrorCode, message: string, detail?: (w: ByteWriter) => void): Buffer[] {
  const writer = startFrame(frameKinds.response, correlationId);
  writer.uint16(errorCatalog[code].wire);
  string.write(writer, truncateMessage(message));
  detail?.(writer);
  return finishFrame(writer);
}

export function encodeSubscriptionEnd(subscriptionId: number, code: ErrorCode, message: string): Buffer[] {
  const writer = startFrame(frameKinds.subscriptionEnd, subscriptionId);
  writer.uint16(errorCatalog[code].wire);
  string.write(writer, truncateMessage(message));
  return finishFrame(writer);
}

/** Reads the error part of a response or subscription end: undefined for success. */
export function readErrorPart(reader: ByteReader): WeirError | undefined {
  const wire = reader.uint16('error code');
  if (wire === 0) return undefined;
  const message = string.read(reader);
  return new WeirError(errorCodeFromWire(wire), message);
}

const messageBytesMax = 4096;

function truncateMessage(message: string): string {
  if (message.length <= messageBytesMax / 4) return message;
  return `${message.slice(0, messageBytesMax / 4 - 1)}…`;
}

/**
 * Cuts a byte stream into frames. Each length is checked against `frameBytesMax` before the
 * frame's buffer exists. A frame that arrived whole in a kept chunk is returned as a view; a frame
 * spread over several chunks is copied, piece by piece as they arrive, into one buffer of its size.
 * A transient chunk (a read buffer the socket reuses) is valid only during `push`: every frame
 * taken from it is a copy, and so is whatever of it stays buffered.
 */
export class FrameReader {
  readonly #frameBytesMax: number;
  /** Received bytes not yet framed: only a partial length prefix, or what arrived while stopped. */
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  /** The frame being filled from chunks as they arrive, once its length is known; and its fill. */
  #assembly: Buffer | null = null;
  #assembled = 0;

  constructor(frameBytesMax = frameBytesMaxDefault) {
    this.#frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet returned as frames (bounded by frameBytesMax + one chunk). */
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
      const length = this.#checkLength(chunk.readUInt32BE(at));
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
      const length = this.#checkLength(this.#take(frameLengthBytes).readUInt32BE(0));
      if (this.#bufferedBytes < length) {
        this.#assemble(length, this.#chunks.splice(0));
        this.#bufferedBytes = 0;
        return;
      }
      if (onFrame(this.#take(length)) === false) return;
    }
  }

  #checkLength(length: number): number {
    if (length < frameBytesMin) {
      throw new WeirError('INVALID_REQUEST', `frame length ${length} is shorter than the ${frameBytesMin}-byte minimum`);
    }
    if (length > this.#frameBytesMax) {
      throw new WeirError('MESSAGE_TOO_LARGE', `frame length ${length} exceeds the limit of ${this.#frameBytesMax} bytes`);
    }
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
