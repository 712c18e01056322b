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

export class QueueConsumerSession implements QueueConsumer {
  readonly id = randomUUID();
  /** Leases in deadline order (see `leasesOutOfOrder`). */
  readonly leases = new Set<QueueEntry>();
  /** Set when an extension gave a lease a deadline earlier than later ones: sweep all. */
  leasesOutOfOrder = false;
  readonly #owner: ConsumerOwner;
  readonly #push: ((deliveries: QueueDelivery[]) => void) | null;
  #credits = 0;
  #pull: ParkedPull | null = null;
  readonly #ratePerSecond: number | null;
  #tokens: number;
  #refilledAtMs = Date.now();
  #closed = false;

  constructor(owner: ConsumerOwner, options: { deliver?: (deliveries: QueueDelivery[]) => void; ratePerSecond?: number | null }) {
    this.#owner = owner;
    this.#push = options.deliver ?? null;
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
    if (this.#closed) return 0;
    const wanted = this.#push !== null ? this.#credits : (this.#pull?.max ?? 0);
    if (wanted === 0 || this.#ratePerSecond === null) return wanted;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#refilledAtMs) * this.#ratePerSecond) / 1000);
    this.#refilledAtMs = nowMs;
    return Math.min(wanted, Math.floor(this.#tokens));
  }

  /** Milliseconds until a rate-capped consumer that wants more may receive one message. */
  rateWaitMs(): number | null {
    if (this.#ratePerSecond === null || this.#closed) return null;
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
    if (this.#closed) return Promise.reject(new WeirError('CLOSED', 'the queue consumer is closed'));
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pull = this.#pull;
    if (pull !== null) pull.onAbort();
    this.#owner.release(this);
  }
}
