/**
 * Messages as applications see them: what a producer takes and what a consumer yields.
 */
import type { RecordHeader, RecordInput } from '../format/record-batch.js';

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
  const headers = message.headers === undefined
    ? undefined
    : Array.isArray(message.headers)
      ? (message.headers as readonly RecordHeader[])
      : Object.entries(message.headers).map(([key, value]) => ({ key, value: toBuffer(value as Bytes | null) }));
  const timestamp = message.timestamp instanceof Date ? message.timestamp.getTime() : message.timestamp;
  return { key: toBuffer(message.key), value: toBuffer(message.value), headers, timestamp };
}
