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
import { frameLengthBytes, LengthPrefixedFrames } from '../../../util/frame-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { Codec } from './codec.js';
import { string } from './codec.js';

export const frameKinds = { request: 1, response: 2, delivery: 3, subscriptionEnd: 4, queueDelivery: 5 } as const;
export type FrameKind = (typeof frameKinds)[keyof typeof frameKinds];

/** The default largest frame, either direction. */
/** Room for the largest batch a topic may allow (64 MiB) and the produce request around it. */
export const frameBytesMaxDefault = 64 * 1024 * 1024 + 64 * 1024;
export { frameLengthBytes };
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

/** The most UTF-8 bytes of an error message on the wire (one that names a long value is cut). */
export const errorMessageBytesMax = 4096;

/** `message`, cut to fit errorMessageBytesMax (at most 4 bytes a character); never halves a surrogate pair. */
export function truncateMessage(message: string): string {
  const charsMax = errorMessageBytesMax / 4;
  if (message.length <= charsMax) return message;
  let end = charsMax - 1;
  if (/[\uD800-\uDBFF]/.test(message[end - 1]!)) end--; // the first half of a pair
  return `${message.slice(0, end)}…`;
}

/** The native protocol's frames: 5 ≤ length ≤ `frameBytesMax`, checked before allocation. */
export class FrameReader extends LengthPrefixedFrames {
  /**
   * `frameBytesMax`: the limit, or a function giving the limit now (a server allows less before
   * hello). `growing`: frames' buffers grow as their bytes arrive (a server's reader; see
   * LengthPrefixedFrames).
   */
  constructor(frameBytesMax: number | (() => number) = frameBytesMaxDefault, options?: { growing?: boolean }) {
    super((length) => {
      if (length < frameBytesMin) {
        throw new WeirError('INVALID_REQUEST', `frame length ${length} is shorter than the ${frameBytesMin}-byte minimum`);
      }
      const max = typeof frameBytesMax === 'number' ? frameBytesMax : frameBytesMax();
      if (length > max) {
        throw new WeirError('MESSAGE_TOO_LARGE', `frame length ${length} exceeds the limit of ${max} bytes`);
      }
    }, options);
  }
}
