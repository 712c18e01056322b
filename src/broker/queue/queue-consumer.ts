/**
 * One consumer of a queue subscription, as the broker sees it: what it may receive now (push
 * credits or a parked pull, and an optional rate cap), and the leases it holds.
 */
import { randomUUID } from 'node:crypto';
import { WeirError } from '../../util/errors.js';
import type { QueueConsumer, QueueDelivery } from '../types.js';
import type { QueueEntry } from './queue-partition.js';

/** A consumer may hold at most this many unsettled credits (push) or ask for this many (pull). */
export const queueCreditsMax = 100_000;
export const queueReceiveWaitMsMax = 30_000;

interface ParkedPull {
  max: number;
  resolve: (deliveries: QueueDelivery[]) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** What a consumer needs from its subscription. */
export interface ConsumerOwner {
  readonly topic: string;
  dispatchSoon(): void;
  /** The consumer closed: its leases end. */
  release(consumer: QueueConsumerSession): void;
}

/** Stamps of lease places: unique in the process, never 0. */
let lastLeaseStamp = 0;

/**
 * A consumer's leases in the order they were granted or extended, which is deadline order unless
 * an extension was shorter than the ack timeout. An ended lease leaves a stale place behind
 * (its entry's stamp no longer matches) rather than being searched for; stale places are dropped
 * once they outnumber the live ones.
 */
export class LeaseList {
  #entries: QueueEntry[] = [];
  #stamps: number[] = [];
  #live = 0;

  get size(): number {
    return this.#live;
  }

  add(entry: QueueEntry): void {
    this.#live++;
    this.#place(entry);
  }

  /** The lease goes to the end (its deadline moved). */
  moveToEnd(entry: QueueEntry): void {
    this.#place(entry);
  }

  delete(entry: QueueEntry): void {
    if (entry.leaseStamp === 0) return;
    entry.leaseStamp = 0;
    this.#live--;
  }

  /** The live leases in order. */
  toArray(): QueueEntry[] {
    const live: QueueEntry[] = [];
    const entries = this.#entries;
    const stamps = this.#stamps;
    for (let i = 0; i < entries.length; i++) if (entries[i]!.leaseStamp === stamps[i]) live.push(entries[i]!);
    return live;
  }

  /** Leases past their deadline: those before the first one that is not, or all of them when `all`. */
  expired(nowMs: number, all: boolean): QueueEntry[] {
    const expired: QueueEntry[] = [];
    const entries = this.#entries;
    const stamps = this.#stamps;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.leaseStamp !== stamps[i]) continue;
      if (entry.leaseDeadlineMs <= nowMs) expired.push(entry);
      else if (!all) break;
    }
    return expired;
  }

  #place(entry: QueueEntry): void {
    const stamp = ++lastLeaseStamp;
    entry.leaseStamp = stamp;
    this.#entries.push(entry);
    this.#stamps.push(stamp);
    if (this.#entries.length > 2 * this.#live + 64) this.#compact();
  }

  #compact(): void {
    const entries: QueueEntry[] = [];
    const stamps: number[] = [];
    for (let i = 0; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (entry.leaseStamp !== this.#stamps[i]) continue;
      entries.push(entry);
      stamps.push(this.#stamps[i]!);
    }
    this.#entries = entries;
    this.#stamps = stamps;
  }
}

export class QueueConsumerSession implements QueueConsumer {
  readonly id = randomUUID();
  /** Leases in deadline order (see `leasesOutOfOrder`). */
  readonly leases = new LeaseList();
  /** Set when an extension gave a lease a deadline earlier than later ones: sweep all. */
  leasesOutOfOrder = false;
  /** Bytes of the messages it holds leased, held in the broker-wide lease memory (lease-memory.ts). */
  leasedBytes = 0;
  readonly #owner: ConsumerOwner;
  readonly #push: ((deliveries: QueueDelivery[]) => void) | null;
  readonly #ended: ((error: WeirError) => void) | null;
  /** Why the broker ended this consumer (its subscription was deleted), if it did. */
  #endError: WeirError | null = null;
  #credits = 0;
  #pull: ParkedPull | null = null;
  readonly #ratePerSecond: number | null;
  #tokens: number;
  #refilledAtMs = Date.now();
  #closed = false;
  /** stopDeliveries() was called: nothing more is handed to this consumer. */
  #stopped = false;

