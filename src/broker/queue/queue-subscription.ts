/**
 * A queue subscription on one topic: its consumers compete for the messages of every partition.
 * Each delivery is a lease with a deadline; ack settles it, nack / an expired deadline / a
 * closed consumer makes the message available again after a backoff with its delivery count
 * raised, and past `deliveriesMax` (or on reject) it goes to the dead-letter topic exactly once.
 * A release gives a delivery back unseen (a closing consumer's buffered messages): it does not
 * count, and the message is ready again at once. Every settlement, failure and release is
 * recorded in the queue state log (queue-state-log.ts).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { isWeirError, WeirError } from '../../util/errors.js';
import type { SharedByteBudget } from '../../util/byte-budget.js';
import type { Logger } from '../../util/logger.js';
import { MinHeap } from '../../util/min-heap.js';
import { rejectReasonKept } from '../../util/reject-reason.js';
import type { Partition } from '../partition.js';
import type {
  QueueConsumerOptions,
  QueueDelivery,
  QueuePartitionState,
  QueueSettleFailure,
  QueueSettlement,
  QueueSubscriptionConfig,
  SubscriptionDescription,
} from '../types.js';
import { buildDeadLetter } from './dead-letters.js';
import { extendMsMin, redeliveryDelayMs, settleDelayMsMax } from './queue-config.js';
import type { LeaseMemory } from './lease-memory.js';
import { QueueConsumerSession, type ConsumerOwner } from './queue-consumer.js';
import { QueuePartition, windowReadAheadBytesMax, type QueueEntry, type RecoveredOffsets } from './queue-partition.js';
import { subscriptionKey, type Checkpoint, type QueueStateLog, type RecoveredSubscription } from './queue-state-log.js';

/** Unsettled messages held in memory per partition. */
export const windowMessagesMax = 10_000;
/**
 * Refill the window when fewer ready messages than this remain in a partition. Entries are made
 * shortly before they are needed: read far ahead, they are out of the processor's caches by the
 * time a consumer takes them, and taking them costs more than reading them did.
 */
export const windowRefillBelow = 2_000;
/** Messages handed to one consumer per dispatch round, so competing consumers share. */
const dispatchChunk = 512;
/**
 * A full window parks scheduled messages due later than this from now (queue-partition.ts); they
 * are read back this long before they are due.
 */
export const parkLeadMs = 2_000;
/** Parked messages per partition at most (about 100 bytes each). */
export const parkedMessagesMax = 1_000_000;
/** Parked messages read back into one partition's window per round, at least. */
const unparkChunk = 1_000;
/** Pause before a partition's log is read again after a read failed. */
const readRetryMs = 1_000;
/** Pause before dead-lettering is tried again after the dead-letter topic refused a message, at first and at most. */
const deadLetterRetryMs = 1_000;
const deadLetterRetryMsMax = 60_000;
export const consumersPerSubscriptionMax = 10_000;

export interface QueueHost {
  readonly logger: Logger;
  /** Appends a dead letter, creating the topic when it is missing (sized for the source topic's messages). */
  appendDeadLetter(topic: string, source: { topic: string; partition: number }, batch: Buffer): Promise<{ partition: number; offset: bigint }>;
  /** The topic's message time-to-live, or null. */
  messageTtlMs(topic: string): number | null;
}

export class QueueSubscription implements ConsumerOwner {
  readonly topic: string;
  readonly name: string;
  readonly key: string;
  readonly config: QueueSubscriptionConfig;
  readonly partitions: QueuePartition[];
  /** Dead-letter partition → next offset not yet known to hold a letter of this subscription. */
  readonly dlqPositions: Map<number, bigint>;
  /**
   * This opening's lease epoch (QueueDelivery.leaseEpoch). A message released n times is leased
   * in the epoch n steps after it (`leaseEpochAfter`).
   */
  readonly leaseEpoch = randomInt(1, leaseEpochsCount + 1);
  /** The most releases of any one message in this opening: receipts from further epochs are from another opening. */
  #releasesMax = 0;
  readonly #host: QueueHost;
  readonly #state: QueueStateLog;
  readonly #windowMemory: SharedByteBudget;
  readonly #leaseMemory: LeaseMemory;
  /** Dispatches again once leases end (given to the lease memory while consumers wait for room). */
  readonly #wakeForRoom = (): void => this.dispatchSoon();
  readonly #consumers = new Set<QueueConsumerSession>();
  readonly #scheduled = new MinHeap<QueueEntry>((entry) => entry.dueAtMs);
  readonly #scheduleTimer = new EarliestTimer(() => this.dispatchSoon());
  /** Parked messages by due time (stale items, whose message left `parked`, are skipped). */
  readonly #parkedByDue = new MinHeap<{ partition: QueuePartition; offset: number; dueAtMs: number }>((item) => item.dueAtMs);
  readonly #unparkTimer = new EarliestTimer(() => void this.#unpark());
  /** Messages done with delivery whose dead letters failed: written again, with backoff, and not delivered meanwhile. */
  readonly #letterRetries = new MinHeap<LetterRetry>((retry) => retry.entry.dueAtMs);
  readonly #letterRetryTimer = new EarliestTimer(() => this.#retryLetters());
  #unparking = false;
  #rateTimer: NodeJS.Timeout | undefined;
  #dispatchQueued = false;
  #partitionNext = 0;
  readonly #stop = new AbortController();
  #ackedTotal = 0;
  #redeliveriesTotal = 0;
  #deadLettersTotal = 0;

