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

function toBuffer(bytes: Bytes | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
}

/** The record a message becomes (no copy of Buffer keys and values). */
export function toRecordInput(message: ProducerMessage): RecordInput & { key: Buffer | null } {
  let headers = message.headers === undefined
    ? undefined
    : Array.isArray(message.headers)
      ? (message.headers as readonly RecordHeader[])
      : Object.entries(message.headers).map(([key, value]) => ({ key, value: toBuffer(value as Bytes | null) }));
  const timestamp = message.timestamp instanceof Date ? message.timestamp.getTime() : message.timestamp;
  if (message.delayMs !== undefined || message.deliverAt !== undefined || message.ttlMs !== undefined) {
    headers = [...(headers ?? []), ...schedulingHeaders(message)];
  }
  return { key: toBuffer(message.key), value: toBuffer(message.value), headers, timestamp };
}

/** Record header names the broker reads for queue subscriptions (docs/queues.md). */
export const schedulingHeaderNames = { deliverAt: 'weir-deliver-at', expiresAt: 'weir-expires-at' } as const;

function schedulingHeaders(message: ProducerMessage): RecordHeader[] {
  const now = Date.now();
  const checked = (field: string, ms: number): number => {
    if (!Number.isFinite(ms) || ms < 0) throw new WeirError('INVALID_REQUEST', `${field} ${ms} is not a non-negative number of milliseconds`);
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
