/**
 * The broker-wide bound on leased bytes: the messages every queue consumer holds in flight
 * (handed out and not yet settled). A leased message keeps its log read in memory, and a push
 * delivery sits in its consumer's socket, until the lease ends; credits alone (up to
 * queueCreditsMax per consumer, any number of consumers) would let consumers that never settle,
 * or never read, hold whole windows.
 *
 * A consumer is handed more while the bound has room, and past it only while it holds less than
 * `consumerBytesMin` (then at least one message), so no consumer waits on the others' leases:
 * at the bound each consumer holds at most `consumerBytesMin` plus one message more. A
 * subscription whose consumers found no room waits here, and dispatches again once leases end.
 */
import assert from 'node:assert/strict';

/** docs/queues.md (Limits) says what this bounds. */
export const leaseMemoryDefaults = {
  bytesMax: 64 * 1024 * 1024,
  consumerBytesMin: 64 * 1024,
} as const;

export class LeaseMemory {
  readonly bytesMax: number;
  /** What a consumer may hold however full the bound is (at least one message). */
  readonly consumerBytesMin: number;
  #held = 0;
  /** Wakes of subscriptions whose consumers found no room, each run once when leases end. */
  readonly #waiting = new Set<() => void>();
  #wakeQueued = false;

  constructor(options: { bytesMax: number; consumerBytesMin: number }) {
    assert.ok(Number.isSafeInteger(options.consumerBytesMin) && options.consumerBytesMin > 0, `consumerBytesMin ${options.consumerBytesMin}`);
    assert.ok(Number.isSafeInteger(options.bytesMax) && options.bytesMax >= options.consumerBytesMin, `bytesMax ${options.bytesMax} below consumerBytesMin`);
    this.bytesMax = options.bytesMax;
    this.consumerBytesMin = options.consumerBytesMin;
  }

  get held(): number {
    return this.#held;
  }

  /**
   * Bytes a consumer holding `consumerBytes` may lease now: the room left, or what it lacks of
   * `consumerBytesMin` when that is more. Above 0, its first message goes whatever its size.
   */
  allowance(consumerBytes: number): number {
    return Math.max(this.bytesMax - this.#held, this.consumerBytesMin - consumerBytes);
  }

  hold(bytes: number): void {
    this.#held += bytes;
  }

  release(bytes: number): void {
    this.#held -= bytes;
    assert.ok(this.#held >= 0, `released more leased bytes than held (${this.#held})`);
    if (this.#waiting.size > 0 && this.#held < this.bytesMax) this.#wakeSoon();
  }

  /** `wake` runs once, after the current task, when leases end and leave room. */
  waitForRoom(wake: () => void): void {
    this.#waiting.add(wake);
  }

  /** Deferred, so that the leases a settlement request ends are all released before anyone takes the room. */
  #wakeSoon(): void {
    if (this.#wakeQueued) return;
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const wake of waiting) wake();
    });
  }
}