  constructor(options: {
    topic: string;
    name: string;
    config: QueueSubscriptionConfig;
    sources: Partition[];
    host: QueueHost;
    state: QueueStateLog;
    /** The broker-wide memory of every queue window's reads (queue-partition.ts). */
    windowMemory: SharedByteBudget;
    /** The broker-wide memory of every consumer's leased messages (lease-memory.ts). */
    leaseMemory: LeaseMemory;
    recovered?: RecoveredSubscription;
  }) {
    this.topic = options.topic;
    this.name = options.name;
    this.key = subscriptionKey(options.topic, options.name);
    this.config = options.config;
    this.#host = options.host;
    this.#state = options.state;
    this.#windowMemory = options.windowMemory;
    this.#leaseMemory = options.leaseMemory;
    this.dlqPositions = new Map(options.recovered?.dlq ?? []);
    this.partitions = options.sources.map((source, index) => {
      const recovered = options.recovered?.partitions.get(index);
      if (recovered !== undefined) return this.#partition(source, index, recovered.floor, recovered.recovered);
      // A recovered subscription's creation recorded every partition the topic had then: one it
      // does not know was added later, and all of that partition's messages are for it.
      const latest = this.config.startAt === 'latest' && options.recovered === undefined;
      return this.#partition(source, index, latest ? source.log.offsetEnd : source.log.offsetStart, null);
    });
  }

