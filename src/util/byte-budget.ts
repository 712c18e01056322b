/**
 * Bytes that running tasks hold, and tasks waiting for room in arrival order: a connection's
 * fetches hold the bytes they may return until their response is in the socket. `fits(held,
 * bytes)` says whether a task asking for `bytes` may start while `held` are held; the owner
 * calls `startWaiting()` when something `fits` looks at changed (output drained, connection gone).
 */
export class ByteBudget {
  #held = 0;
  readonly #waiting: { bytes: number; start: () => void }[] = [];
  readonly #fits: (held: number, bytes: number) => boolean;

  constructor(fits: (held: number, bytes: number) => boolean) {
    this.#fits = fits;
  }

  get held(): number {
    return this.#held;
  }

  /** Tasks waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves once `bytes` fit (after every earlier waiter); they are then held until `release`. */
  take(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(this.#held, bytes)) {
      this.#held += bytes;
      return Promise.resolve();
    }
    return new Promise((start) => this.#waiting.push({ bytes, start }));
  }

  /** Holds `bytes` at once, room or not (bytes already in memory that must be counted). */
  hold(bytes: number): void {
    this.#held += bytes;
  }

  release(bytes: number): void {
    this.#held -= bytes;
    this.startWaiting();
  }

  startWaiting(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#held, this.#waiting[0]!.bytes)) {
      const next = this.#waiting.shift()!;
      this.#held += next.bytes;
      next.start();
    }
  }
}
