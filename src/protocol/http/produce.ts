/**
 * HTTP produce: `{"encoding"?, "messages":[{key?, value, headers?, partition?, delayMs?, ttlMs?}]}`.
 *
 * The whole request is validated and every partition's batch is built (and checked against the
 * topic's messageBytesMax) before anything is produced, so bad input stores nothing. Then each
 * partition gets one RecordBatch v2 batch, appended with acks 'leader' (durable under the topic's
 * flush policy). A request spanning several partitions is atomic per partition only: when one
 * partition refuses (QUEUE_FULL, say) the others may have stored theirs; the answer then names
 * the error and, per message, where it went or why not.
 */
import type { BrokerApi, ProduceResult } from '../../broker/types.js';
import { queueHeaders } from '../../broker/types.js';
import { partitionForKey } from '../../format/partitioner.js';
import { RecordBatchBuilder, type RecordHeader } from '../../format/record-batch.js';
import { WeirError, asWeirError } from '../../util/errors.js';
import { errorJson, type ErrorJson } from './http-errors.js';
import { encodings, type Encoding } from './message-json.js';
import { arrayOf, integerIn, invalid, objectWith, oneOf, stringOf, wellFormed } from './schema.js';

/** Messages in one produce request (or WebSocket produce frame). */
export const produceMessagesMax = 10_000;
export const headersPerMessageMax = 100;
export const headerNameLengthMax = 1_000;
/** delayMs and ttlMs reach at most a year ahead. */
export const scheduleMsMax = 365 * 24 * 3_600_000;
const partitionIndexMax = 9_999;

export interface ProduceMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  partition: number | null;
  delayMs: number | null;
  ttlMs: number | null;
}

export type MessageOutcome = { partition: number; offset: number } | { partition: number; error: ErrorJson };

export interface ProduceOutcome {
  results: MessageOutcome[];
  /** The first partition's failure, when any partition failed. */
  error: WeirError | null;
}

const messageFields = ['key', 'value', 'headers', 'partition', 'delayMs', 'ttlMs'] as const;

/** Validates a produce body (or a WebSocket produce frame without its `type`/`id`). */
export function parseProduceBody(body: unknown, extraFields: readonly string[] = []): ProduceMessage[] {
  const request = objectWith(body, 'body', ['encoding', 'messages', ...extraFields]);
  const encoding: Encoding = request.encoding === undefined ? 'utf8' : oneOf(request.encoding, 'encoding', encodings);
  const items = arrayOf(request.messages, 'messages', 1, produceMessagesMax);
  const messages: ProduceMessage[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) messages[i] = parseMessage(items[i], `messages[${i}]`, encoding);
  return messages;
}

