/**
 * The newest batches of every partition log of a process, kept in memory within one byte budget,
 * so that consumers reading at the end of a log (the common case: a subscription keeping pace)
 * get their records without a trip through the thread pool to the page cache.
 *
 * Each log owns a `LogTail`: the batches it wrote last, in offset order. The cache keeps one
 * process-wide first-in-first-out list of what every tail added; past the budget, or past the age
 * limit, it drops the oldest, which is always the oldest batch of its tail. A tail only ever holds batches that were
 * written (and under flush `always` synced) — it is filled after the writer, never before.
 */

/** Default budget of the process-wide cache. */
export const tailCacheBytesDefault = 32 * 1024 * 1024;
/** Default age past which a batch leaves the cache (see TailCache). */
export const tailCacheAgeMsDefault = 250;

export class TailCache {
  readonly bytesMax: number;
  readonly ageMsMax: number;
  readonly #clock: () => number;
  #bytes = 0;
  /** Every tail's additions, oldest first, one per batch. */
  #order: { tail: LogTail; generation: number; addedMs: number }[] = [];
  #head = 0;

  /**
   * `ageMsMax`: each addition also drops the batches added longer ago than this. A consumer keeping
   * pace reads a batch within milliseconds of its write; a batch held for seconds would outlive
   * V8's young generation and die in the old one, and under a steady stream those dead batches
   * start a full collection (a pause of several milliseconds for every consumer) about every
   * second (docs/benchmarks.md, "The latency floor under W4"). `clock`: milliseconds, monotonic.
   */
  constructor(bytesMax = tailCacheBytesDefault, ageMsMax = tailCacheAgeMsDefault, clock: () => number = () => performance.now()) {
    this.bytesMax = bytesMax;
    this.ageMsMax = ageMsMax;
    this.#clock = clock;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** A new, empty tail for one log. */
  tail(): LogTail {
    return new LogTail(this);
  }

  /** @internal A tail added a batch. */
  added(tail: LogTail, generation: number, bytes: number): void {
    const now = this.#clock();
    this.#order.push({ tail, generation, addedMs: now });
    this.#bytes += bytes;
    const addedSince = now - this.ageMsMax;
    while (this.#head < this.#order.length && (this.#bytes > this.bytesMax || this.#order[this.#head]!.addedMs < addedSince)) {
      const oldest = this.#order[this.#head++]!;
      // A cleared tail gave its bytes back when it was cleared.
      if (oldest.tail.generation === oldest.generation) oldest.tail.dropOldest();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** @internal A tail dropped bytes (evicted or cleared). */
  released(bytes: number): void {
    this.#bytes -= bytes;
  }
}

/** One log's newest batches, by base offset (offsets stay below 2^53). */
export class LogTail {
  readonly #cache: TailCache;
  /** Bumped by `clear`, so that the cache's list forgets what it held before. */
  generation = 0;
  #bases: number[] = [];
  #buffers: Buffer[] = [];
  #head = 0;
  #bytes = 0;

  constructor(cache: TailCache) {
    this.#cache = cache;
  }

  /**
   * Adds one batch that was just written, right after the previous one. A small view of a large
   * buffer (a batch inside a network read) is copied, so the budget counts what is really held.
   */
  add(baseOffset: number, batch: Buffer): void {
    const held = batch.byteLength * 2 < batch.buffer.byteLength ? Buffer.from(batch) : batch;
    this.#bases.push(baseOffset);
    this.#buffers.push(held);
    this.#bytes += held.length;
    this.#cache.added(this, this.generation, held.length);
  }

  /**
   * Whole batches from the one holding `offset`, at most `bytesMax` bytes (at least one batch),
   * or null when `offset` lies before the oldest batch held.
   */
  read(offset: number, bytesMax: number): Buffer | null {
    const bases = this.#bases;
    let low = this.#head;
    let high = bases.length - 1;
    if (high < low || offset < bases[low]!) return null;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (bases[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    const first = this.#buffers[low]!;
    let end = low + 1;
    let bytes = first.length;
    while (end < bases.length && bytes + this.#buffers[end]!.length <= bytesMax) bytes += this.#buffers[end++]!.length;
    return end === low + 1 ? first : Buffer.concat(this.#buffers.slice(low, end), bytes);
  }

  /** @internal The cache evicts the oldest batch. */
  dropOldest(): void {
    const buffer = this.#buffers[this.#head];
    if (buffer === undefined) return;
    this.#buffers[this.#head] = emptyBuffer;
    this.#head++;
    this.#bytes -= buffer.length;
    this.#cache.released(buffer.length);
    if (this.#head > 256 && this.#head * 2 > this.#bases.length) {
      this.#bases = this.#bases.slice(this.#head);
      this.#buffers = this.#buffers.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Forgets every batch (the log closed, or its end moved back). */
  clear(): void {
    this.generation++;
    this.#cache.released(this.#bytes);
    this.#bases = [];
    this.#buffers = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}

const emptyBuffer = Buffer.alloc(0);

/** The cache every partition log of the process shares unless given its own. */
export const sharedTailCache = new TailCache();
