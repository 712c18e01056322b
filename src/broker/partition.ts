/**
 * One partition of a topic, as the broker sees it: the partition log, the idempotent-producer
 * state in front of it, and the parked readers waiting for its high watermark to move.
 */
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { batchOffsets, batchPositions, readBatchHeader } from '../format/record-batch.js';
import type { LogConfig } from '../storage/config.js';
import { nodeFileSystem, readWholeFile, writeFileAtomic, type FileSystem } from '../storage/file-system.js';
import { PartitionLog, type AppendOptions } from '../storage/partition-log.js';
import type { HandlePool } from '../storage/handle-pool.js';
import { WeirError } from '../util/errors.js';
import { ProducerState, type BatchIdentity } from './producer-state.js';
import type { PartitionState, ProduceResult } from './types.js';
import type { Logger } from '../util/logger.js';

/** Bytes read per step while rebuilding producer state from the log. */
const recoveryReadBytes = 1024 * 1024;
/** Largest producer state snapshot read (a partition remembers up to 10,000 producers, 10 batches each). */
const snapshotBytesMax = 64 * 1024 * 1024;


interface Waiter {
  offset: bigint;
  wake: () => void;
}

export class Partition {
  readonly topic: string;
  readonly index: number;
  readonly log: PartitionLog;
  readonly #snapshotPath: string;
  readonly #fileSystem: FileSystem;
  #producers: ProducerState;
  #producersDirty = false;
  /** The snapshot write under way (settled when none): writes share a temporary file, so they take turns. */
  #snapshotWrite: Promise<void> = Promise.resolve();
  #closed = false;
  /** Idempotent producers' appends under way, by base offset (a retry arriving meanwhile awaits its original). */
  readonly #idempotentAppends = new Map<bigint, Promise<unknown>>();
  readonly #waiters = new Set<Waiter>();

  private constructor(topic: string, index: number, log: PartitionLog, snapshotPath: string, fileSystem: FileSystem, producers: ProducerState) {
    this.topic = topic;
    this.index = index;
    this.log = log;
    this.#snapshotPath = snapshotPath;
    this.#fileSystem = fileSystem;
    this.#producers = producers;
  }

  /** The highest producer id whose batches this partition remembers, or -1. */
  get producerIdMax(): bigint {
    return this.#producers.producerIdMax;
  }

  /** Idempotent producers this partition remembers. */
  get producerCount(): number {
    return this.#producers.size;
  }

  /**
   * Forgets the producers that sent nothing for `idleMsMax` (see ProducerState.expire); the next
   * snapshot leaves them out. Returns how many.
   */
  expireProducers(idleMsMax: number): number {
    const count = this.#producers.expire(Date.now() - idleMsMax);
    if (count > 0) this.#producersDirty = true;
    return count;
  }

  static async open(options: {
    topic: string;
    index: number;
    dir: string;
    snapshotPath: string;
    config: LogConfig;
    handles?: HandlePool;
    /** Cut a damaged log at the damage rather than refuse to open (PartitionLog's `repair`). */
    repair?: boolean;
    logger?: Logger;
    /** Called with the bytes of each batch validated by the log's recovery (PartitionLog's `onValidated`). */
    onValidated?: (bytes: number) => void;
    /** Producers idle longer than this are not loaded (see ProducerState.expire; default: all are). */
    producerIdleMsMax?: number;
  }): Promise<Partition> {
    let partition: Partition | undefined;
    const log = await PartitionLog.open(options.dir, options.config, {
      ...(options.handles ? { handles: options.handles } : {}),
      ...(options.repair ? { repair: true } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onValidated ? { onValidated: options.onValidated } : {}),
      onReadable: () => partition?.wakeReaders(),
    });
    const fileSystem = options.handles?.fileSystem ?? nodeFileSystem;
    const producers = await loadProducerState(log, fileSystem, options.snapshotPath, options.logger);
    if (options.producerIdleMsMax !== undefined) producers.expire(Date.now() - options.producerIdleMsMax, { everyEntry: true });
    partition = new Partition(options.topic, options.index, log, options.snapshotPath, fileSystem, producers);
    return partition;
  }

  get state(): PartitionState {
    return {
      partition: this.index,
      offsetStart: this.log.offsetStart,
      offsetEnd: this.log.offsetEnd,
      highWatermark: this.log.highWatermark,
      sizeBytes: this.log.sizeBytes,
    };
  }

