/**
 * Messages as applications see them: what a producer takes and what a consumer yields.
 */
import type { RecordHeader, RecordInput } from '../format/record-batch.js';
import { WeirError } from '../util/errors.js';

export type Bytes = Buffer | string;

export interface ProducerMessage {
  /** Messages with the same key go to the same partition (Kafka's murmur2), in order. */
  key?: Bytes | null;
  value: Bytes | null;
  headers?: Record<string, Bytes | null> | readonly RecordHeader[];
  /** Overrides key partitioning. */
  partition?: number;
  /** Defaults to the time of sending. */
  timestamp?: number | Date;
  /** Queue subscriptions deliver the message no earlier than this many ms after sending … */
  delayMs?: number;
  /** … or no earlier than this time. */
  deliverAt?: number | Date;
  /** Queue subscriptions do not deliver the message after this many ms from sending. */
  ttlMs?: number;
}

/** Where a message was stored. `offset` is -1n for acks 'none' (the broker does not answer). */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface ConsumerMessage {
  topic: string;
  partition: number;
  offset: bigint;
  /** Milliseconds since the epoch. */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** `field`'s bytes: a string as UTF-8, a Buffer or Uint8Array as it is (no copy); null stays null. */
function toBytes(field: string, bytes: unknown): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new WeirError('INVALID_REQUEST', `${field} must be a string, a Buffer or null, not ${describe(bytes)}`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function toHeaders(headers: unknown): RecordHeader[] {
  if (Array.isArray(headers)) {
    return headers.map((header: unknown, i) => {
      const name = (header as RecordHeader | null)?.key;
      if (typeof name !== 'string') throw new WeirError('INVALID_REQUEST', `headers[${i}] needs a string key`);
      return { key: name, value: toBytes(`header ${name}`, (header as RecordHeader).value) };
    });
  }
  if (typeof headers !== 'object' || headers === null) {
    throw new WeirError('INVALID_REQUEST', `headers must be an object or an array of { key, value }, not ${describe(headers)}`);
  }
  return Object.entries(headers).map(([name, value]) => ({ key: name, value: toBytes(`header ${name}`, value) }));
}

function toTimestamp(timestamp: number | Date | undefined): number | undefined {
  if (timestamp === undefined) return undefined;
  const ms = timestamp instanceof Date ? timestamp.getTime() : timestamp;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new WeirError('INVALID_REQUEST', `timestamp must be a Date or milliseconds since the epoch, not ${describe(timestamp)}`);
  }
  return Math.round(ms);
}

/**
 * The record a message becomes (no copy of Buffer keys and values). A field of the wrong type
 * throws INVALID_REQUEST naming it, so one bad message never reaches a batch shared with others.
 */
export function toRecordInput(message: ProducerMessage): RecordInput & { key: Buffer | null } {
  let headers = message.headers === undefined ? undefined : toHeaders(message.headers);
  const timestamp = toTimestamp(message.timestamp);
  if (message.delayMs !== undefined || message.deliverAt !== undefined || message.ttlMs !== undefined) {
    headers = [...(headers ?? []), ...schedulingHeaders(message)];
  }
  return { key: toBytes('key', message.key), value: toBytes('value', message.value), headers, timestamp };
}

/** Record header names the broker reads for queue subscriptions (docs/queues.md). */
export const schedulingHeaderNames = { deliverAt: 'weir-deliver-at', expiresAt: 'weir-expires-at' } as const;

function schedulingHeaders(message: ProducerMessage): RecordHeader[] {
  const now = Date.now();
  const checked = (field: string, ms: number): number => {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new WeirError('INVALID_REQUEST', `${field} ${ms} is not a non-negative number of milliseconds`);
    return ms;
  };
  const headers: RecordHeader[] = [];
  let deliverAtMs: number | undefined;
  if (message.deliverAt !== undefined) deliverAtMs = checked('deliverAt', message.deliverAt instanceof Date ? message.deliverAt.getTime() : message.deliverAt);
  if (message.delayMs !== undefined) deliverAtMs = Math.max(deliverAtMs ?? 0, now + checked('delayMs', message.delayMs));
  if (deliverAtMs !== undefined) headers.push({ key: schedulingHeaderNames.deliverAt, value: Buffer.from(String(Math.round(deliverAtMs))) });
  if (message.ttlMs !== undefined) headers.push({ key: schedulingHeaderNames.expiresAt, value: Buffer.from(String(Math.round(now + checked('ttlMs', message.ttlMs)))) });
  return headers;
}