  constructor(owner: ConsumerOwner, options: { deliver?: (deliveries: QueueDelivery[]) => void; ended?: (error: WeirError) => void; ratePerSecond?: number | null }) {
    this.#owner = owner;
    this.#push = options.deliver ?? null;
    this.#ended = options.ended ?? null;
    const rate = options.ratePerSecond ?? null;
    if (rate !== null && (!Number.isFinite(rate) || rate <= 0 || rate > 10_000_000)) {
      throw new WeirError('INVALID_REQUEST', `ratePerSecond ${rate} is invalid: expected a number above 0 and at most 10000000`);
    }
    this.#ratePerSecond = rate;
    this.#tokens = rate === null ? 0 : this.#burst;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get #burst(): number {
    return Math.max(1, (this.#ratePerSecond ?? 0) / 10);
  }

  /** How many messages may be handed to this consumer now. */
  capacity(nowMs: number): number {
    if (this.#closed || this.#stopped) return 0;
    const wanted = this.#push !== null ? this.#credits : (this.#pull?.max ?? 0);
    if (wanted === 0 || this.#ratePerSecond === null) return wanted;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#refilledAtMs) * this.#ratePerSecond) / 1000);
    this.#refilledAtMs = nowMs;
    return Math.min(wanted, Math.floor(this.#tokens));
  }

  /** Milliseconds until a rate-capped consumer that wants more may receive one message. */
  rateWaitMs(): number | null {
    if (this.#ratePerSecond === null || this.#closed || this.#stopped) return null;
    const wanted = this.#push !== null ? this.#credits : (this.#pull?.max ?? 0);
    if (wanted === 0 || this.#tokens >= 1) return null;
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#ratePerSecond);
  }

  /** Hands leased messages over (the caller leased them to this consumer). */
  hand(deliveries: QueueDelivery[], count: number): void {
    if (this.#ratePerSecond !== null) this.#tokens -= count;
    if (this.#push !== null) {
      this.#credits -= count;
      this.#push(deliveries);
      return;
    }
    const pull = this.#pull;
    if (pull === null) return;
    this.#finishPull(pull);
    pull.resolve(deliveries);
  }

  grant(credits: number): void {
    if (this.#push === null) throw new WeirError('INVALID_REQUEST', 'credits apply to push consumers; this consumer pulls');
    if (!Number.isSafeInteger(credits) || credits < 0) throw new WeirError('INVALID_REQUEST', `credits ${credits} is not a non-negative integer`);
    this.#credits = Math.min(queueCreditsMax, this.#credits + credits);
    this.#owner.dispatchSoon();
  }

  receive(max: number, waitMs: number, signal?: AbortSignal): Promise<QueueDelivery[]> {
    if (this.#closed) return Promise.reject(this.#endError ?? new WeirError('CLOSED', 'the queue consumer is closed'));
    if (this.#push !== null) return Promise.reject(new WeirError('INVALID_REQUEST', 'this consumer receives pushes; it cannot also pull'));
    if (this.#pull !== null) return Promise.reject(new WeirError('INVALID_REQUEST', 'a receive is already waiting on this consumer'));
    if (!Number.isSafeInteger(max) || max < 1 || max > queueCreditsMax) {
      return Promise.reject(new WeirError('INVALID_REQUEST', `max ${max} is invalid: expected 1 to ${queueCreditsMax}`));
    }
    const wait = Math.min(Math.max(0, waitMs), queueReceiveWaitMsMax);
    return new Promise((resolve) => {
      const pull: ParkedPull = {
        max,
        resolve,
        timer: undefined,
        signal,
        onAbort: () => {
          this.#finishPull(pull);
          resolve([]);
        },
      };
      this.#pull = pull;
      signal?.addEventListener('abort', pull.onAbort, { once: true });
      pull.timer = setTimeout(pull.onAbort, wait);
      this.#owner.dispatchSoon();
    });
  }

  #finishPull(pull: ParkedPull): void {
    if (this.#pull === pull) this.#pull = null;
    clearTimeout(pull.timer);
    pull.signal?.removeEventListener('abort', pull.onAbort);
  }

  stopDeliveries(): void {
    this.#stopped = true;
    this.#credits = 0;
    this.#pull?.onAbort();
  }

  /** The broker ends this consumer (its subscription is gone): a parked pull answers empty, and `ended` hears why. */
  end(error: WeirError): void {
    if (this.#closed) return;
    this.#endError = error;
    void this.close();
    this.#ended?.(error);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pull = this.#pull;
    if (pull !== null) pull.onAbort();
    this.#owner.release(this);
  }
}
