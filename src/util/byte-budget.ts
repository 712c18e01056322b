import assert from 'node:assert/strict';
import { metrics, type GaugeSeries } from './metrics.js';

/** Where a broker-wide bound shows itself on /metrics: the bytes held now, and the bound. */
export interface MemoryGauges {
  readonly bytes: GaugeSeries;
  readonly bytesMax: GaugeSeries;
}

/** The gauges `${prefix}_bytes` and `${prefix}_max_bytes` of the process-wide registry. */
function memoryGauges(prefix: string, help: { bytes: string; bytesMax: string }): MemoryGauges {
  const gauge = (name: string, text: string) => metrics.gauge({ name, help: text, labelNames: [] }).series({});
  return { bytes: gauge(`${prefix}_bytes`, help.bytes), bytesMax: gauge(`${prefix}_max_bytes`, help.bytesMax) };
}

/**
 * The range an operator may give a broker-wide memory bound (weir start --fetch-memory-bytes,
 * --request-memory-bytes, --queue-window-memory-bytes): 1 MiB to 1 TiB. The least is above what
 * any of them lets one task or connection hold past the bound (64 KiB).
 */
export const memoryBoundBytesMin = 1024 * 1024;
export const memoryBoundBytesLimit = 1024 * 1024 * 1024 * 1024;