  #partition(source: Partition, index: number, floor: bigint, recovered: RecoveredOffsets | null): QueuePartition {
    return new QueuePartition(source, { index, keyOrdered: this.config.keyOrdered, floor, recovered, memory: this.#windowMemory });
  }

  /** Starts filling the windows. */
  start(): void {
    for (const partition of this.partitions) this.#refill(partition);
  }

  /** Takes on the partitions added to the topic (`sources` is all of them), from their start. */
  addPartitions(sources: readonly Partition[]): void {
    for (let index = this.partitions.length; index < sources.length; index++) {
      const source = sources[index]!;
      const partition = this.#partition(source, index, source.log.offsetStart, null);
      this.partitions.push(partition);
      this.#refill(partition);
    }
  }

  // --- consumers -----------------------------------------------------------------------------

  openConsumer(options: QueueConsumerOptions): QueueConsumerSession {
    if (this.#stop.signal.aborted) throw new WeirError('UNKNOWN_SUBSCRIPTION', `subscription ${this.name} of topic ${this.topic} was deleted`);
    if (this.#consumers.size >= consumersPerSubscriptionMax) {
      throw new WeirError('LIMIT_EXCEEDED', `subscription ${this.name} has the maximum of ${consumersPerSubscriptionMax} consumers`);
    }
    const consumer = new QueueConsumerSession(this, {
      ...(options.deliver ? { deliver: options.deliver } : {}),
      ...(options.ended ? { ended: options.ended } : {}),
      ratePerSecond: options.ratePerSecond ?? null,
    });
    this.#consumers.add(consumer);
    return consumer;
  }

  release(consumer: QueueConsumerSession): void {
    this.#consumers.delete(consumer);
    if (this.#stop.signal.aborted) return; // shutting down or deleted: nothing is redelivered here
    const now = Date.now();
    for (const entry of consumer.leases.toArray()) this.#fail(entry, this.#backoff(entry), now);
    assert.equal(consumer.leasedBytes, 0, 'a released consumer holds no leased bytes');
    void this.#state.flushed().catch((error) => this.#host.logger('error', `${this.topic}/${this.name}: recording released leases failed: ${String(error)}`));
    this.dispatchSoon();
  }

  // --- dispatch ------------------------------------------------------------------------------

  dispatchSoon(): void {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    if (this.#stop.signal.aborted) return;
    const now = Date.now();
    this.#promoteDue(now);
    const consumers = [...this.#consumers];
    let progress = consumers.length > 0;
    let waitingForRoom = false;
    while (progress) {
      progress = false;
      for (const consumer of consumers) {
        const capacity = consumer.capacity(now);
        if (capacity <= 0) continue;
        const bytesMax = this.#leaseMemory.allowance(consumer.leasedBytes);
        if (bytesMax <= 0) {
          waitingForRoom = true;
          continue;
        }
        const entries = this.#take(Math.min(capacity, dispatchChunk), bytesMax, now);
        if (entries.length === 0) break;
        for (const entry of entries) this.#lease(entry, consumer, now);
        consumer.hand(this.#deliveries(entries), entries.length);
        progress = true;
      }
    }
    // Move the next consumer to the front so that rounds start with a different one.
    const first = consumers[0];
    if (first !== undefined && this.#consumers.size > 1) {
      this.#consumers.delete(first);
      this.#consumers.add(first);
    }
    if (waitingForRoom && this.#hasReady()) this.#leaseMemory.waitForRoom(this.#wakeForRoom);
    this.#armRateTimer();
    for (const partition of this.partitions) this.#refill(partition);
  }

  /** Up to `count` ready entries of about `bytesMax` at most (the first whatever its size). */
  #take(count: number, bytesMax: number, nowMs: number): QueueEntry[] {
    const taken: QueueEntry[] = [];
    let takenBytes = 0;
    const partitionCount = this.partitions.length;
    // The topic's TTL counts from each record's timestamp; messages read ahead may pass it while they wait.
    const ttlMs = this.#host.messageTtlMs(this.topic);
    let storing: QueueEntry[] | null = null;
    for (let step = 0; step < partitionCount && taken.length < count && takenBytes < bytesMax; step++) {
      const partition = this.partitions[(this.#partitionNext + step) % partitionCount]!;
      while (taken.length < count && takenBytes < bytesMax) {
        const entry = partition.retry.shift() ?? partition.fresh.shift();
        if (entry === undefined) break;
        if (entry.state !== 'ready') continue;
        if (expired(entry, nowMs, ttlMs)) {
          this.#discard(entry, 'expired');
          continue;
        }
        // Counted out already: a count a checkpoint or failure record kept across a crash, or a
        // deliveriesMax lowered since. Another delivery would pass the limit.
        if (entry.deliveryCount >= this.config.deliveriesMax) {
          void this.#deadLetter(entry, this.#exhaustedReason(entry), false);
          continue;
        }
        if (entry.deliveryCount + 1 >= this.config.deliveriesMax && entry.deliveriesStored <= entry.deliveryCount) {
          (storing ??= []).push(entry);
          continue;
        }
        taken.push(entry);
        takenBytes += entry.bytes;
      }
    }
    this.#partitionNext = (this.#partitionNext + 1) % Math.max(1, partitionCount);
    if (storing !== null) this.#storeLastDeliveries(storing);
    return taken;
  }

  /**
   * A message's last delivery is counted in the state log before it is handed out: after a crash
   * that cut it off, the message is counted out (dead-lettered) instead of delivered once more.
   * The entries wait (state `storing`) until the record is durable, then are ready again.
   */
  #storeLastDeliveries(entries: QueueEntry[]): void {
    for (const entry of entries) {
      entry.state = 'storing';
      entry.deliveriesStored = entry.deliveryCount + 1;
      this.#state.failed(this.key, entry.partition.index, entry.offset, entry.deliveriesStored, 0);
    }
    this.#state.flushed().then(
      () => {
        for (const entry of entries) {
          if (entry.state !== 'storing') continue;
          entry.state = 'ready';
          entry.partition.retry.push(entry);
        }
        this.dispatchSoon();
      },
      (error: unknown) => {
        this.#host.logger('warn', `${this.topic} subscription ${this.name}: recording ${entries.length} last deliveries failed, trying again in ${readRetryMs} ms: ${String(error)}`);
        const dueAtMs = Date.now() + readRetryMs;
        for (const entry of entries) {
          if (entry.state !== 'storing') continue;
          entry.deliveriesStored = 0;
          entry.dueAtMs = dueAtMs;
          this.#schedule(entry);
        }
      },
    );
  }

  #lease(entry: QueueEntry, consumer: QueueConsumerSession, nowMs: number): void {
    entry.state = 'leased';
    entry.deliveryCount++;
    if (entry.deliveryCount > 1 && !entry.released) this.#redeliveriesTotal++;
    entry.released = false;
    entry.leaseDeadlineMs = nowMs + this.config.ackTimeoutMs;
    entry.holder = consumer;
    consumer.leases.add(entry);
    consumer.leasedBytes += entry.bytes;
    this.#leaseMemory.hold(entry.bytes);
  }

  /**
   * Leased entries as deliveries: a run of entries of one stored batch with one delivery count
   * and lease epoch becomes one delivery carrying their stored bytes (one slice when they are adjacent, as fresh
   * messages are).
   */
  #deliveries(entries: QueueEntry[]): QueueDelivery[] {
    const deliveries: QueueDelivery[] = [];
    let i = 0;
    while (i < entries.length) {
      const first = entries[i]!;
      const { batch, deliveryCount, releases } = first;
      let from = first.start;
      let to = first.end;
      let pieces: Buffer[] | null = null;
      let j = i + 1;
      for (; j < entries.length; j++) {
        const entry = entries[j]!;
        if (entry.batch !== batch || entry.deliveryCount !== deliveryCount || entry.releases !== releases) break;
        if (entry.start !== to) {
          (pieces ??= []).push(batch.section.subarray(from, to));
          from = entry.start;
        }
        to = entry.end;
      }
      const last = batch.section.subarray(from, to);
      deliveries.push({
        topic: this.topic,
        partition: first.partition.index,
        baseOffset: batch.baseOffset,
        baseTimestampMs: batch.baseTimestamp,
        deliveryCount,
        leaseEpoch: leaseEpochAfter(this.leaseEpoch, releases),
        count: j - i,
        records: pieces === null ? last : Buffer.concat([...pieces, last]),
      });
      i = j;
    }
    return deliveries;
  }

  #armRateTimer(): void {
    if (this.#rateTimer !== undefined) return;
    let waitMs: number | null = null;
    for (const consumer of this.#consumers) {
      const wait = consumer.rateWaitMs();
      if (wait !== null && (waitMs === null || wait < waitMs)) waitMs = wait;
    }
    if (waitMs === null || !this.#hasReady()) return;
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      this.dispatchSoon();
    }, waitMs);
  }

  #hasReady(): boolean {
    return this.partitions.some((p) => p.fresh.length + p.retry.length > 0);
  }

  // --- the window ----------------------------------------------------------------------------

  #refill(partition: QueuePartition): void {
    if (partition.loading || this.#stop.signal.aborted) return;
    const log = partition.source.log;
    if (partition.entries.size >= windowMessagesMax && partition.readTo < log.highWatermark) this.#park(partition);
    const room = windowMessagesMax - partition.entries.size;
    const ready = partition.fresh.length + partition.retry.length;
    if (room <= 0 || ready >= windowRefillBelow || (ready > 0 && partition.entryBytes >= windowReadAheadBytesMax)) return;
    // Reading ahead takes room in the window memory that every subscription shares. A partition
    // with consumers and less than one least read's worth ready reads whatever that memory holds
    // (a read of at least its grantBytesMin), so that none waits on the others and the next read
    // is under way while the last one's messages go out.
    const least = this.#windowMemory.grantBytesMin;
    const starved = this.#consumers.size > 0 && ready * partition.bytesPerMessage < least;
    if (!starved && !this.#windowMemory.fits(least)) return;
    if (partition.readTo >= log.highWatermark) {
      this.#waitForData(partition);
      return;
    }
    partition.loading = true;
    partition.load(windowMessagesMax).then(
      (entries) => {
        try {
          const now = Date.now();
          const ttlMs = this.#host.messageTtlMs(this.topic);
          for (const entry of entries) this.#admit(entry, now, ttlMs);
          if (this.#overBacklog()) this.#dropOldest();
        } finally {
          partition.loading = false;
          this.dispatchSoon();
        }
      },
      (error) => {
        // Tried again after a pause: an unreadable log must not keep the broker busy retrying.
        this.#host.logger('warn', `${this.topic}/${partition.index} subscription ${this.name}: reading the log failed, trying again in ${readRetryMs} ms: ${String(error)}`);
        setTimeout(() => {
          partition.loading = false;
          this.dispatchSoon();
        }, readRetryMs).unref();
      },
    ).catch((error) => this.#host.logger('error', `${this.topic}/${partition.index} subscription ${this.name}: taking messages into the window failed: ${String(error)}`));
  }

  // --- parking -------------------------------------------------------------------------------

  /** The window is full and more is unread: scheduled messages due later leave it (parked). */
  #park(partition: QueuePartition): void {
    const now = Date.now();
    if (partition.keyOrdered || this.#scheduled.size === 0 || now < partition.parkScanAfterMs) return;
    let parked = 0;
    for (const entry of partition.entries.values()) {
      if (partition.parked.size >= parkedMessagesMax) break;
      if (entry.state !== 'scheduled' || entry.dueAtMs <= now + parkLeadMs) continue;
      partition.park(entry);
      this.#parkedByDue.push({ partition, offset: entry.offset, dueAtMs: entry.dueAtMs });
      parked++;
    }
    if (parked === 0) {
      partition.parkScanAfterMs = now + 1_000; // nothing to park: the window is full of work
      return;
    }
    // The schedule forgets the parked entries (their record bytes can go).
    const scheduled = this.#scheduled.drain().filter((entry) => entry.state === 'scheduled');
    for (const entry of scheduled) this.#scheduled.push(entry);
    this.#armUnparkTimer();
  }

  #armUnparkTimer(): void {
    const next = this.#parkedByDue.peek();
    if (next !== undefined && !this.#unparking) this.#unparkTimer.at(next.dueAtMs - parkLeadMs);
  }

  /** Parked messages due within `parkLeadMs` come back into their windows, and are scheduled. */
  async #unpark(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#unparking = true;
    let again = false;
    try {
      const horizon = Date.now() + parkLeadMs;
      const due = new Map<QueuePartition, number[]>();
      for (let next = this.#parkedByDue.peek(); next !== undefined && next.dueAtMs <= horizon; next = this.#parkedByDue.peek()) {
        const { partition, offset } = next;
        if (partition.parked.get(offset)?.dueAtMs !== next.dueAtMs) {
          this.#parkedByDue.pop(); // settled, or read back already
          continue;
        }
        let offsets = due.get(partition);
        if (offsets === undefined) due.set(partition, (offsets = []));
        if (offsets.length >= Math.max(unparkChunk, windowMessagesMax - partition.entries.size)) {
          again = true; // the rest comes in the next round, once these are on their way
          break;
        }
        this.#parkedByDue.pop();
        offsets.push(offset);
      }
      for (const [partition, offsets] of due) {
        offsets.sort((a, b) => a - b);
        try {
          const entries = await partition.unpark(offsets);
          if (this.#stop.signal.aborted) return;
          const now = Date.now();
          for (const entry of entries) this.#admit(entry, now);
        } catch (error) {
          this.#host.logger('warn', `${this.topic}/${partition.index} subscription ${this.name}: reading parked messages failed, retrying: ${String(error)}`);
          for (const offset of offsets) {
            const parked = partition.parked.get(offset);
            if (parked !== undefined) this.#parkedByDue.push({ partition, offset, dueAtMs: Math.max(parked.dueAtMs, Date.now() + parkLeadMs + 1_000) });
          }
        }
      }
    } finally {
      this.#unparking = false;
    }
    this.dispatchSoon();
    if (again) this.#unparkTimer.at(Date.now() + 10);
    else this.#armUnparkTimer();
  }

  #waitForData(partition: QueuePartition): void {
    if (partition.waiting) return;
    partition.waiting = true;
    void partition.source.waitForHighWatermark(partition.readTo + 1n, this.#stop.signal).then(() => {
      partition.waiting = false;
      this.#refill(partition);
    });
  }

  /** A loaded (or key-released) entry joins the ready queue, the schedule, or its key's line. */
  #admit(entry: QueueEntry, nowMs: number, ttlMs = this.#host.messageTtlMs(this.topic)): void {
    if (expired(entry, nowMs, ttlMs)) {
      this.#discard(entry, 'expired');
      return;
    }
    if (!entry.partition.takeKey(entry)) return;
    if (entry.dueAtMs > nowMs) {
      this.#schedule(entry);
      return;
    }
    entry.state = 'ready';
    (entry.deliveryCount > 0 ? entry.partition.retry : entry.partition.fresh).push(entry);
  }

  #schedule(entry: QueueEntry): void {
    entry.state = 'scheduled';
    this.#scheduled.push(entry);
    this.#armScheduleTimer();
  }

  #armScheduleTimer(): void {
    const next = this.#scheduled.peek();
    if (next !== undefined) this.#scheduleTimer.at(next.dueAtMs);
  }