  /**
   * Appends producer batches. An idempotent producer's batch must come alone; a retry of a batch
   * already stored answers with the stored offset once that offset is durable. `options` go to
   * the log (see PartitionLog.append).
   */
  async append(batches: Buffer, options?: AppendOptions): Promise<ProduceResult> {
    const headers = batchIdentitiesOf(batches);
    const first = headers[0]!;
    const idempotent = first.producerId >= 0n;
    if (idempotent) {
      if (headers.length !== 1) {
        throw new WeirError('INVALID_REQUEST', `an idempotent producer sends one batch per partition, got ${headers.length}`);
      }
      const verdict = this.#producers.check(first);
      if (verdict.kind === 'duplicate') {
        // Still being appended: the retry shares the append's outcome (a failure too).
        const pending = this.#idempotentAppends.get(verdict.offsetBase);
        if (pending !== undefined) await pending;
        else await this.waitForHighWatermark(verdict.offsetBase + 1n);
        return { baseOffset: verdict.offsetBase, logAppendTimeMs: -1, offsetStart: this.log.offsetStart, duplicate: true };
      }
    }
    // The log validates the batches (size, CRC, record count) and assigns their offsets
    // synchronously, in call order; its end moves only when it accepted them. Recording the
    // producer's batch right then keeps retries that arrive while this append is queued exact.
    const offsetBase = this.log.offsetEnd;
    const appending = this.log.append(batches, options);
    if (idempotent && this.log.offsetEnd > offsetBase) {
      this.#producers.record(first, offsetBase, Date.now());
      this.#producersDirty = true;
      this.#idempotentAppends.set(offsetBase, appending);
      appending.then(
        () => this.#idempotentAppends.delete(offsetBase),
        () => {
          this.#idempotentAppends.delete(offsetBase);
          this.#producers.forget(first.producerId, offsetBase); // not stored: a retry is appended again
        },
      );
    }
    const result = await appending;
    assert.equal(result.baseOffset, offsetBase, 'the log assigned an offset other than its end at the time of the call');
    return { baseOffset: result.baseOffset, logAppendTimeMs: result.logAppendTimeMs, offsetStart: this.log.offsetStart, duplicate: false };
  }

  /**
   * Calls `wake` once, synchronously, when the high watermark reaches `offset`: from inside the
   * append that moves it (before that append's producers get their answers), or when the partition
   * closes. Returns the function that cancels the watch, or null when the high watermark is there
   * already (`wake` is not called then).
   */
  watch(offset: bigint, wake: () => void): (() => void) | null {
    if (this.log.highWatermark >= offset) return null;
    const waiter: Waiter = {
      offset,
      wake: () => {
        this.#waiters.delete(waiter);
        wake();
      },
    };
    this.#waiters.add(waiter);
    return () => this.#waiters.delete(waiter);
  }

