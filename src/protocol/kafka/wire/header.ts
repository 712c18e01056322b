/**
 * Request and response headers.
 *
 *   request header v1:  api_key int16, api_version int16, correlation_id int32,
 *                       client_id nullable string (int16 length)
 *   request header v2:  v1, then a tagged-field section (client_id stays non-compact)
 *   response header v0: correlation_id int32
 *   response header v1: v0, then a tagged-field section
 *
 * A request uses v2 when its API version is flexible, v1 otherwise; the response likewise uses
 * v1 or v0 — except ApiVersions, whose response header is always v0 so that a client can read
 * the answer whatever version it asked for.
 */
import type { ByteReader } from '../../../format/byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import { messageForKey } from './messages.js';
import { isFlexible, type FieldSpec } from './schema.js';
import { decodeStruct, encodeStruct, structPlan } from './struct-codec.js';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

const apiVersionsKey = 18;

const requestHeaderFields = [
  { name: 'apiKey', type: 'int16' },
  { name: 'apiVersion', type: 'int16' },
  { name: 'correlationId', type: 'int32' },
  { name: 'clientId', type: 'string', nullable: '0+', default: null, neverCompact: true },
] as const satisfies readonly FieldSpec[];

const responseHeaderFields = [{ name: 'correlationId', type: 'int32' }] as const satisfies readonly FieldSpec[];

/** 2 for flexible versions of known APIs, 1 otherwise. */
export function requestHeaderVersion(apiKey: number, apiVersion: number): 1 | 2 {
  const message = messageForKey(apiKey);
  return message !== undefined && isFlexible(message, apiVersion) ? 2 : 1;
}

export function responseHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 {
  if (apiKey === apiVersionsKey) return 0;
  return requestHeaderVersion(apiKey, apiVersion) === 2 ? 1 : 0;
}

/**
 * Reads the header. The first eight bytes decide the header version; for an unknown API or
 * version the header is read as v1 (nothing after it is trusted anyway).
 */
export function decodeRequestHeader(reader: ByteReader): RequestHeader {
  reader.need(8, 'request header');
  const apiKey = reader.buffer.readInt16BE(reader.position);
  const apiVersion = reader.buffer.readInt16BE(reader.position + 2);
  const flexible = requestHeaderVersion(apiKey, apiVersion) === 2;
  return decodeStruct(reader, structPlan(requestHeaderFields, 0, flexible)) as unknown as RequestHeader;
}

export function encodeRequestHeader(writer: ByteWriter, header: RequestHeader): void {
  const flexible = requestHeaderVersion(header.apiKey, header.apiVersion) === 2;
  encodeStruct(writer, structPlan(requestHeaderFields, 0, flexible), { ...header });
}

export function decodeResponseHeader(reader: ByteReader, apiKey: number, apiVersion: number): { correlationId: number } {
  const flexible = responseHeaderVersion(apiKey, apiVersion) === 1;
  return decodeStruct(reader, structPlan(responseHeaderFields, 0, flexible)) as { correlationId: number };
}

export function encodeResponseHeader(writer: ByteWriter, header: RequestHeader): void {
  const flexible = responseHeaderVersion(header.apiKey, header.apiVersion) === 1;
  encodeStruct(writer, structPlan(responseHeaderFields, 0, flexible), { correlationId: header.correlationId });
}
