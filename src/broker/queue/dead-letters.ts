/**
 * Dead letters: the record a failing message becomes in its dead-letter topic, reading such
 * records back (listing, replay, and recovery's scan for letters the state log missed).
 *
 * A dead letter keeps the message's key, value, timestamp and headers, and adds headers naming
 * the original topic, partition and offset, the subscription, the delivery count, the reason and
 * the time (see `queueHeaders` in types.ts).
 */
import { RecordBatchBuilder, type DecodedRecord, type RecordHeader } from '../../format/record-batch.js';
import { queueHeaders, type DeadLetter } from '../types.js';
import { entryRecord, type QueueEntry } from './queue-partition.js';

const deadLetterHeaderKeys = new Set<string>([
  queueHeaders.originalTopic,
  queueHeaders.originalPartition,
  queueHeaders.originalOffset,
  queueHeaders.subscription,
  queueHeaders.deliveryCount,
  queueHeaders.reason,
  queueHeaders.deadLetteredAt,
]);

/**
 * What a dead letter adds to its message at most: the headers above (the reason up to 1000
 * characters, a topic name up to 249), their framing, and a batch header of its own.
 */
export const deadLetterHeadersBytesMax = 16 * 1024;

export function buildDeadLetter(entry: QueueEntry, origin: { topic: string; subscription: string; reason: string }): Buffer {
  const record = entryRecord(entry);
  const text = (value: string | number | bigint): Buffer => Buffer.from(String(value));
  const headers: RecordHeader[] = [
    ...record.headers.filter((h) => !deadLetterHeaderKeys.has(h.key)),
    { key: queueHeaders.originalTopic, value: text(origin.topic) },
    { key: queueHeaders.originalPartition, value: text(entry.partition.index) },
    { key: queueHeaders.originalOffset, value: text(entry.offset) },
    { key: queueHeaders.subscription, value: text(origin.subscription) },
    { key: queueHeaders.deliveryCount, value: text(entry.deliveryCount) },
    { key: queueHeaders.reason, value: text(origin.reason) },
    { key: queueHeaders.deadLetteredAt, value: text(Date.now()) },
  ];
  const builder = new RecordBatchBuilder();
  builder.add({ key: record.key, value: record.value, headers, timestamp: record.timestamp });
  return builder.build();
}

/** Reads a dead-letter record; null when it does not carry the dead-letter headers. */
export function deadLetterOf(partition: number, record: DecodedRecord): DeadLetter | null {
  const fields = new Map<string, string>();
  const own: RecordHeader[] = [];
  for (const header of record.headers) {
    if (deadLetterHeaderKeys.has(header.key)) fields.set(header.key, header.value?.toString('utf8') ?? '');
    else own.push(header);
  }
  const originalTopic = fields.get(queueHeaders.originalTopic);
  const originalOffset = fields.get(queueHeaders.originalOffset);
  if (originalTopic === undefined || originalOffset === undefined || !/^\d+$/.test(originalOffset)) return null;
  return {
    partition,
    offset: record.offset,
    timestampMs: record.timestamp,
    key: record.key,
    value: record.value,
    headers: own,
    originalTopic,
    originalPartition: Number(fields.get(queueHeaders.originalPartition) ?? -1),
    originalOffset: BigInt(originalOffset),
    subscription: fields.get(queueHeaders.subscription) ?? '',
    deliveryCount: Number(fields.get(queueHeaders.deliveryCount) ?? 0),
    reason: fields.get(queueHeaders.reason) ?? '',
    deadLetteredAtMs: Number(fields.get(queueHeaders.deadLetteredAt) ?? 0),
  };
}

/**
 * The message as it is produced again to its original topic: without the dead-letter headers,
 * and without its delivery time and expiry (a replay asks for the message to be handled now).
 */
export function replayBatch(letter: DeadLetter): Buffer {
  const builder = new RecordBatchBuilder();
  const headers = letter.headers.filter((h) => h.key !== queueHeaders.deliverAt && h.key !== queueHeaders.expiresAt);
  builder.add({ key: letter.key, value: letter.value, headers });
  return builder.build();
}