function parseMessage(value: unknown, path: string, encoding: Encoding): ProduceMessage {
  const item = objectWith(value, path, messageFields);
  if (!('value' in item)) invalid(`${path}.value`, 'a string or null (the field is required)');
  return {
    key: item.key === undefined ? null : bytesOf(item.key, `${path}.key`, encoding),
    value: bytesOf(item.value, `${path}.value`, encoding),
    headers: item.headers === undefined ? [] : headersOf(item.headers, `${path}.headers`, encoding),
    partition: item.partition === undefined ? null : integerIn(item.partition, `${path}.partition`, 0, partitionIndexMax),
    delayMs: item.delayMs === undefined ? null : integerIn(item.delayMs, `${path}.delayMs`, 0, scheduleMsMax),
    ttlMs: item.ttlMs === undefined ? null : integerIn(item.ttlMs, `${path}.ttlMs`, 1, scheduleMsMax),
  };
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function bytesOf(value: unknown, path: string, encoding: Encoding): Buffer | null {
  if (value === null) return null;
  if (typeof value !== 'string') invalid(path, encoding === 'base64' ? 'a base64 string or null' : 'a string or null', value);
  if (encoding === 'utf8') return Buffer.from(wellFormed(value, path), 'utf8');
  if (!base64Pattern.test(value)) invalid(path, 'standard base64 (A-Z a-z 0-9 + / with = padding)', value);
  return Buffer.from(value, 'base64');
}

function headersOf(value: unknown, path: string, encoding: Encoding): RecordHeader[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(path, 'an object of header names to string values', value);
  const entries = Object.entries(value);
  if (entries.length > headersPerMessageMax) invalid(path, `at most ${headersPerMessageMax} headers, got ${entries.length}`);
  return entries.map(([name, text]) => {
    stringOf(name, `${path} name`, headerNameLengthMax);
    if (name.startsWith('weir-')) invalid(`${path}.${name}`, 'a header name not starting with "weir-" (reserved; use delayMs and ttlMs)');
    return { key: name, value: bytesOf(text, `${path}.${name}`, encoding) };
  });
}

/** Picks partitions (explicit, by key, else round robin), builds the batches, produces them. */
export class HttpProducer {
  readonly #broker: BrokerApi;
  /** Next round-robin partition per topic (bounded: cleared when it holds too many topics). */
  readonly #roundRobin = new Map<string, number>();
  static readonly roundRobinTopicsMax = 10_000;

  constructor(broker: BrokerApi) {
    this.#broker = broker;
  }

  async produce(topic: string, messages: readonly ProduceMessage[]): Promise<ProduceOutcome> {
    // The highest partition named, so that a topic is not created for a partition it would not have.
    let named: number | undefined;
    for (const message of messages) if (message.partition !== null && (named === undefined || message.partition > named)) named = message.partition;
    const description = await this.#broker.ensureTopic(topic, named);
    const partitionCount = description.partitions.length;
    const partitions = this.#assign(topic, messages, partitionCount);
    const batches = buildBatches(messages, partitions);
    const bytesMax = description.config.messageBytesMax;
    for (const [partition, { batch }] of batches) {
      if (batch.length > bytesMax) {
        throw new WeirError('MESSAGE_TOO_LARGE', `the messages for ${topic}/${partition} make a batch of ${batch.length} bytes; the topic's messageBytesMax is ${bytesMax}`);
      }
    }
    const entries = [...batches];
    const settled = await Promise.allSettled(entries.map(([partition, { batch }]) => this.#broker.produce({ topic, partition, batches: batch, acks: 'leader' })));
    return collectResults(messages.length, entries, settled);
  }

  #assign(topic: string, messages: readonly ProduceMessage[], partitionCount: number): Int32Array {
    const partitions = new Int32Array(messages.length);
    let next = this.#roundRobin.get(topic) ?? 0;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      if (message.partition !== null) {
        if (message.partition >= partitionCount) {
          throw new WeirError('UNKNOWN_PARTITION', `messages[${i}].partition: topic ${topic} has partitions 0..${partitionCount - 1}, not ${message.partition}`);
        }
        partitions[i] = message.partition;
      } else if (message.key !== null) {
        partitions[i] = partitionForKey(message.key, partitionCount);
      } else {
        partitions[i] = next;
        next = (next + 1) % partitionCount;
      }
    }
    if (this.#roundRobin.size >= HttpProducer.roundRobinTopicsMax && !this.#roundRobin.has(topic)) this.#roundRobin.clear();
    this.#roundRobin.set(topic, next);
    return partitions;
  }
}

interface PartitionBatch {
  batch: Buffer;
  /** Indexes of the request's messages, in batch order. */
  indexes: number[];
}

function buildBatches(messages: readonly ProduceMessage[], partitions: Int32Array): Map<number, PartitionBatch> {
  const builders = new Map<number, { builder: RecordBatchBuilder; indexes: number[] }>();
  const now = Date.now();
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    const partition = partitions[i]!;
    let entry = builders.get(partition);
    if (entry === undefined) {
      entry = { builder: new RecordBatchBuilder(), indexes: [] };
      builders.set(partition, entry);
    }
    entry.builder.add({ key: message.key, value: message.value, headers: withSchedule(message, now), timestamp: now });
    entry.indexes.push(i);
  }
  const batches = new Map<number, PartitionBatch>();
  for (const [partition, { builder, indexes }] of builders) batches.set(partition, { batch: builder.build(), indexes });
  return batches;
}

function withSchedule(message: ProduceMessage, now: number): RecordHeader[] {
  if (message.delayMs === null && message.ttlMs === null) return message.headers;
  const headers = [...message.headers];
  if (message.delayMs !== null) headers.push({ key: queueHeaders.deliverAt, value: Buffer.from(String(now + message.delayMs)) });
  if (message.ttlMs !== null) headers.push({ key: queueHeaders.expiresAt, value: Buffer.from(String(now + message.ttlMs)) });
  return headers;
}

function collectResults(count: number, entries: [number, PartitionBatch][], settled: PromiseSettledResult<ProduceResult>[]): ProduceOutcome {
  const results: MessageOutcome[] = new Array(count);
  let error: WeirError | null = null;
  entries.forEach(([partition, { indexes }], e) => {
    const outcome = settled[e]!;
    if (outcome.status === 'fulfilled') {
      const baseOffset = Number(outcome.value.baseOffset);
      indexes.forEach((index, n) => (results[index] = { partition, offset: baseOffset + n }));
    } else {
      const failure = asWeirError(outcome.reason);
      error ??= failure;
      const json = errorJson(failure);
      for (const index of indexes) results[index] = { partition, error: json };
    }
  });
  return { results, error };
}
