/**
 * Queue subscription state, kept in an internal log of the same storage engine (topic
 * `__queue_state`, one partition, flush `always`). Record key: `topic \0 subscription`. Values
 * (UTF-8 JSON):
 *
 *   {"k":"c", "config":{…}, "dlq":{"0":"17"}, "partitions":[{"p":0,"floor":"5","scanEnd":"90",
 *    "unsettled":[["7",2,1700000000000],…]}]}
 *        a checkpoint: the whole state of the subscription. Below `scanEnd` every offset from
 *        `floor` on is settled except the `unsettled` ones ([offset, deliveries, due time]).
 *   {"k":"e", "p":0, "s":[["100","140"]], "f":[["97",3,1700000000000]], "d":[[0,"18"]]}
 *        events since: settled ranges [from, to), failed deliveries, dead letters written. One
 *        record holds the events of one append, unordered; recovery applies the failures first,
 *        as a settled offset never fails again.
 *   null  the subscription was deleted.
 *
 * Settlements are appended as they happen, one batch at a time: what is recorded while a batch is
 * being written and synced goes in the next one (group commit), so an acknowledgement is durable
 * when `settle` answers. Every checkpoint round writes a checkpoint for every subscription and
 * then drops the log segments that only older records fill.
 */
import { RecordBatchBuilder, decodeBatches } from '../../format/record-batch.js';
import type { Partition } from '../partition.js';
import type { QueueSubscriptionConfig } from '../types.js';
import type { RecoveredOffsets } from './queue-partition.js';

export const queueStateTopic = '__queue_state';
/** How long settlements nobody waits for may wait to be written (gathered with later ones). */
export const quietSettleFlushMs = 3;
const replayReadBytes = 4 * 1024 * 1024;
const decompressedBytesMax = 256 * 1024 * 1024;

export interface CheckpointPartition {
  p: number;
  floor: string;
  scanEnd: string;
  unsettled: [string, number, number][];
}

export interface Checkpoint {
  k: 'c';
  config: QueueSubscriptionConfig;
  dlq: Record<string, string>;
  partitions: CheckpointPartition[];
}

interface Events {
  k: 'e';
  p: number;
  s?: [string, string][];
  f?: [string, number, number][];
  d?: [number, string][];
}

/** A subscription as recovery rebuilds it. */
export interface RecoveredSubscription {
  topic: string;
  name: string;
  config: QueueSubscriptionConfig;
  /** Dead-letter partition → the next offset not yet known to hold this subscription's letters. */
  dlq: Map<number, bigint>;
  partitions: Map<number, { floor: bigint; recovered: RecoveredOffsets }>;
}

export function subscriptionKey(topic: string, name: string): string {
  return `${topic}\u0000${name}`;
}

interface PendingEvents {
  /** Settled offsets as [from, to) pairs, flat: from0, to0, from1, to1, ... */
  settled: number[];
  failed: [string, number, number][];
  deadLetters: [number, string][];
}

export class QueueStateLog {
  readonly #partition: Partition;
  /** subscription key → partition → events not yet appended */
  #pending = new Map<string, Map<number, PendingEvents>>();
  #records: { key: string; value: (() => Checkpoint) | null }[] = [];
  #waiters: { resolve: (baseOffset: bigint) => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;
  /** An append is under way: what comes meanwhile waits for it and goes in the next batch. */
  #appending = false;
  /** Set while records nobody waits for wait to be written (see flushSoon). */
  #soonTimer: NodeJS.Timeout | null = null;
  /** The latest append: a flush with nothing pending waits for it (its own waiters see its outcome). */
  #lastAppend: Promise<unknown> = Promise.resolve();
  /** The pending events last written to (consecutive settlements mostly share one). */
  #lastEvents: { key: string; partition: number; events: PendingEvents } | null = null;

  constructor(partition: Partition) {
    this.#partition = partition;
  }

  get log(): Partition['log'] {
    return this.#partition.log;
  }

  // --- writing -------------------------------------------------------------------------------

