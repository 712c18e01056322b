/**
 * The public codec: whole frames in, whole frames out.
 *
 * Broker side: `decodeRequest` reads a frame (without its size prefix) into a header and a body;
 * `encodeResponse` writes a response frame, size prefix included, as chunks ready for a socket.
 * Client side (tests, tools): `encodeRequest` and `decodeResponse`.
 *
 * A request whose API or version Weir cannot decode yields `{ kind: 'unsupported' }` after the
 * header, so the caller can still answer it: `encodeUnsupportedVersion` builds Kafka's answer —
 * for ApiVersions the v0 body with UNSUPPORTED_VERSION and the advertised ranges (clients then
 * retry with a version they find there), for other APIs a v0 header and the error code alone.
 */
import { ByteReader } from '../../../format/byte-reader.js';
import { WeirError } from '../../../util/errors.js';
import { ByteWriter } from './byte-writer.js';
import { kafkaErrors } from './error-codes.js';
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
} from './header.js';
import { kafkaMessages, messageForKey } from './messages.js';
import {
  inVersions,
  isFlexible,
  type MessageSpec,
  type RequestInput,
  type RequestOf,
  type ResponseInput,
  type ResponseOf,
} from './schema.js';
import { decodeStruct, encodeStruct, structPlan } from './struct-codec.js';
import { advertisedVersions } from './versions.js';

export type DecodedRequest =
  | { kind: 'request'; header: RequestHeader; message: MessageSpec; body: Record<string, unknown> }
  | { kind: 'unsupported'; header: RequestHeader };

/** Decodes a request frame. Malformed bytes throw WeirError INVALID_REQUEST. */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const reader = new ByteReader(frame, { what: 'kafka request', code: 'INVALID_REQUEST' });
  const header = decodeRequestHeader(reader);
  const message = messageForKey(header.apiKey);
  if (message === undefined || !inVersions(message.versions, header.apiVersion)) {
    return { kind: 'unsupported', header };
  }
  const body = decodeBody(reader, message.request, message, header.apiVersion);
  return { kind: 'request', header, message, body };
}

function decodeBody(
  reader: ByteReader,
  fields: MessageSpec['request'],
  message: MessageSpec,
  version: number,
): Record<string, unknown> {
  const body = decodeStruct(reader, structPlan(fields, version, isFlexible(message, version)));
  if (reader.remaining !== 0) reader.fail(`${message.name} v${version} has ${reader.remaining} trailing bytes`);
  return body;
}

/** The typed body of a decoded request, once its message is known. */
export function requestBody<M extends MessageSpec>(decoded: DecodedRequest, message: M): RequestOf<M> {
  if (decoded.kind !== 'request' || decoded.message !== message) {
    throw new TypeError(`request is not ${message.name}`);
  }
  return decoded.body as RequestOf<M>;
}

/** A response frame (size prefix, header, body) as chunks; record blobs are not copied. */
export function encodeResponse<M extends MessageSpec>(
  message: M,
  header: RequestHeader,
  body: ResponseInput<M>,
): Buffer[] {
  const writer = new ByteWriter();
  writer.int32(0);
  encodeResponseHeader(writer, header);
  const flexible = isFlexible(message, header.apiVersion);
  encodeStruct(writer, structPlan(message.response, header.apiVersion, flexible), body as Record<string, unknown>);
  return withSizePrefix(writer);
}

/** The answer to a request Weir cannot decode or does not serve in this version. */
export function encodeUnsupportedVersion(header: RequestHeader): Buffer[] {
  if (header.apiKey === kafkaMessages.apiVersions.apiKey) {
    return encodeResponse(kafkaMessages.apiVersions, { ...header, apiVersion: 0 }, {
      errorCode: kafkaErrors.UNSUPPORTED_VERSION,
      apiKeys: advertisedVersions.map((entry) => ({ ...entry })),
    });
  }
  const writer = new ByteWriter();
  writer.int32(0);
  writer.int32(header.correlationId);
  writer.int16(kafkaErrors.UNSUPPORTED_VERSION);
  return withSizePrefix(writer);
}

function withSizePrefix(writer: ByteWriter): Buffer[] {
  const size = writer.length - 4;
  const chunks = writer.chunks();
  chunks[0]!.writeInt32BE(size, 0);
  return chunks;
}

/** A request frame with its size prefix (client side). */
export function encodeRequest<M extends MessageSpec>(message: M, header: RequestHeader, body: RequestInput<M>): Buffer {
  if (header.apiKey !== message.apiKey) throw new TypeError(`header api key ${header.apiKey} is not ${message.name}`);
  const writer = new ByteWriter();
  writer.int32(0);
  encodeRequestHeader(writer, header);
  const flexible = isFlexible(message, header.apiVersion);
  encodeStruct(writer, structPlan(message.request, header.apiVersion, flexible), body as Record<string, unknown>);
  const frame = writer.toBuffer();
  frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}

/** Decodes a response frame (without its size prefix) of a request sent with `version`. */
export function decodeResponse<M extends MessageSpec>(
  message: M,
  version: number,
  frame: Buffer,
): { correlationId: number; body: ResponseOf<M> } {
  if (!inVersions(message.versions, version)) {
    throw new WeirError('UNSUPPORTED_VERSION', `${message.name} v${version} is not described`);
  }
  const reader = new ByteReader(frame, { what: `kafka ${message.name} response`, code: 'CORRUPT_MESSAGE' });
  const { correlationId } = decodeResponseHeader(reader, message.apiKey, version);
  const body = decodeBody(reader, message.response, message, version) as ResponseOf<M>;
  return { correlationId, body };
}