  #promoteDue(nowMs: number): void {
    for (let next = this.#scheduled.peek(); next !== undefined && next.dueAtMs <= nowMs; next = this.#scheduled.peek()) {
      this.#scheduled.pop();
      if (next.state !== 'scheduled') continue;
      next.state = 'ready';
      (next.deliveryCount > 0 ? next.partition.retry : next.partition.fresh).push(next);
    }
    this.#armScheduleTimer();
  }

  // --- settling ------------------------------------------------------------------------------

  /** `quiet`: nobody waits for the outcome, so the state log may gather it with later ones. */
  async settle(settlements: QueueSettlement[], quiet = false): Promise<QueueSettleFailure[]> {
    const now = Date.now();
    const failures: QueueSettleFailure[] = [];
    /** Rejects (and last nacks) whose dead letters are being written. */
    const letters: { index: number; offset: number; outcome: Promise<WeirError | null> }[] = [];
    for (let index = 0; index < settlements.length; index++) {
      const settlement = settlements[index]!;
      if (settlement.count === 0) continue; // a release of nothing (the manager allows no other)
      const refusal = this.#receiptRefusal(settlement);
      if (refusal !== null) {
        failures.push({ index, offset: settlement.receipt.offset, error: refusal });
        continue;
      }
      if (settlement.action === 'ack') {
        this.#ack(settlement, index, failures);
        continue;
      }
      const first = Number(settlement.receipt.offset);
      const count = settlement.count ?? 1;
      for (let offset = first; offset < first + count; offset++) {
        try {
          const outcome = this.#settleOne(settlement, offset, now);
          if (outcome !== null) letters.push({ index, offset, outcome });
        } catch (error) {
          if (!(error instanceof WeirError)) throw error;
          failures.push({ index, offset: BigInt(offset), error });
        }
      }
    }
    // Freed leases are handed on at once; only the answer waits for the settlements to be durable,
    // dead letters included.
    this.dispatchSoon();
    if (quiet) {
      this.#state.flushSoon();
      return failures;
    }
    await this.#state.flushed();
    if (letters.length === 0) return failures;
    for (const { index, offset, outcome } of letters) {
      const error = await outcome;
      if (error !== null) failures.push({ index, offset: BigInt(offset), error });
    }
    return failures.sort((a, b) => a.index - b.index || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  }

  /**
   * Acknowledges a settlement's run of offsets (the common case, so without a call per offset);
   * the state log records the stretches that were current leases as ranges.
   */
  #ack(settlement: QueueSettlement, index: number, failures: QueueSettleFailure[]): void {
    const { partition, deliveryCount } = settlement.receipt;
    const releases = this.#releasesOf(settlement.receipt);
    const entries = this.partitions[partition]?.entries;
    const first = Number(settlement.receipt.offset);
    const end = first + (settlement.count ?? 1);
    let runStart = first;
    for (let offset = first; offset < end; offset++) {
      const entry = entries?.get(offset);
      if (!isLeaseOf(entry, deliveryCount, releases)) {
        if (offset > runStart) this.#state.settled(this.key, partition, runStart, offset - runStart);
        runStart = offset + 1;
        failures.push({ index, offset: BigInt(offset), error: this.#notLeased(partition, offset, deliveryCount) });
        continue;
      }
      this.#settled(entry);
      this.#ackedTotal++;
    }
    if (end > runStart) this.#state.settled(this.key, partition, runStart, end - runStart);
  }

  /** Why a settlement names no lease of this subscription at all, or null when it may. */
  #receiptRefusal(settlement: QueueSettlement): WeirError | null {
    const { partition, offset, deliveryCount, leaseEpoch } = settlement.receipt;
    const count = settlement.count ?? 1;
    const name = `receipt ${partition}/${offset}#${deliveryCount} of subscription ${this.name}`;
    if (partition >= this.partitions.length) return new WeirError('INVALID_RECEIPT', `${name} names partition ${partition}: topic ${this.topic} has ${this.partitions.length}`);
    if (leaseEpoch < 1 || leaseEpoch > leaseEpochsCount || this.#releasesOf(settlement.receipt) > this.#releasesMax) {
      return new WeirError('INVALID_RECEIPT', `${name} is from an earlier lease epoch: the broker restarted, or the subscription was created again, since it was delivered (the message is delivered again)`);
    }
    // No partition holds offsets from 2^53 up (as numbers they would round onto others), and no
    // window holds more than windowMessagesMax unsettled messages.
    if (count > windowMessagesMax) return new WeirError('INVALID_RECEIPT', `${name}: a settlement covers at most ${windowMessagesMax} offsets, not ${count}`);
    if (offset + BigInt(count) > BigInt(Number.MAX_SAFE_INTEGER)) return new WeirError('INVALID_RECEIPT', `${name} is not a lease: offsets stop below 2^53`);
    return null;
  }

  /** How many releases of its message preceded the lease a receipt names (checked against #releasesMax first). */
  #releasesOf(receipt: QueueSettlement['receipt']): number {
    return leaseEpochSteps(this.leaseEpoch, receipt.leaseEpoch);
  }

  #notLeased(partition: number, offset: number, deliveryCount: number): WeirError {
    return new WeirError(
      'INVALID_RECEIPT',
      `receipt ${partition}/${offset}#${deliveryCount} of subscription ${this.name} is not a current lease: the message was settled or released, or its lease expired and it was delivered again`,
    );
  }

  /** Settles one offset with a nack, reject, extend or release; a dead letter it starts is returned as its outcome. */
  #settleOne(settlement: Exclude<QueueSettlement, { action: 'ack' }>, offset: number, nowMs: number): Promise<WeirError | null> | null {
    const { partition: index, deliveryCount } = settlement.receipt;
    const entry = this.partitions[index]?.entries.get(offset);
    if (!isLeaseOf(entry, deliveryCount, this.#releasesOf(settlement.receipt))) {
      throw this.#notLeased(index, offset, deliveryCount);
    }
    switch (settlement.action) {
      case 'nack': {
        const delayMs = settlement.delayMs ?? this.#backoff(entry);
        checkDelay('delayMs', delayMs, 0);
        return this.#fail(entry, delayMs, nowMs);
      }
      case 'reject': {
        // Every protocol's rejects meet the one rule here (an empty reason fails the settlement, the lease unchanged).
        const reason = rejectReasonKept(settlement.reason);
        // Under deliveriesMax, a reject whose letter failed is delivered again (its consumer was told).
        const deliverOnFailure = entry.deliveryCount < this.config.deliveriesMax;
        return this.#deadLetter(entry, `rejected: ${reason}`, deliverOnFailure);
      }
      case 'extend': {
        checkDelay('extendMs', settlement.extendMs, extendMsMin);
        entry.leaseDeadlineMs = nowMs + settlement.extendMs;
        const holder = entry.holder as QueueConsumerSession | null;
        if (holder !== null) {
          holder.leases.moveToEnd(entry);
          if (settlement.extendMs < this.config.ackTimeoutMs) holder.leasesOutOfOrder = true;
        }
        return null;
      }
      case 'release':
        this.#release(entry);
        return null;
    }
  }

  /**
   * A delivery given back unseen (its consumer never handed it to the application) does not
   * count: the count goes back down, in the state log too, and the message is ready at once,
   * ahead of fresh ones (under key order it keeps its key, so its key's line keeps its order).
   * A last delivery stored ahead is forgotten (`deliveriesStored`), so the delivery that reaches
   * deliveriesMax again is stored again before it goes out: a crash after it counts it. The next
   * lease repeats the released one's delivery count, so it is made in the next lease epoch
   * (`releases`): the released receipt settles nothing. After a restart every receipt of the
   * earlier opening is stale anyway, so releases need not be stored.
   */
  #release(entry: QueueEntry): void {
    assert.ok(entry.deliveryCount >= 1, 'a leased message has been delivered');
    assert.ok(entry.releases < leaseEpochsCount - 1, 'a message is released fewer times than there are lease epochs');
    this.#unlease(entry);
    entry.deliveryCount--;
    entry.deliveriesStored = 0;
    entry.released = true;
    entry.releases++;
    if (entry.releases > this.#releasesMax) this.#releasesMax = entry.releases;
    this.#state.failed(this.key, entry.partition.index, entry.offset, entry.deliveryCount, 0);
    entry.state = 'ready';
    entry.partition.retry.push(entry);
  }

  #backoff(entry: QueueEntry): number {
    return redeliveryDelayMs(this.config.backoff, entry.deliveryCount);
  }

  /** Ends the lease, if the entry is leased: its holder lets go of it and of its bytes. */
  #unlease(entry: QueueEntry): void {
    const holder = entry.holder as QueueConsumerSession | null;
    if (holder === null) return;
    holder.leases.delete(entry);
    entry.holder = null;
    // A closed subscription let go of all its leased bytes at once (close).
    if (this.#stop.signal.aborted) return;
    holder.leasedBytes -= entry.bytes;
    this.#leaseMemory.release(entry.bytes);
  }

  #settled(entry: QueueEntry): void {
    this.#unlease(entry);
    entry.state = 'settling';
    const partition = entry.partition;
    partition.remove(entry);
    const next = partition.releaseKey(entry);
    if (next !== undefined) this.#admit(next, Date.now());
  }

  /** A delivery failed (nack, lease expired, consumer gone): later again, or a dead letter (returned as its outcome). */
  #fail(entry: QueueEntry, delayMs: number, nowMs: number): Promise<WeirError | null> | null {
    this.#unlease(entry);
    if (entry.deliveryCount >= this.config.deliveriesMax) return this.#deadLetter(entry, this.#exhaustedReason(entry), false);
    entry.dueAtMs = nowMs + delayMs;
    this.#state.failed(this.key, entry.partition.index, entry.offset, entry.deliveryCount, entry.dueAtMs);
    if (delayMs <= 0) {
      entry.state = 'ready';
      entry.partition.retry.push(entry);
    } else {
      this.#schedule(entry);
    }
    return null;
  }

  #exhaustedReason(entry: QueueEntry): string {
    return `delivered ${entry.deliveryCount} times without an acknowledgement (deliveriesMax ${this.config.deliveriesMax})`;
  }

  /** Expired or overflowed: dropped or dead-lettered, as the subscription's `discard` says. */
  #discard(entry: QueueEntry, reason: 'expired' | 'overflow'): void {
    if (this.config.discard === 'dead-letter') {
      const why = reason === 'overflow' ? 'dropped: the backlog was full' : entry.deliveryCount > 0 ? 'expired before redelivery' : 'expired before delivery';
      void this.#deadLetter(entry, why, false);
      return;
    }
    this.#settled(entry);
    this.#state.settled(this.key, entry.partition.index, entry.offset);
  }

  /**
   * Writes the dead letter, then records the settlement. A crash in between leaves a letter the
   * state does not know of; recovery finds it in the dead-letter topic (dead-letters.ts), so each
   * message is dead-lettered exactly once. Resolves with null once the settlement is durable, or
   * with the failure when the letter could not be written; never rejects. After a failure the
   * message is delivered again after `deadLetterRetryMs` when `deliverOnFailure`, and otherwise
   * (it used up its deliveries, expired or overflowed) only its letter is tried again, with
   * backoff, until it is written.
   *
   * A message that used up its deliveries has its delivery count recorded durably before the
   * letter is tried: a crash before the letter is written (or while the dead-letter topic refuses
   * it) leaves a message that recovery knows is counted out, and that is dead-lettered again
   * instead of delivered (see #take).
   */
  #deadLetter(entry: QueueEntry, reason: string, deliverOnFailure: boolean, attempt = 1): Promise<WeirError | null> {
    this.#unlease(entry);
    entry.state = 'settling';
    const source = entry.partition;
    source.letteringMessages++;
    source.letteringBytes += entry.bytes;
    const lettered = (): void => {
      source.letteringMessages--;
      source.letteringBytes -= entry.bytes;
    };
    const dlq = this.config.deadLetterTopic;
    const where = `${this.topic}/${source.index}@${entry.offset} subscription ${this.name}`;
    const countedOut = entry.deliveryCount >= this.config.deliveriesMax;
    if (countedOut) this.#state.failed(this.key, source.index, entry.offset, entry.deliveryCount, 0);
    const recorded: Promise<unknown> = countedOut ? this.#state.flushed() : Promise.resolve();
    return recorded
      .then(() => {
        // Closed while the count was being recorded: the letter is written after the next start.
        if (this.#stop.signal.aborted) return null;
        const batch = buildDeadLetter(entry, { topic: this.topic, subscription: this.name, reason });
        return this.#host.appendDeadLetter(dlq, { topic: this.topic, partition: source.index }, batch);
      })
      .then(
        async (written) => {
          lettered();
          if (written === null) return new WeirError('SHUTTING_DOWN', `dead-lettering ${where} to ${dlq} was cut short by the subscription closing; the letter will be written when it opens again`);
          const { partition, offset } = written;
          if (!this.partitions.includes(source) || this.#stop.signal.aborted) return null;
          this.#settled(entry);
          this.#state.deadLettered(this.key, source.index, entry.offset, partition, offset);
          this.#deadLettersTotal++;
          const next = offset + 1n;
          if (next > (this.dlqPositions.get(partition) ?? 0n)) this.dlqPositions.set(partition, next);
          try {
            await this.#state.flushed();
            return null;
          } catch (error) {
            this.#host.logger('error', `${where}: recording the dead letter failed: ${String(error)}`);
            return new WeirError(isWeirError(error) ? error.code : 'UNKNOWN', `recording the dead letter of ${where} failed: ${errorText(error)}`);
          }
        },
        (error: unknown) => {
          lettered();
          const current = this.#stillLettering(entry);
          const retryMs = deliverOnFailure ? deadLetterRetryMs : Math.min(deadLetterRetryMsMax, deadLetterRetryMs * 2 ** (attempt - 1));
          const then = deliverOnFailure ? 'delivering it again' : `writing the letter again in ${retryMs} ms`;
          this.#host.logger('warn', `${where}: dead-lettering to ${dlq} failed (attempt ${attempt}), ${then}: ${String(error)}`);
          entry.dueAtMs = Date.now() + retryMs;
          if (current && deliverOnFailure) this.#schedule(entry);
          else if (current) this.#retryLetterAt({ entry, reason, attempt: attempt + 1 });
          return new WeirError(
            isWeirError(error) ? error.code : 'UNKNOWN',
            `dead-lettering ${where} to ${dlq} failed: ${errorText(error)}; ${deliverOnFailure ? 'the message will be delivered again' : 'the letter will be written again'}`,
          );
        },
      )
      .finally(() => this.dispatchSoon());
  }

  /** The entry still waits for its letter: neither settled nor gone with its partition or subscription since. */
  #stillLettering(entry: QueueEntry): boolean {
    return entry.state === 'settling' && entry.partition.entries.get(entry.offset) === entry && this.partitions.includes(entry.partition);
  }

  #retryLetterAt(retry: LetterRetry): void {
    this.#letterRetries.push(retry);
    this.#letterRetryTimer.at(this.#letterRetries.peek()!.entry.dueAtMs);
  }

  #retryLetters(): void {
    if (this.#stop.signal.aborted) return;
    const now = Date.now();
    for (let next = this.#letterRetries.peek(); next !== undefined && next.entry.dueAtMs <= now; next = this.#letterRetries.peek()) {
      this.#letterRetries.pop();
      if (this.#stillLettering(next.entry)) void this.#deadLetter(next.entry, next.reason, false, next.attempt);
    }
    const later = this.#letterRetries.peek();
    if (later !== undefined) this.#letterRetryTimer.at(later.entry.dueAtMs);
  }

  // --- leases --------------------------------------------------------------------------------

  /** Leases past their deadline fail. */
  sweepLeases(nowMs: number): void {
    for (const consumer of this.#consumers) {
      const all = consumer.leasesOutOfOrder;
      consumer.leasesOutOfOrder = false;
      for (const entry of consumer.leases.expired(nowMs, all)) this.#fail(entry, this.#backoff(entry), nowMs);
    }
    this.dispatchSoon();
  }

  // --- bounded backlog -----------------------------------------------------------------------

  backlog(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const partition of this.partitions) {
      const partitionMessages = partition.backlogMessages;
      messages += partitionMessages;
      bytes += partition.backlogBytes(partitionMessages);
    }
    return { messages, bytes };
  }

  #overBacklog(extraMessages = 0, extraBytes = 0): boolean {
    const { backlogMessagesMax, backlogBytesMax } = this.config;
    if (backlogMessagesMax === null && backlogBytesMax === null) return false;
    const backlog = this.backlog();
    return (backlogMessagesMax !== null && backlog.messages + extraMessages > backlogMessagesMax)
      || (backlogBytesMax !== null && backlog.bytes + extraBytes > backlogBytesMax);
  }

  /** Before an append: under `reject`, a batch that would overfill the backlog is refused. */
  admit(messages: number, bytes: number): void {
    if (this.config.overflow !== 'reject' || !this.#overBacklog(messages, bytes)) return;
    const backlog = this.backlog();
    const { backlogMessagesMax, backlogBytesMax } = this.config;
    throw new WeirError(
      'QUEUE_FULL',
      `queue subscription ${this.name} of topic ${this.topic} is full: it holds ${counted(backlog.messages, 'message')} (backlogMessagesMax ${backlogMessagesMax ?? 'none'}) `
        + `and about ${counted(backlog.bytes, 'byte')} (backlogBytesMax ${backlogBytesMax ?? 'none'}); `
        + `${counted(messages, 'more message')} ${messages === 1 ? 'was' : 'were'} refused and nothing was stored`,
    );
  }

  /** After an append: count its bytes; under `drop-oldest`, make room. Negative `bytes`: an append whose write failed. */
  appended(partition: number, bytes: number): void {
    const target = this.partitions[partition];
    if (target !== undefined) target.unreadBytes = Math.max(0, target.unreadBytes + bytes);
    if (bytes > 0 && this.config.overflow === 'drop-oldest' && this.#overBacklog()) this.#dropOldest();
  }

  /**
   * Drops (or dead-letters) the oldest messages that no consumer holds until the backlog fits, in
   * offset order per partition (their letters are written in the order they are started).
   */
  #dropOldest(): void {
    for (const partition of this.partitions) {
      for (const entry of partition.entries.ascending()) {
        if (!this.#overBacklog()) return;
        if (entry.state === 'blocked') entry.partition.leaveKeyLine(entry);
        if (entry.state === 'ready' || entry.state === 'scheduled' || entry.state === 'blocked') this.#discard(entry, 'overflow');
      }
    }
    // Older unread messages are dropped as the window reads them (see #refill).
    if (this.#overBacklog()) for (const partition of this.partitions) this.#refill(partition);
  }

  // --- state ---------------------------------------------------------------------------------

  checkpoint(): Checkpoint {
    return {
      k: 'c',
      config: this.config,
      dlq: Object.fromEntries([...this.dlqPositions].map(([p, o]) => [String(p), o.toString()])),
      partitions: this.partitions.map((partition) => {
        const unsettled: [string, number, number][] = [];
        for (const entry of partition.entries.values()) {
          const deliveryCount = Math.max(entry.deliveryCount, entry.deliveriesStored);
          unsettled.push([entry.offset.toString(), deliveryCount, entry.state === 'scheduled' ? entry.dueAtMs : 0]);
        }
        for (const parked of partition.parked.values()) unsettled.push([parked.offset.toString(), parked.deliveryCount, parked.dueAtMs]);
        let scanEnd = partition.readTo;
        const recovered = partition.recovered;
        if (recovered !== null && recovered.scanEnd > scanEnd) {
          scanEnd = recovered.scanEnd;
          for (const [offset, info] of recovered.unsettled) unsettled.push([offset.toString(), info.deliveryCount, info.dueAtMs]);
        }
        return { p: partition.index, floor: partition.floor.toString(), scanEnd: scanEnd.toString(), unsettled };
      }),
    };
  }

  describe(): SubscriptionDescription {
    const now = Date.now();
    const deliveryCounts: Record<number, number> = {};
    let inFlight = 0;
    let scheduled = 0;
    let oldestMs: number | null = null;
    const partitions: QueuePartitionState[] = this.partitions.map((partition) => {
      let partitionInFlight = 0;
      let partitionScheduled = 0;
      for (const entry of partition.entries.values()) {
        if (entry.state === 'leased') partitionInFlight++;
        else if (entry.state === 'scheduled') partitionScheduled++;
        if (entry.deliveryCount > 0 && entry.state !== 'settling') deliveryCounts[entry.deliveryCount] = (deliveryCounts[entry.deliveryCount] ?? 0) + 1;
        if (oldestMs === null || entry.timestampMs < oldestMs) oldestMs = entry.timestampMs;
      }
      for (const parked of partition.parked.values()) {
        partitionScheduled++;
        if (parked.deliveryCount > 0) deliveryCounts[parked.deliveryCount] = (deliveryCounts[parked.deliveryCount] ?? 0) + 1;
        if (oldestMs === null || parked.timestampMs < oldestMs) oldestMs = parked.timestampMs;
      }
      inFlight += partitionInFlight;
      scheduled += partitionScheduled;
      return {
        partition: partition.index,
        ackFloor: partition.floor,
        backlogMessages: partition.backlogMessages,
        backlogBytes: partition.backlogBytes(),
        inFlight: partitionInFlight,
        scheduled: partitionScheduled,
        windowMessages: partition.entries.size,
        windowBytes: partition.entryBytes,
      };
    });
    const backlog = this.backlog();
    return {
      topic: this.topic,
      name: this.name,
      type: 'queue',
      config: this.config,
      consumers: this.#consumers.size,
      backlogMessages: backlog.messages,
      backlogBytes: backlog.bytes,
      inFlight,
      scheduled,
      oldestMessageAgeMs: backlog.messages === 0 ? null : oldestMs === null ? null : Math.max(0, now - oldestMs),
      redeliveriesTotal: this.#redeliveriesTotal,
      deadLettersTotal: this.#deadLettersTotal,
      ackedTotal: this.#ackedTotal,
      deliveryCounts,
      partitions,
    };
  }

  /**
   * Stops timers; consumers are closed (their pulls answer empty). `deleted`: the subscription is
   * gone for good, and its consumers are ended with that reason (the broker is not shutting down).
   */
  close(deleted?: WeirError): void {
    this.#stop.abort();
    this.#scheduleTimer.clear();
    clearTimeout(this.#rateTimer);
    this.#unparkTimer.clear();
    this.#letterRetryTimer.clear();
    for (const partition of this.partitions) partition.close();
    for (const consumer of this.#consumers) {
      this.#leaseMemory.release(consumer.leasedBytes);
      consumer.leasedBytes = 0;
    }
    for (const consumer of [...this.#consumers]) {
      if (deleted === undefined) void consumer.close();
      else consumer.end(deleted);
    }
    this.#consumers.clear();
  }
}

/** A letter to write again at its entry's dueAtMs. */
interface LetterRetry {
  entry: QueueEntry;
  reason: string;
  attempt: number;
}

/** The entry is leased under the receipt's delivery count and number of releases (its lease epoch). */
function isLeaseOf(entry: QueueEntry | undefined, deliveryCount: number, releases: number): entry is QueueEntry {
  return entry !== undefined && entry.state === 'leased' && entry.deliveryCount === deliveryCount && entry.releases === releases;
}

/** Lease epochs run from 1 to 2^32 - 1 (a uint32 on the wire; 0 is none). */
export const leaseEpochsCount = 2 ** 32 - 1;

/** The lease epoch `steps` after `epoch`, wrapping from 2^32 - 1 to 1. */
export function leaseEpochAfter(epoch: number, steps: number): number {
  return ((epoch - 1 + steps) % leaseEpochsCount) + 1;
}

/** How many steps `epoch` lies after `base` (both from 1 to 2^32 - 1). */
export function leaseEpochSteps(base: number, epoch: number): number {
  return (((epoch - base) % leaseEpochsCount) + leaseEpochsCount) % leaseEpochsCount;
}

/**
 * The longest delay Node's setTimeout takes: a longer one runs after 1 ms (with a warning), and
 * a message may be due up to a year ahead.
 */
const timerDelayMsMax = 2 ** 31 - 1;

/**
 * One timer that fires at the earliest of the times asked for since it last fired. A time
 * further ahead than `timerDelayMsMax` is reached in steps: the timer wakes at the step and sets
 * itself again, without firing.
 */
class EarliestTimer {
  readonly #fire: () => void;
  #timer: NodeJS.Timeout | undefined;
  #atMs = Number.POSITIVE_INFINITY;

  constructor(fire: () => void) {
    this.#fire = fire;
  }

  at(atMs: number): void {
    if (atMs >= this.#atMs) return;
    clearTimeout(this.#timer);
    this.#atMs = atMs;
    this.#arm();
  }

  #arm(): void {
    const delayMs = Math.max(0, this.#atMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() < this.#atMs) {
        this.#arm(); // a step towards a time past timerDelayMsMax
        return;
      }
      this.#atMs = Number.POSITIVE_INFINITY;
      this.#fire();
    }, Math.min(delayMs, timerDelayMsMax));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#atMs = Number.POSITIVE_INFINITY;
  }
}

/** `count` and `noun`, the noun in the plural unless the count is 1: "1 message", "2 messages". */
function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function checkDelay(field: string, ms: number, msMin: number): void {
  if (!Number.isSafeInteger(ms) || ms < msMin || ms > settleDelayMsMax) {
    throw new WeirError('INVALID_REQUEST', `${field} ${ms} is invalid: expected a whole number of milliseconds from ${msMin} to ${settleDelayMsMax} (7 days)`);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Past the message's own expiry, or older than the topic's TTL (null: none). */
function expired(entry: QueueEntry, nowMs: number, ttlMs: number | null): boolean {
  return nowMs >= (ttlMs === null ? entry.expiresAtMs : Math.min(entry.expiresAtMs, entry.timestampMs + ttlMs));
}