  #events(key: string, partition: number): PendingEvents {
    const last = this.#lastEvents;
    if (last !== null && last.key === key && last.partition === partition) return last.events;
    let byPartition = this.#pending.get(key);
    if (byPartition === undefined) this.#pending.set(key, (byPartition = new Map()));
    let events = byPartition.get(partition);
    if (events === undefined) byPartition.set(partition, (events = { settled: [], failed: [], deadLetters: [] }));
    this.#lastEvents = { key, partition, events };
    return events;
  }

  /** Offsets `offset` to `offset + count - 1` were settled. */
  settled(key: string, partition: number, offset: number, count = 1): void {
    const settled = this.#events(key, partition).settled;
    const last = settled.length - 1;
    if (last > 0 && settled[last] === offset) settled[last] = offset + count; // extends the previous run
    else settled.push(offset, offset + count);
  }

  failed(key: string, partition: number, offset: number, deliveryCount: number, dueAtMs: number): void {
    this.#events(key, partition).failed.push([String(offset), deliveryCount, dueAtMs]);
  }

  deadLettered(key: string, partition: number, offset: number, dlqPartition: number, dlqOffset: bigint): void {
    this.settled(key, partition, offset);
    this.#events(key, partition).deadLetters.push([dlqPartition, dlqOffset.toString()]);
  }

  /**
   * Appends a whole record after the pending events: a checkpoint (taken when the batch is built,
   * so it includes every event before it), or null for a deletion.
   */
  put(key: string, value: (() => Checkpoint) | null): void {
    this.#records.push({ key, value });
  }

  /**
   * Resolves, with the base offset of the batch that held them, when the records are durable;
   * with nothing pending, once the last append already under way is (so that an answer given
   * after it covers everything recorded before).
   */
  flushed(): Promise<bigint> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#scheduleFlush();
    });
  }

  /**
   * Writes what is pending within `quietSettleFlushMs`, for records nobody waits for (quiet
   * settlements): they share a batch and its sync with what comes meanwhile, and a `flushed()`
   * before then takes them along at once.
   */
  flushSoon(): void {
    if (this.#soonTimer !== null || this.#scheduled) return;
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = null;
      this.#scheduleFlush();
    }, quietSettleFlushMs);
    this.#soonTimer.unref();
  }

  /**
   * One append at a time (group commit at this level): while one is under way, its end schedules
   * the next, so settlements arriving meanwhile share one batch instead of one per event-loop turn.
   */
  #scheduleFlush(): void {
    if (this.#scheduled || this.#appending) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Appends what is pending as one batch. */
  #flush(): void {
    this.#scheduled = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    const builder = new RecordBatchBuilder();
    let count = 0;
    for (const [key, byPartition] of this.#pending) {
      const keyBytes = Buffer.from(key);
      for (const [p, events] of byPartition) {
        const value: Events = { k: 'e', p };
        if (events.settled.length > 0) value.s = toRanges(events.settled);
        if (events.failed.length > 0) value.f = events.failed;
        if (events.deadLetters.length > 0) value.d = events.deadLetters;
        builder.add({ key: keyBytes, value: Buffer.from(JSON.stringify(value)) });
        count++;
      }
    }
    for (const record of this.#records) {
      builder.add({ key: Buffer.from(record.key), value: record.value === null ? null : Buffer.from(JSON.stringify(record.value())) });
      count++;
    }
    this.#pending = new Map();
    this.#lastEvents = null;
    this.#records = [];
    const baseOffset = this.#partition.log.offsetEnd;
    const appended = count === 0 ? this.#lastAppend : this.#partition.append(builder.build());
    this.#lastAppend = appended;
    if (count > 0) {
      this.#appending = true;
      const next = (): void => {
        this.#appending = false;
        if (this.#waiters.length > 0) this.#scheduleFlush();
        else if (this.#pending.size > 0 || this.#records.length > 0) this.flushSoon();
      };
      appended.then(next, next);
    }
    appended.then(
      () => waiters.forEach((w) => w.resolve(baseOffset)),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
  }

  // --- replaying -----------------------------------------------------------------------------

  /** Rebuilds every subscription from the log. */
  async replay(): Promise<Map<string, RecoveredSubscription>> {
    const subscriptions = new Map<string, RecoveredSubscription>();
    const log = this.#partition.log;
    let offset = log.offsetStart;
    while (offset < log.highWatermark) {
      const bytes = await log.read(offset, replayReadBytes);
      if (bytes.length === 0) break;
      const records = decodeBatches(bytes, { decompressedBytesMax, offsetMin: offset });
      if (records.length === 0) break;
      for (const record of records) {
        offset = record.offset + 1n;
        const key = record.key?.toString('utf8') ?? '';
        if (record.value === null) {
          subscriptions.delete(key);
          continue;
        }
        const value = JSON.parse(record.value.toString('utf8')) as Checkpoint | Events;
        if (value.k === 'c') subscriptions.set(key, fromCheckpoint(key, value));
        else {
          const subscription = subscriptions.get(key);
          if (subscription !== undefined) applyEvents(subscription, value);
        }
      }
    }
    return subscriptions;
  }
}

function fromCheckpoint(key: string, checkpoint: Checkpoint): RecoveredSubscription {
  const [topic = '', name = ''] = key.split('\u0000');
  const partitions = new Map<number, { floor: bigint; recovered: RecoveredOffsets }>();
  for (const p of checkpoint.partitions) {
    const unsettled = new Map(p.unsettled.map(([o, deliveryCount, dueAtMs]) => [BigInt(o), { deliveryCount, dueAtMs }] as const));
    partitions.set(p.p, { floor: BigInt(p.floor), recovered: { scanEnd: BigInt(p.scanEnd), unsettled } });
  }
  const dlq = new Map(Object.entries(checkpoint.dlq).map(([p, o]) => [Number(p), BigInt(o)] as const));
  return { topic, name, config: checkpoint.config, dlq, partitions };
}

/**
 * Settled ranges and failures since the checkpoint move the recovered picture forward. A record
 * holds the events of one append without their order: a message that failed and was then
 * acknowledged while an append was under way has both. Settling is final (a settled offset never
 * fails again), so failures apply first and settlements after them.
 */
export function applyEvents(subscription: RecoveredSubscription, events: Events): void {
  let state = subscription.partitions.get(events.p);
  if (state === undefined) {
    state = { floor: 0n, recovered: { scanEnd: 0n, unsettled: new Map() } };
    subscription.partitions.set(events.p, state);
  }
  const recovered = state.recovered;
  // Offsets between the known scan end and a newly mentioned offset were read and not settled.
  const reach = (offset: bigint): void => {
    for (let o = recovered.scanEnd; o < offset; o++) recovered.unsettled.set(o, { deliveryCount: 0, dueAtMs: 0 });
    if (offset > recovered.scanEnd) recovered.scanEnd = offset;
  };
  for (const [o, deliveryCount, dueAtMs] of events.f ?? []) {
    const offset = BigInt(o);
    reach(offset);
    recovered.unsettled.set(offset, { deliveryCount, dueAtMs });
    if (offset >= recovered.scanEnd) recovered.scanEnd = offset + 1n;
  }
  for (const [from, to] of events.s ?? []) {
    const start = BigInt(from);
    const end = BigInt(to);
    reach(start);
    if (end - start < BigInt(recovered.unsettled.size)) {
      for (let o = start; o < end; o++) recovered.unsettled.delete(o);
    } else {
      for (const o of recovered.unsettled.keys()) if (o >= start && o < end) recovered.unsettled.delete(o);
    }
    if (end > recovered.scanEnd) recovered.scanEnd = end;
  }
  for (const [p, o] of events.d ?? []) {
    const next = BigInt(o) + 1n;
    if (next > (subscription.dlq.get(p) ?? 0n)) subscription.dlq.set(p, next);
  }
}

/** [from, to) pairs (flat, in any order, possibly adjacent) as sorted, merged ranges. */
function toRanges(pairs: number[]): [string, string][] {
  const runs: [number, number][] = [];
  let sorted = true;
  for (let i = 0; i < pairs.length; i += 2) {
    const run: [number, number] = [pairs[i]!, pairs[i + 1]!];
    if (runs.length > 0 && run[0] < runs[runs.length - 1]![0]) sorted = false;
    runs.push(run);
  }
  if (!sorted) runs.sort((a, b) => a[0] - b[0]);
  const ranges: [string, string][] = [];
  let [from, to] = runs[0]!;
  for (let i = 1; i < runs.length; i++) {
    const [start, end] = runs[i]!;
    if (start <= to) {
      if (end > to) to = end;
    } else {
      ranges.push([String(from), String(to)]);
      from = start;
      to = end;
    }
  }
  ranges.push([String(from), String(to)]);
  return ranges;
}