  /** Resolves when the high watermark passes `offset`, or at once when it already has. */
  waitForHighWatermark(offset: bigint, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let cancel: (() => void) | null = null;
      const onAbort = (): void => {
        cancel?.();
        resolve();
      };
      cancel = this.watch(offset, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      if (cancel === null) resolve();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  wakeReaders(): void {
    if (this.#waiters.size === 0) return;
    const highWatermark = this.log.highWatermark;
    for (const waiter of this.#waiters) {
      if (highWatermark >= waiter.offset) waiter.wake();
    }
  }

  /** Wakes every parked reader (topic deleted, broker closing). */
  wakeAll(): void {
    for (const waiter of this.#waiters) waiter.wake();
  }

  /**
   * Writes the producer state when it changed since the last write, after any write under way
   * (the periodic one and close's share a temporary file). Nothing after close: the partition's
   * files may be gone with its topic.
   */
  snapshotProducers(): Promise<void> {
    return this.#closed ? Promise.resolve() : this.#queueSnapshot();
  }

  #queueSnapshot(): Promise<void> {
    const write = this.#snapshotWrite.then(() => this.#writeSnapshot());
    this.#snapshotWrite = write.catch(() => undefined);
    return write;
  }

  async #writeSnapshot(): Promise<void> {
    if (!this.#producersDirty) return;
    this.#producersDirty = false;
    await this.log.flush();
    // Appends queued after the flush are recorded already, and may not survive a crash: the
    // snapshot stops at the durable end, and loading replays what the log kept after it.
    const offset = this.log.highWatermark;
    // `takenMs`: the batches after `offset`, which loading replays, were taken about then or later.
    const snapshot = { offset: offset.toString(), takenMs: Date.now(), producers: this.#producers.toJSON(offset) };
    // Not synced: a snapshot a crash tore is rebuilt from the log, as is one the log outran.
    await writeFileAtomic(this.#fileSystem, dirname(this.#snapshotPath), basename(this.#snapshotPath), Buffer.from(JSON.stringify(snapshot)), { sync: false });
  }

  /**
   * Flushes, writes the producer snapshot and closes the log. A partition a failed write fenced
   * has nothing more to flush: its log is closed all the same (recovery at the next open cuts what
   * the failure left, and replays the producers from the log), so that its topic can be deleted.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.wakeAll();
    try {
      if (this.log.failure === null) {
        await this.log.flush();
        this.#producersDirty = true;
        await this.#queueSnapshot();
      }
    } finally {
      await this.log.close();
    }
  }
}

/**
 * The producer fields of each batch, read as they are: the log validates every batch (timestamps
 * included, which it may refuse as INVALID_TIMESTAMP before the safe-integer check) before storing it.
 */
function batchIdentitiesOf(batches: Buffer): BatchIdentity[] {
  const headers: BatchIdentity[] = [];
  let covered = 0;
  for (const { position, bytes } of batchPositions(batches)) {
    headers.push({
      producerId: batches.readBigInt64BE(position + batchOffsets.producerId),
      producerEpoch: batches.readInt16BE(position + batchOffsets.producerEpoch),
      baseSequence: batches.readInt32BE(position + batchOffsets.baseSequence),
      recordCount: batches.readInt32BE(position + batchOffsets.recordCount),
    });
    covered = position + bytes;
  }
  if (headers.length === 0 || covered !== batches.length) {
    throw new WeirError('CORRUPT_MESSAGE', `produce data of ${batches.length} bytes is not a run of whole record batches`);
  }
  return headers;
}

/**
 * Loads the last snapshot and replays the batch headers appended after it. A replayed batch counts
 * as seen when its segment's file was last written (never after now): the log does not keep when
 * a batch was appended, and that time is no earlier. Its records' timestamps are the producer's
 * (an import of old events carries old ones): counted by them, a producer that was sending just
 * before a crash could look idle and be forgotten, and its retry after the restart stored twice.
 * A snapshot from before producer times were kept counts its producers as seen now.
 */
async function loadProducerState(log: PartitionLog, fileSystem: FileSystem, snapshotPath: string, logger?: Logger): Promise<ProducerState> {
  const nowMs = Date.now();
  let producers = new ProducerState();
  let offset = log.offsetStart;
  try {
    const bytes = await readWholeFile(fileSystem, snapshotPath, snapshotBytesMax);
    if (bytes !== null) {
      const snapshot = JSON.parse(bytes.toString('utf8')) as { offset: string; takenMs?: number; producers: unknown };
      const snapshotOffset = BigInt(snapshot.offset);
      if (snapshotOffset >= log.offsetStart && snapshotOffset <= log.highWatermark) {
        producers = ProducerState.fromJSON(snapshot.producers, snapshot.takenMs ?? nowMs);
        offset = snapshotOffset;
      }
    }
  } catch (error) {
    logger?.('warn', `producer state snapshot ${snapshotPath} unreadable, rebuilding from the log: ${String(error)}`);
  }
  while (offset < log.highWatermark) {
    const bytes = await log.read(offset, recoveryReadBytes);
    if (bytes.length === 0) break;
    const positions = [...batchPositions(bytes)];
    if (positions.length === 0) break;
    // The segment of the read's last batch was written last (a read may span a roll): no batch of
    // the read was appended after its file's modification time.
    const lastBase = bytes.readBigInt64BE(positions[positions.length - 1]!.position + batchOffsets.baseOffset);
    const seenMs = Math.min(nowMs, (await log.modifiedMsAt(lastBase)) ?? nowMs);
    for (const { position } of positions) {
      const baseOffset = bytes.readBigInt64BE(position + batchOffsets.baseOffset);
      const header = readBatchHeader(bytes, position);
      const lastOffset = baseOffset + BigInt(header.lastOffsetDelta);
      if (lastOffset < offset) continue;
      if (header.producerId >= 0n) producers.record(header, baseOffset, seenMs);
      offset = lastOffset + 1n;
    }
  }
  return producers;
}
