import assert from 'node:assert/strict';

/**
 * Bytes held by many connections together: every fetch running on the broker's native and Kafka
 * listeners, and every read of a native push subscription, holds its byte limit here; every fetch
 * answer and push delivery in a socket holds its size until the kernel has taken the last of it (a
 * write callback, once per answer); records a push subscription keeps for later credits hold their
 * size while kept. The bound keeps the broker's memory bounded however many clients stop reading.
 *
 * No task ever waits here, so no connection waits on another: a connection's read that finds no
 * room waits for its own earlier reads and answers (its ByteBudget), and once it has none it
 * starts anyway with its limit shrunk to what room is left, at least `grantBytesMin` (a read
 * returns at least its first batch whatever its limit). So at the bound each connection holds at
 * most about `grantBytesMin` (or its first batch) more per kind of read (its fetches, its push
 * subscriptions), and a few clients that never read cannot stop the others' reads: theirs go on,
 * smaller.
 */
export class SharedByteBudget {
  readonly bytesMax: number;
  /** The least a task with nothing else held gets when there is no room (unless it asks for less). */
  readonly grantBytesMin: number;
  #held = 0;

  constructor(options: { bytesMax: number; grantBytesMin: number }) {
    assert.ok(Number.isSafeInteger(options.grantBytesMin) && options.grantBytesMin > 0, `grantBytesMin ${options.grantBytesMin}`);
    assert.ok(Number.isSafeInteger(options.bytesMax) && options.bytesMax >= options.grantBytesMin, `bytesMax ${options.bytesMax} below grantBytesMin`);
    this.bytesMax = options.bytesMax;
    this.grantBytesMin = options.grantBytesMin;
  }

  get held(): number {
    return this.#held;
  }

  fits(bytes: number): boolean {
    return this.#held + bytes <= this.bytesMax;
  }

  /** Holds what a task asking for `bytes` gets, and returns it: all of them while they fit, else the room left but at least grantBytesMin. */
  grant(bytes: number): number {
    const granted = Math.min(bytes, Math.max(this.bytesMax - this.#held, this.grantBytesMin));
    this.#held += granted;
    return granted;
  }

  /** Holds `bytes` at once, room or not (bytes already in memory that must be counted). */
  hold(bytes: number): void {
    this.#held += bytes;
  }

  release(bytes: number): void {
    this.#held -= bytes;
    assert.ok(this.#held >= 0, `released more than held (${this.#held})`);
  }
}

/**
 * One connection's answers of one kind (fetch answers, push deliveries) written but not yet all
 * taken by the kernel, each held in the shared budget by its size until its write callback (once
 * per answer) releases it.
 */
export class HeldAnswers {
  readonly #shared: SharedByteBudget;
  readonly #released: () => void;
  #bytes = 0;

  /** `released` runs after each answer's bytes are released (to start fetches waiting for room). */
  constructor(shared: SharedByteBudget, released: () => void) {
    this.#shared = shared;
    this.#released = released;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Holds an answer's bytes; returns the write callback for its last chunk, which releases them
   * (Node calls it once the chunk is in the kernel, or with an error once the socket is gone).
   */
  hold(chunks: readonly Buffer[]): () => void {
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    this.#shared.hold(bytes);
    this.#bytes += bytes;
    return () => {
      this.#shared.release(bytes);
      this.#bytes -= bytes;
      this.#released();
    };
  }
}

/** The broker-wide bound on fetch memory (a SharedByteBudget); docs/native-protocol.md says why these values. */
export const fetchMemoryDefaults = {
  bytesMax: 128 * 1024 * 1024,
  grantBytesMin: 64 * 1024,
} as const;

/**
 * Bytes that running tasks hold, and tasks waiting for room in arrival order: a connection's
 * fetches hold the bytes they may return until their response is in the socket. `fits(held,
 * bytes)` says whether a task asking for `bytes` may start while `held` are held; the owner
 * calls `startWaiting()` when something `fits` looks at changed (output drained, connection gone).
 * With a `shared` budget, a task that starts holds its bytes there too, and gets only what
 * `shared.grant` gives (fewer bytes when the shared budget is short).
 */
export class ByteBudget {
  #held = 0;
  readonly #waiting: { bytes: number; start: (granted: number) => void }[] = [];
  readonly #fits: (held: number, bytes: number) => boolean;
  readonly #shared: SharedByteBudget | undefined;

  constructor(fits: (held: number, bytes: number) => boolean, shared?: SharedByteBudget) {
    this.#fits = fits;
    this.#shared = shared;
  }

  get held(): number {
    return this.#held;
  }

  /** Tasks waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves once `bytes` fit (after every earlier waiter), with the bytes granted (all of them
   * without a shared budget); those are then held until `release`.
   */
  take(bytes: number): Promise<number> {
    if (this.#waiting.length === 0 && this.#fits(this.#held, bytes)) return Promise.resolve(this.#start(bytes));
    return new Promise((start) => this.#waiting.push({ bytes, start }));
  }

  /**
   * What `take` would grant if the bytes fit now and no task waits (then held until `release`), or
   * null: for a task that runs at once or not at all.
   */
  takeNow(bytes: number): number | null {
    if (this.#waiting.length > 0 || !this.#fits(this.#held, bytes)) return null;
    return this.#start(bytes);
  }

  /** Releases bytes that `take` or `takeNow` granted (here and in the shared budget). */
  release(bytes: number): void {
    this.#held -= bytes;
    this.#shared?.release(bytes);
    this.startWaiting();
  }

  startWaiting(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#held, this.#waiting[0]!.bytes)) {
      const next = this.#waiting.shift()!;
      next.start(this.#start(next.bytes));
    }
  }

  #start(bytes: number): number {
    const granted = this.#shared === undefined ? bytes : this.#shared.grant(bytes);
    this.#held += granted;
    return granted;
  }
}