/**
 * Bytes held by many connections together: every fetch running on the broker's native and Kafka
 * listeners, and every read of a native push subscription, holds its byte limit here; every fetch
 * answer, push delivery and queue delivery in a socket holds its size until the kernel has taken the last of it (a
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
  readonly #gauges: MemoryGauges | undefined;

  /** `gauges`: where the bytes held and the bound are shown (the broker's own budgets only). */
  constructor(options: { bytesMax: number; grantBytesMin: number; gauges?: MemoryGauges }) {
    assert.ok(Number.isSafeInteger(options.grantBytesMin) && options.grantBytesMin > 0, `grantBytesMin ${options.grantBytesMin}`);
    assert.ok(Number.isSafeInteger(options.bytesMax) && options.bytesMax >= options.grantBytesMin, `bytesMax ${options.bytesMax} below grantBytesMin`);
    this.bytesMax = options.bytesMax;
    this.grantBytesMin = options.grantBytesMin;
    this.#gauges = options.gauges;
    this.#gauges?.bytesMax.set(this.bytesMax);
    this.#gauges?.bytes.set(0);
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
    this.#gauges?.bytes.set(this.#held);
    return granted;
  }

  /** Holds `bytes` at once, room or not (bytes already in memory that must be counted). */
  hold(bytes: number): void {
    this.#held += bytes;
    this.#gauges?.bytes.set(this.#held);
  }

  release(bytes: number): void {
    this.#held -= bytes;
    assert.ok(this.#held >= 0, `released more than held (${this.#held})`);
    this.#gauges?.bytes.set(this.#held);
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

/**
 * The broker-wide bound on fetch memory (a SharedByteBudget); docs/native-protocol.md says why these
 * values. `bytesMax` is the default of weir start --fetch-memory-bytes.
 */
export const fetchMemoryDefaults = {
  bytesMax: 128 * 1024 * 1024,
  grantBytesMin: 64 * 1024,
} as const;
/** weir_fetch_memory_bytes and weir_fetch_memory_max_bytes, for the broker's fetch memory. */
export const fetchMemoryGauges = memoryGauges('weir_fetch_memory', {
  bytes: 'Bytes that running fetches, fetch answers, push and queue deliveries not yet in the kernel, and records kept for credits hold now, native and Kafka together',
  bytesMax: 'The bound on that fetch memory (weir start --fetch-memory-bytes)',
});
assert.ok(memoryBoundBytesMin >= fetchMemoryDefaults.grantBytesMin);

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

/**
 * The broker-wide bound on request bytes (Kafka's queued.max.request.bytes): what every native and
 * Kafka connection has read of requests not yet handled. A connection holds here what its frame
 * reader holds (partial frames, growing with the bytes that arrive; what arrived while reading
 * was paused) and each complete frame until its request is handled (the produce appended, the
 * fetch answered), through its ConnectionRequestBytes.
 *
 * Bytes that were read are always held (they are in memory already); the bound acts on reading:
 * a connection stops reading its socket (TCP back-pressure) once the budget is full, unless
 *  - it holds at most `connectionBytesFree` (a connection with nothing large outstanding always
 *    gets its small requests through, however the others fill the budget), or
 *  - it holds the pass: when the budget is full of frames that can only complete by reading
 *    more, one connection assembling a frame at a time (the first to find the budget full, then
 *    the next waiting one) reads on until its frame is complete, so large frames arriving
 *    together complete one after another instead of waiting on each other for ever.
 * A connection that stops waits here and resumes when bytes are released or the pass is free.
 * So the memory of requests is at most `bytesMax`, plus one frame (the pass), plus per connection
 * `connectionBytesFree` and the one read that found the budget full.
 */
export class RequestMemory {
  readonly bytesMax: number;
  readonly connectionBytesFree: number;
  #held = 0;
  /** The connection reading on past the bound until its frame is complete, if any. */
  #pass: ConnectionRequestBytes | null = null;
  /** Connections that stopped reading, in the order they stopped; each resumes when `wake` returns true. */
  readonly #waiting = new Map<ConnectionRequestBytes, () => boolean>();
  #wakeScheduled = false;
  readonly #gauges: MemoryGauges | undefined;

  /** `gauges`: where the bytes held and the bound are shown (the broker's own budget only). */
  constructor(options: { bytesMax: number; connectionBytesFree: number; gauges?: MemoryGauges }) {
    assert.ok(Number.isSafeInteger(options.connectionBytesFree) && options.connectionBytesFree >= 0, `connectionBytesFree ${options.connectionBytesFree}`);
    assert.ok(Number.isSafeInteger(options.bytesMax) && options.bytesMax > options.connectionBytesFree, `bytesMax ${options.bytesMax} not above connectionBytesFree`);
    this.bytesMax = options.bytesMax;
    this.connectionBytesFree = options.connectionBytesFree;
    this.#gauges = options.gauges;
    this.#gauges?.bytesMax.set(this.bytesMax);
    this.#gauges?.bytes.set(0);
  }

  get held(): number {
    return this.#held;
  }

  /** Connections waiting for room before they read again. */
  get waiting(): number {
    return this.#waiting.size;
  }

  hold(bytes: number): void {
    this.#held += bytes;
    this.#gauges?.bytes.set(this.#held);
  }

  release(bytes: number): void {
    this.#held -= bytes;
    assert.ok(this.#held >= 0, `released more than held (${this.#held})`);
    this.#gauges?.bytes.set(this.#held);
    this.#scheduleWake();
  }

  /** Whether `connection` may read now (see the class comment); takes the pass when it is free and needed. */
  mayRead(connection: ConnectionRequestBytes, assembling: boolean): boolean {
    if (this.#held < this.bytesMax || connection.held <= this.connectionBytesFree) return true;
    if (this.#pass === connection) return true;
    if (this.#pass !== null || !assembling) return false;
    this.#pass = connection;
    return true;
  }

  /**
   * `connection` stopped reading: `wake` runs (later, never within a release) when it may read
   * again, until it returns true (it calls `mayRead` again, which keeps its place while it waits).
   */
  wait(connection: ConnectionRequestBytes, wake: () => boolean): void {
    this.#waiting.set(connection, wake);
  }

  /** `connection` no longer assembles a frame, or is gone: the pass, if it held it, goes to the next that needs it. */
  leave(connection: ConnectionRequestBytes, gone: boolean): void {
    if (gone) this.#waiting.delete(connection);
    if (this.#pass !== connection) return;
    this.#pass = null;
    this.#scheduleWake();
  }

  /** Deferred, so that a connection resuming (and reading what it buffered) never runs inside another's release. */
  #scheduleWake(): void {
    if (this.#waiting.size === 0 || this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      // Each asks `mayRead` again (through its updateReading), which decides.
      for (const [connection, wake] of this.#waiting) if (wake()) this.#waiting.delete(connection);
    });
  }
}

/**
 * The broker-wide bound on request bytes (a RequestMemory); docs/native-protocol.md says why these
 * values. `bytesMax` is the default of weir start --request-memory-bytes.
 */
export const requestMemoryDefaults = {
  bytesMax: 64 * 1024 * 1024,
  connectionBytesFree: 64 * 1024,
} as const;
/** weir_request_memory_bytes and weir_request_memory_max_bytes, for the broker's request memory. */
export const requestMemoryGauges = memoryGauges('weir_request_memory', {
  bytes: 'Bytes of requests read and not yet handled, partial frames included, native and Kafka connections together',
  bytesMax: 'The bound on that request memory (weir start --request-memory-bytes)',
});
assert.ok(memoryBoundBytesMin > requestMemoryDefaults.connectionBytesFree);

/**
 * One connection's request bytes in the broker-wide RequestMemory: what its frame reader holds
 * (set after every read) and its complete frames until their requests are handled.
 */
export class ConnectionRequestBytes {
  readonly #shared: RequestMemory;
  #readerBytes = 0;
  #frameBytes = 0;
  #gone = false;

  constructor(shared: RequestMemory) {
    this.#shared = shared;
  }

  get held(): number {
    return this.#readerBytes + this.#frameBytes;
  }

  /** What the frame reader holds now, and whether it is part-way through a frame; gives up the pass once it is not. */
  setReader(bytes: number, assembling: boolean): void {
    if (this.#gone) return;
    const delta = bytes - this.#readerBytes;
    this.#readerBytes = bytes;
    if (delta > 0) this.#shared.hold(delta);
    else if (delta < 0) this.#shared.release(-delta);
    if (!assembling) this.#shared.leave(this, false);
  }

  /** A complete frame of `bytes`, held until `releaseFrame` (its request handled). */
  holdFrame(bytes: number): void {
    this.#frameBytes += bytes;
    this.#shared.hold(bytes);
  }

  releaseFrame(bytes: number): void {
    this.#frameBytes -= bytes;
    assert.ok(this.#frameBytes >= 0, `released more frame bytes than held (${this.#frameBytes})`);
    this.#shared.release(bytes);
  }

  /**
   * Whether the connection may read now; when not, `wake` runs once it may (until `wake` returns
   * true: it checks everything else the connection's reading waits for, and resumes).
   */
  mayRead(assembling: boolean, wake: () => boolean): boolean {
    if (this.#gone || this.#shared.mayRead(this, assembling)) return true;
    this.#shared.wait(this, wake);
    return false;
  }

  /** The connection is closed: its reader's bytes are let go (frames of running requests stay held until `releaseFrame`). */
  close(): void {
    if (this.#gone) return;
    this.setReader(0, false);
    this.#gone = true;
    this.#shared.leave(this, true);
  }
}
