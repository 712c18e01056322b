/**
 * The partition log: an append-only sequence of RecordBatch v2 batches in segment files, addressed
 * by offset (docs/format/segment.md, docs/format/indexes.md).
 *
 * Appends: `append` validates the batches and assigns their offsets synchronously (stamping
 * baseOffset in place), then queues them for the single writer of this partition. The writer takes
 * everything queued (up to `writeGroupBytesMax`), writes it with one pwritev — under flush `always`
 * through the segment's O_DSYNC descriptor, so the write returns only once the data is on disk, the
 * same guarantee as write + fdatasync in one thread-pool trip — then resolves every append of the
 * group. Appends that arrive while a write is in flight wait in the queue and share the next one
 * (group commit).
 *
 * Preallocation: under `always`, a small group that would grow the file also writes zeros past its
 * end (16 times the group's bytes, 64 KiB to 1 MiB), in the same pwritev. Later groups then
 * overwrite blocks the file already has, so their sync flushes data without committing a new file
 * size to the journal: about half the sync time and CPU on ext4. The zeros cost the write that
 * carries them time of their own, so they are sized to the group: one write in about 16 grows
 * the file, and it carries little more than the others (a flat 1 MiB made every 200th write of a
 * 5 MB/s stream take 2–3 ms, the p99 of its latency; bench/latency-floor.mjs, mode `log`). The
 * zeros are cut off when the segment is sealed or the log closes, and by recovery after a crash.
 *
 * High watermark: what readers may see. Under `always` it is the durably written end of the log;
 * under `interval` and `none` the written end.
 *
 * Failures: a failed write or sync fences the partition (sticky STORAGE_FAILED / DISK_FULL); every
 * queued and later append is rejected, reads keep working up to the high watermark, and reopening
 * the directory cuts whatever torn tail the failure left.
 */
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { batchOffsets, batchHeaderBytes, batchTotalBytes, stampBaseOffset, validateBatch } from '../format/record-batch.js';
import { WeirError } from '../util/errors.js';
import { metrics, type CounterSeries } from '../util/metrics.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { HandlePool, sharedHandlePool } from './handle-pool.js';
import { sharedIndexCache, type IndexCache } from './index-cache.js';
import { createSegment, emptyIndexes, loadPartition, writeCheckpoint } from './recovery.js';
import { readBatches, findRecordAtTime } from './segment-reader.js';
import { relativeOffsetMax } from './segment-scan.js';
import type { Segment, SegmentContext } from './segment.js';
import { deleteSegments } from './segment-deletion.js';
import { readFailure, writeFailure } from './storage-errors.js';
import { sharedTailCache, type LogTail, type TailCache } from './tail-cache.js';
import type { Logger as StorageLogger } from '../util/logger.js';

export interface AppendResult {
  baseOffset: bigint;
  lastOffset: bigint;
  logAppendTimeMs: number;
}

export interface AppendOptions {
  /**
   * False for batches the broker writes itself from messages a topic already accepted (dead
   * letters, which keep their message's timestamp): the log's timestampAheadMsMax and
   * timestampBehindMsMax, which bound producers' clocks, do not apply to them. Every other check
   * does. Default true.
   */
  timestampBounds?: boolean;
}

/** Counters of the writer, for benchmarks and metrics. */
export interface PartitionLogStats {
  appends: number;
  writes: number;
  syncs: number;
  bytesWritten: number;
}

export type { StorageLogger };

export interface PartitionLogOptions {
  fs?: FileSystem;
  handles?: HandlePool;
  indexCache?: IndexCache;
  /** Where the newest written batches are kept for readers at the end of the log (tail-cache.ts). */
  tailCache?: TailCache;
  clock?: () => number;
  /** Called (synchronously, cheaply) whenever the high watermark advances. */
  onReadable?: (highWatermark: bigint) => void;
  logger?: StorageLogger;
  /** Open even if a segment is damaged in the middle, truncating the log at the damage (logged as an error). */
  repair?: boolean;
  /** Called with the bytes of each batch the open validates (recovery after a crash), for progress. */
  onValidated?: (bytes: number) => void;
  /**
   * Labels of this log's appended-messages and appended-bytes counters; by default the names of
   * the directory and its parent (`<topic>/<partition>`, as the broker lays partitions out).
   */
  metricLabels?: PartitionMetricLabels;
}

export type PartitionMetricLabels = { topic: string; partition: string };

/** Most bytes one write + sync of the writer covers. */
export const writeGroupBytesMax = 8 * 1024 * 1024;
/** Most bytes queued for the writer; appends beyond are rejected with LIMIT_EXCEEDED (retriable). */
export const appendQueueBytesMax = 256 * 1024 * 1024;
/** Preallocation (see the file comment): groups at most this big write zeros ahead of them, ... */
const preallocateGroupBytesMax = 64 * 1024;
/** ... this many times the group's bytes, within these bounds. */
const preallocateGroupMultiple = 16;
const preallocateBytesMin = 64 * 1024;
const preallocateBytesMax = 1024 * 1024;
const zeros = Buffer.alloc(preallocateBytesMax);

/**
 * Zero bytes a group of `groupBytes` that grows its file writes after itself under flush `always`
 * (see the file comment), before the segment's size limit cuts it; 0 for a large group.
 */
export function preallocationBytes(groupBytes: number): number {
  if (groupBytes > preallocateGroupBytesMax) return 0;
  return Math.min(preallocateBytesMax, Math.max(preallocateBytesMin, preallocateGroupMultiple * groupBytes));
}

/** Largest segment the 32-bit index positions can address. */
export const segmentBytesMaxHard = 0x7fff_ffff;

/** Bounds of the sync latency histogram, seconds. */
export const fsyncDurationBucketsSeconds = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const;

const fsyncDuration = metrics
  .histogram({
    name: 'weir_storage_fsync_duration_seconds',
    help: 'Time one sync of a partition segment took: an fdatasync, or under flush always the durable (O_DSYNC) write of a group (group commit: one sync covers many appends)',
    buckets: fsyncDurationBucketsSeconds,
  })
  .series();
const messagesAppended = metrics.counter({
  name: 'weir_partition_messages_appended_total',
  help: 'Records written to the partition log',
  labelNames: ['topic', 'partition'],
});
const bytesAppended = metrics.counter({
  name: 'weir_partition_bytes_appended_total',
  help: 'Record batch bytes written to the partition log',
  labelNames: ['topic', 'partition'],
});

type QueueItem =
  | { kind: 'append'; buffer: Buffer; baseOffset: bigint; lastOffset: bigint; appendTimeMs: number; resolve: (result: AppendResult) => void; reject: (error: unknown) => void }
  | { kind: 'flush' | 'roll'; resolve: () => void; reject: (error: unknown) => void };
type AppendItem = Extract<QueueItem, { kind: 'append' }>;

const defaultLogger: StorageLogger = (level, message) => {
  if (level === 'warn' || level === 'error') console.error(`weir storage ${level}: ${message}`);
};

export function checkLogConfig(config: LogConfig): void {
  const problems: string[] = [];
  if (!Number.isInteger(config.segmentBytesMax) || config.segmentBytesMax < batchHeaderBytes || config.segmentBytesMax > segmentBytesMaxHard) {
    problems.push(`segmentBytesMax ${config.segmentBytesMax} must be an integer in ${batchHeaderBytes}..${segmentBytesMaxHard}`);
  }
  if (!Number.isInteger(config.batchBytesMax) || config.batchBytesMax < batchHeaderBytes) problems.push(`batchBytesMax ${config.batchBytesMax} is too small`);
  if (!(config.segmentAgeMsMax > 0)) problems.push(`segmentAgeMsMax ${config.segmentAgeMsMax} must be positive`);
  if (!Number.isInteger(config.indexIntervalBytes) || config.indexIntervalBytes < 1) problems.push(`indexIntervalBytes ${config.indexIntervalBytes} must be a positive integer`);
  if (config.flush.kind === 'interval' && !(config.flush.intervalMs > 0)) problems.push(`flush intervalMs ${config.flush.intervalMs} must be positive`);
  if (config.retentionBytes !== null && !(config.retentionBytes >= 0)) problems.push('retentionBytes must be >= 0 or null');
  if (config.retentionMs !== null && !(config.retentionMs >= 0)) problems.push('retentionMs must be >= 0 or null');
  if (problems.length > 0) throw new WeirError('INVALID_CONFIG', `log configuration: ${problems.join('; ')}`);
}

export class PartitionLog {
  readonly dir: string;
  #config: LogConfig;
  #context: SegmentContext;
  #clock: () => number;
  #onReadable: ((highWatermark: bigint) => void) | undefined;
  #segments: Segment[];
  #offsetNext: bigint;
  #highWatermark: bigint;
  readonly #gapsReported = new WeakSet<Segment>();
  #queue: QueueItem[] = [];
  #queueBytes = 0;
  #writerRunning = false;
  #failure: WeirError | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #flushTimer: NodeJS.Timeout | null = null;
  #retention: Promise<number> | null = null;
  #stats: PartitionLogStats = { appends: 0, writes: 0, syncs: 0, bytesWritten: 0 };
  /** The newest written batches, so that reads at the end of the log need no file read. */
  readonly #tail: LogTail;
  readonly #metricLabels: PartitionMetricLabels;
  readonly #messagesAppended: CounterSeries;
  readonly #bytesAppended: CounterSeries;

  private constructor(dir: string, config: LogConfig, context: SegmentContext, segments: Segment[], options: PartitionLogOptions) {
    this.dir = dir;
    this.#config = config;
    this.#context = context;
    this.#clock = options.clock ?? Date.now;
    this.#onReadable = options.onReadable;
    this.#tail = (options.tailCache ?? sharedTailCache).tail();
    this.#segments = segments;
    this.#offsetNext = this.#active.endOffset;
    this.#highWatermark = this.#offsetNext;
    this.#metricLabels = options.metricLabels ?? { topic: basename(dirname(dir)), partition: basename(dir) };
    this.#messagesAppended = messagesAppended.acquire(this.#metricLabels);
    this.#bytesAppended = bytesAppended.acquire(this.#metricLabels);
    this.#scheduleFlushTimer();
  }

  static async open(dir: string, config: LogConfig = logConfigDefaults, options: PartitionLogOptions = {}): Promise<PartitionLog> {
    checkLogConfig(config);
    const fileSystem = options.handles?.fileSystem ?? options.fs ?? nodeFileSystem;
    assert.ok(options.fs === undefined || options.handles === undefined || options.handles.fileSystem === options.fs, 'handles must use the same file system as fs');
    const handles = options.handles ?? (fileSystem === nodeFileSystem ? sharedHandlePool() : new HandlePool({ fileSystem }));
    const context: SegmentContext = {
      fileSystem,
      handles,
      indexCache: options.indexCache ?? sharedIndexCache(),
      indexIntervalBytes: config.indexIntervalBytes,
      logger: options.logger ?? defaultLogger,
    };
    const clock = options.clock ?? Date.now;
    const loaded = await loadPartition(dir, context, {
      repair: options.repair ?? false,
      nowMs: clock(),
      ...(options.onValidated ? { onValidated: options.onValidated } : {}),
    });
    return new PartitionLog(dir, config, context, loaded.segments, options);
  }

  get offsetStart(): bigint {
    return this.#segments[0]!.baseOffset;
  }

  /** The offset the next appended record gets (appends still queued included). */
  get offsetEnd(): bigint {
    return this.#offsetNext;
  }

  get highWatermark(): bigint {
    return this.#highWatermark;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.#segments) total += segment.sizeBytes;
    return total;
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** The sticky write failure, if the partition is fenced. */
  get failure(): WeirError | null {
    return this.#failure;
  }

  get stats(): PartitionLogStats {
    return { ...this.#stats };
  }

  get config(): LogConfig {
    return this.#config;
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  /**
   * Appends one or more consecutive batches. Validates them (size, CRC, record count), stamps their
   * base offsets into `batches` and resolves once they are written and — under flush `always` —
   * durable on disk.
   */
  append(batches: Buffer, options?: AppendOptions): Promise<AppendResult> {
    const refusal = this.#appendRefusal(batches);
    if (refusal !== null) return Promise.reject(refusal);
    let recordCount = 0n;
    const appendTimeMs = this.#clock();
    const bounded = options?.timestampBounds !== false;
    const aheadMsMax = bounded ? this.#config.timestampAheadMsMax : null;
    const timestampAhead = aheadMsMax === null ? null : { nowMs: appendTimeMs, msMax: aheadMsMax };
    const behindMsMax = bounded ? this.#config.timestampBehindMsMax : null;
    const timestampBehind = behindMsMax === null ? null : { nowMs: appendTimeMs, msMax: behindMsMax };
    try {
      let position = 0;
      while (position < batches.length) {
        position += validateBatch(batches, position, this.#config.batchBytesMax, { timestampAhead, timestampBehind }); // INVALID_TIMESTAMP past a bound
      }
      for (position = 0; position < batches.length; position += batchTotalBytes(batches, position)) {
        stampBaseOffset(batches, position, this.#offsetNext + recordCount);
        recordCount += BigInt(batches.readInt32BE(position + batchOffsets.lastOffsetDelta) + 1);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const baseOffset = this.#offsetNext;
    const lastOffset = baseOffset + recordCount - 1n;
    this.#offsetNext = lastOffset + 1n;
    return new Promise<AppendResult>((resolve, reject) => {
      this.#enqueue({ kind: 'append', buffer: batches, baseOffset, lastOffset, appendTimeMs, resolve, reject });
    });
  }

  #appendRefusal(batches: Buffer): WeirError | null {
    if (this.#failure !== null) return this.#failure;
    if (this.#closed || this.#closing !== null) return new WeirError('CLOSED', `partition log ${this.dir} is closed`);
    if (batches.length === 0) return new WeirError('INVALID_REQUEST', 'append of zero bytes');
    if (batches.length > this.#config.batchBytesMax) {
      return new WeirError('MESSAGE_TOO_LARGE', `append of ${batches.length} bytes exceeds batchBytesMax ${this.#config.batchBytesMax}`);
    }
    if (this.#queueBytes + batches.length > appendQueueBytesMax) {
      return new WeirError('LIMIT_EXCEEDED', `partition log ${this.dir}: ${this.#queueBytes} bytes already wait to be written`);
    }
    return null;
  }

  /**
   * What `read` would return when the batches are in the tail cache, synchronously; null when they
   * are not (or the log is closed, or `offset` is outside the log): then `read` goes to the file.
   */
  readTail(offset: bigint, bytesMax: number): Buffer | null {
    if (this.#closed || offset < this.offsetStart || offset >= this.#highWatermark) return null;
    return this.#tail.read(Number(offset), bytesMax);
  }

  /**
   * Stored bytes starting with the batch that holds `offset`: whole batches, at least one even if
   * it is larger than `bytesMax`, never past the high watermark. Empty at the high watermark.
   */
  async read(offset: bigint, bytesMax: number): Promise<Buffer> {
    if (this.#closed) throw new WeirError('CLOSED', `partition log ${this.dir} is closed`);
    this.#checkInRange(offset);
    if (offset >= this.#highWatermark) return Buffer.alloc(0);
    const cached = this.#tail.read(Number(offset), bytesMax);
    if (cached !== null) return cached;
    let index = this.#segmentIndexFor(offset);
    while (index >= 0 && index < this.#segments.length && offset < this.#highWatermark) {
      const segment = this.#segments[index]!;
      let bytes: Buffer;
      try {
        bytes = await readBatches(segment, this.#context, { offset, bytesMax });
      } catch (error) {
        // The segment may have been deleted by retention while we read it.
        if (offset < this.offsetStart) this.#checkInRange(offset);
        throw readFailure(segment.logPath, error);
      }
      if (bytes.length > 0) return bytes;
      const at = this.#segments.indexOf(segment);
      if (at < 0) {
        // Deleted by retention meanwhile: out of range now, or look the offset up again.
        this.#checkInRange(offset);
        index = this.#segmentIndexFor(offset);
      } else {
        index = at + 1;
        const next = this.#segments[index];
        if (next !== undefined && offset < next.baseOffset) this.#reportGap(segment, offset, next);
      }
    }
    return Buffer.alloc(0);
  }

  /**
   * `segment` ends at `offset`, before the next one starts: the offsets between are not on disk (a
   * segment file deleted or cut short by hand). Readers go on from the next segment, as a
   * Kafka-protocol reader skips any gap; the log says so once per segment.
   */
  #reportGap(segment: Segment, offset: bigint, next: Segment): void {
    if (this.#gapsReported.has(segment)) return;
    this.#gapsReported.add(segment);
    this.#context.logger('error', `${this.dir}: offsets ${offset}..${next.baseOffset - 1n} are missing: ${segment.logPath} ends at ${offset} and the next segment starts at ${next.baseOffset} (a segment file deleted or cut short); readers skip to ${next.baseOffset}`);
  }

  /** The first record with a timestamp >= `timestampMs` (below the high watermark), or null. */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: bigint; timestampMs: number } | null> {
    if (this.#closed) throw new WeirError('CLOSED', `partition log ${this.dir} is closed`);
    for (const segment of [...this.#segments]) {
      if (segment.readableBytes === 0) continue;
      if ((await segment.maxTimestampMs()) < timestampMs) continue;
      let found: { offset: bigint; timestampMs: number } | null;
      try {
        found = await findRecordAtTime(segment, this.#context, timestampMs);
      } catch (error) {
        if (!this.#segments.includes(segment)) continue; // deleted by retention meanwhile
        throw readFailure(segment.logPath, error);
      }
      if (found !== null) return found;
    }
    return null;
  }

  /**
   * When the segment holding `offset` was last written (its file's modification time): no batch
   * in it was appended later. Null when its file is gone.
   */
  async modifiedMsAt(offset: bigint): Promise<number | null> {
    this.#checkInRange(offset);
    const segment = this.#segments[this.#segmentIndexFor(offset)]!;
    return (await this.#context.fileSystem.stat(segment.logPath))?.modifiedMs ?? null;
  }

  #checkInRange(offset: bigint): void {
    if (offset < this.offsetStart || offset > this.#offsetNext) {
      throw new WeirError('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside ${this.offsetStart}..${this.#offsetNext} of ${this.dir}`);
    }
  }

  /** Index of the last segment whose base offset is <= offset. */
  #segmentIndexFor(offset: bigint): number {
    let low = 0;
    let high = this.#segments.length - 1;
    let found = 0;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.#segments[middle]!.baseOffset <= offset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /**
   * Deletes whole segments (never the active one; an expired active segment is rolled first) whose
   * newest batch is older than retentionMs (a segment without timestamps by its file's time:
   * Segment.retentionTimeMs), and oldest segments while the log exceeds retentionBytes.
   * Returns how many were deleted.
   */
  applyRetention(nowMs?: number): Promise<number> {
    if (this.#closed || this.#closing !== null) return Promise.resolve(0);
    const previous = this.#retention ?? Promise.resolve(0);
    const run = previous.then(() => this.#retain(nowMs ?? this.#clock()));
    this.#retention = run.then(
      () => 0,
      () => 0,
    );
    return run;
  }

  async #retain(nowMs: number): Promise<number> {
    if (this.#closed || this.#closing !== null) return 0;
    const { retentionMs, retentionBytes } = this.#config;
    if (retentionMs === null && retentionBytes === null) return 0;
    let expiredCount = 0;
    if (retentionMs !== null) {
      const expired = async (segment: Segment): Promise<boolean> => segment.sizeBytes > 0 && nowMs - (await segment.retentionTimeMs()) > retentionMs;
      // Every segment expired, the active one too: it is rolled, so that it can go as well.
      let all = true;
      for (const segment of [...this.#segments]) {
        if (!(await expired(segment))) {
          all = false;
          break;
        }
      }
      if (all && this.#failure === null && this.#closing === null) await this.#requestWriter('roll');
      // Counted over sealed segments only, the bound read afresh at each step: the segment that was
      // active while this waited (on the roll, or on a segment's time) may since hold appends that
      // were acknowledged meanwhile, and is judged by its time once it takes no more.
      while (expiredCount < this.#segments.length - 1 && (await expired(this.#segments[expiredCount]!))) expiredCount++;
    }
    let doomed = expiredCount;
    if (retentionBytes !== null) {
      let total = this.sizeBytes;
      for (let i = 0; i < doomed; i++) total -= this.#segments[i]!.sizeBytes;
      while (doomed < this.#segments.length - 1 && total - this.#segments[doomed]!.sizeBytes >= retentionBytes) {
        total -= this.#segments[doomed]!.sizeBytes;
        doomed++;
      }
    }
    if (doomed === 0) return 0;
    const removed = this.#segments.splice(0, doomed);
    this.#context.logger('info', `${this.dir}: retention deletes ${removed.length} segments; log start offset is now ${this.offsetStart}`);
    await deleteSegments(this.dir, removed, this.#context);
    return removed.length;
  }

  /**
   * Deletes the whole segments (never the active one) that hold only offsets below `offset`: an
   * owner that keeps its own checkpoints in the log (queue state) drops what no checkpoint needs.
   * Returns how many were deleted.
   */
  deleteBefore(offset: bigint): Promise<number> {
    if (this.#closed || this.#closing !== null) return Promise.resolve(0);
    const previous = this.#retention ?? Promise.resolve(0);
    const run = previous.then(async () => {
      if (this.#closed || this.#closing !== null) return 0;
      let doomed = 0;
      while (doomed < this.#segments.length - 1 && this.#segments[doomed + 1]!.baseOffset <= offset) doomed++;
      if (doomed === 0) return 0;
      const removed = this.#segments.splice(0, doomed);
      await deleteSegments(this.dir, removed, this.#context);
      return removed.length;
    });
    this.#retention = run.then(
      () => 0,
      () => 0,
    );
    return run;
  }

  updateConfig(config: LogConfig): void {
    checkLogConfig(config);
    this.#config = config;
    this.#context.indexIntervalBytes = config.indexIntervalBytes;
    this.#scheduleFlushTimer();
  }

  /** Resolves when everything appended so far is written and synced to disk. */
  flush(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return this.#requestWriter('flush');
  }

  /** Flushes, writes the active segment's indexes and the clean-shutdown checkpoint, releases handles. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#failure === null) await this.#requestWriter('flush').catch(() => undefined);
    this.#closed = true;
    if (this.#flushTimer !== null) clearInterval(this.#flushTimer);
    await this.#retention?.catch(() => undefined);
    try {
      if (this.#failure === null) await this.#writeCleanCheckpoint();
    } finally {
      this.#tail.clear();
      for (const segment of this.#segments) segment.forget();
      messagesAppended.release(this.#metricLabels);
      bytesAppended.release(this.#metricLabels);
      await this.#context.handles.retireUnder(`${this.dir}/`);
    }
  }

  async #writeCleanCheckpoint(): Promise<void> {
    const active = this.#active;
    await this.#trimPreallocation(active);
    active.closeTimeIndex();
    const digests = await active.writeIndexFiles({ sync: false });
    await writeCheckpoint(this.dir, this.#context, {
      clean: true,
      recoveryOffset: active.baseOffset,
      activeBaseOffset: active.baseOffset,
      activeSizeBytes: active.sizeBytes,
      offsetIndexCrc: digests.offsetIndex.crc,
      offsetIndexBytes: digests.offsetIndex.bytes,
      timeIndexCrc: digests.timeIndex.crc,
      timeIndexBytes: digests.timeIndex.bytes,
      logEndOffset: active.endOffset,
    });
  }

  /** Closes the log and removes its directory. */
  async destroy(): Promise<void> {
    await this.close();
    await this.#context.fileSystem.removeTree(this.dir);
  }

  #scheduleFlushTimer(): void {
    if (this.#flushTimer !== null) clearInterval(this.#flushTimer);
    this.#flushTimer = null;
    const flush = this.#config.flush;
    if (flush.kind !== 'interval' || this.#closed) return;
    this.#flushTimer = setInterval(() => {
      if (this.#active.unsyncedBytes > 0 && this.#failure === null && !this.#closed) {
        this.#requestWriter('flush').catch(() => undefined);
      }
    }, flush.intervalMs);
    this.#flushTimer.unref();
  }

  #requestWriter(kind: 'flush' | 'roll'): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#enqueue({ kind, resolve, reject }));
  }

  #enqueue(item: QueueItem): void {
    this.#queue.push(item);
    if (item.kind === 'append') this.#queueBytes += item.buffer.length;
    if (!this.#writerRunning) void this.#runWriter();
  }

  // ---- the writer: the only code that changes files of this partition (besides retention's deletions)

  async #runWriter(): Promise<void> {
    this.#writerRunning = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#failure !== null) {
          this.#rejectQueue(this.#failure);
          break;
        }
        const head = this.#queue[0]!;
        if (head.kind === 'append') await this.#writeGroup();
        else await this.#runControl(head);
      }
    } finally {
      this.#writerRunning = false;
    }
  }

  async #runControl(item: Exclude<QueueItem, AppendItem>): Promise<void> {
    this.#queue.shift();
    try {
      if (item.kind === 'roll') {
        if (this.#active.sizeBytes > 0) await this.#roll(this.#offsetWrittenEnd());
      } else {
        await this.#syncActive();
      }
      item.resolve();
    } catch (error) {
      const failure = this.#fail(error, this.#active.logPath, item.kind);
      item.reject(failure);
    }
  }

  #offsetWrittenEnd(): bigint {
    return this.#active.endOffset;
  }

  async #writeGroup(): Promise<void> {
    const first = this.#queue[0] as AppendItem;
    if (this.#shouldRoll(first)) {
      try {
        await this.#roll(first.baseOffset);
      } catch (error) {
        this.#fail(error, this.#active.logPath, 'roll');
        return;
      }
    }
    const segment = this.#active;
    const group = this.#takeGroup(segment);
    const position = segment.sizeBytes;
    const buffers = group.map((item) => item.buffer);
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    const sync = this.#config.flush.kind === 'always';
    if (sync && segment.unsyncedBytes > 0) {
      // Written under another flush policy (the topic's was changed to always since): a durable
      // write makes only its own bytes durable, so the earlier ones are synced first, or a crash
      // could leave a hole in front of the batches acknowledged now.
      try {
        await this.#syncActive();
      } catch (error) {
        this.#fail(error, segment.logPath, 'sync', group);
        return;
      }
    }
    const ahead = sync ? this.#preallocation(segment, position + bytes) : 0;
    if (ahead > 0) buffers.push(zeros.subarray(0, ahead));
    try {
      // Under `always` the write goes through the O_DSYNC descriptor: it is the sync (one thread-pool trip).
      const write = (handle: number) => this.#context.fileSystem.write(handle, buffers, position);
      if (sync) await this.#context.handles.use(segment.logPath, (handle) => this.#timedSync(write(handle)), 'readWriteDurable');
      else await this.#context.handles.use(segment.logPath, write);
    } catch (error) {
      this.#fail(error, segment.logPath, sync ? 'durable write' : 'write', group);
      await this.#cutFailedGroup(segment, position);
      return;
    }
    segment.fileBytes = Math.max(segment.fileBytes, position + bytes + ahead);
    this.#recordWritten(segment, group, position, bytes, sync);
  }

  /** Zero bytes to write after a group that ends at `end` (see the file comment). */
  #preallocation(segment: Segment, end: number): number {
    if (end <= segment.fileBytes) return 0;
    return Math.max(0, Math.min(preallocationBytes(end - segment.sizeBytes), this.#config.segmentBytesMax - end));
  }

  /** Cuts a segment's file back to its batches (dropping preallocated zeros), durably. */
  async #trimPreallocation(segment: Segment): Promise<void> {
    if (segment.fileBytes <= segment.sizeBytes) return;
    await this.#context.handles.use(segment.logPath, async (handle) => {
      await this.#context.fileSystem.truncate(handle, segment.sizeBytes);
      await this.#context.fileSystem.fdatasync(handle);
    });
    segment.fileBytes = segment.sizeBytes;
  }

  /**
   * Best effort after a failed write: cut the file back to where the rejected group began, so that
   * a rejected append does not reappear when the directory is reopened (a producer will retry it).
   * If this fails too, recovery on reopen still cuts a torn tail; whole rejected batches may remain.
   */
  async #cutFailedGroup(segment: Segment, position: number): Promise<void> {
    try {
      await this.#context.handles.use(segment.logPath, (handle) => this.#context.fileSystem.truncate(handle, position));
      segment.fileBytes = position;
    } catch (error) {
      this.#context.logger('warn', `could not cut ${segment.logPath} back to ${position} after the failed write: ${(error as Error).message}`);
    }
  }

  /** Appends from the queue head that fit the active segment and the group bound (at least one). */
  #takeGroup(segment: Segment): AppendItem[] {
    const room = this.#config.segmentBytesMax - segment.sizeBytes;
    let count = 0;
    let bytes = 0;
    while (count < this.#queue.length) {
      const item = this.#queue[count]!;
      if (item.kind !== 'append') break;
      const fits =
        bytes + item.buffer.length <= room &&
        bytes + item.buffer.length <= writeGroupBytesMax &&
        item.lastOffset - segment.baseOffset <= BigInt(relativeOffsetMax);
      if (count > 0 && !fits) break;
      bytes += item.buffer.length;
      count++;
    }
    const group = this.#queue.splice(0, count) as AppendItem[];
    this.#queueBytes -= bytes;
    return group;
  }

  #shouldRoll(first: AppendItem): boolean {
    const segment = this.#active;
    if (segment.sizeBytes === 0) return false;
    if (segment.sizeBytes + first.buffer.length > this.#config.segmentBytesMax) return true;
    if (first.lastOffset - segment.baseOffset > BigInt(relativeOffsetMax)) return true;
    return this.#clock() - segment.createdMs >= this.#config.segmentAgeMsMax;
  }

  #recordWritten(segment: Segment, group: AppendItem[], position: number, bytes: number, synced: boolean): void {
    assert.equal(group[0]!.baseOffset, segment.endOffset, 'appends continue the segment without a gap');
    assert.equal(position, segment.sizeBytes, 'appends are written at the end of the segment');
    if (segment.sizeBytes === 0) segment.createdMs = this.#clock();
    let at = position;
    let recordCount = 0;
    for (const item of group) {
      const buffer = item.buffer;
      for (let p = 0; p < buffer.length; ) {
        const batchBytes = batchTotalBytes(buffer, p);
        const baseOffset = buffer.readBigInt64BE(p + batchOffsets.baseOffset);
        recordCount += buffer.readInt32BE(p + batchOffsets.lastOffsetDelta) + 1;
        segment.recordBatch({
          position: at,
          bytes: batchBytes,
          baseOffset,
          maxTimestampMs: Number(buffer.readBigInt64BE(p + batchOffsets.maxTimestamp)),
        });
        this.#tail.add(Number(baseOffset), p === 0 && batchBytes === buffer.length ? buffer : buffer.subarray(p, p + batchBytes));
        p += batchBytes;
        at += batchBytes;
      }
    }
    segment.sizeBytes = position + bytes;
    segment.readableBytes = segment.sizeBytes;
    segment.endOffset = group[group.length - 1]!.lastOffset + 1n;
    segment.unsyncedBytes = synced ? 0 : segment.unsyncedBytes + bytes;
    this.#stats.appends += group.length;
    this.#stats.writes++;
    if (synced) this.#stats.syncs++;
    this.#stats.bytesWritten += bytes;
    this.#messagesAppended.value += recordCount;
    this.#bytesAppended.value += bytes;
    this.#advanceHighWatermark(segment.endOffset);
    for (const item of group) {
      item.resolve({ baseOffset: item.baseOffset, lastOffset: item.lastOffset, logAppendTimeMs: item.appendTimeMs });
    }
  }

  #advanceHighWatermark(offset: bigint): void {
    if (offset <= this.#highWatermark) return;
    this.#highWatermark = offset;
    this.#onReadable?.(offset);
  }

  async #syncActive(): Promise<void> {
    const segment = this.#active;
    if (segment.unsyncedBytes === 0) return;
    await this.#context.handles.use(segment.logPath, (handle) => this.#timedSync(this.#context.fileSystem.fdatasync(handle)));
    segment.unsyncedBytes = 0;
    this.#stats.syncs++;
  }

  /** Waits for a sync (an fdatasync or a durable write) and records how long it took. */
  async #timedSync(sync: Promise<void>): Promise<void> {
    const startedMs = performance.now();
    await sync;
    fsyncDuration.observe((performance.now() - startedMs) / 1000);
  }

  /**
   * Seals the active segment (synced, indexes written) and starts a new one at `baseOffset`; the new
   * file's directory entry and the checkpoint are made durable before anything is written into it.
   */
  async #roll(baseOffset: bigint): Promise<void> {
    const old = this.#active;
    assert.equal(baseOffset, old.endOffset, 'a new segment starts where the old one ends');
    await this.#syncActive();
    await this.#trimPreallocation(old);
    await old.seal();
    await this.#context.handles.retire(old.logPath, 'readWriteDurable'); // nothing is written to it again
    const segment = await createSegment(this.dir, baseOffset, this.#context);
    segment.endOffset = baseOffset;
    segment.createdMs = this.#clock();
    segment.activate(emptyIndexes());
    await writeCheckpoint(this.dir, this.#context, {
      clean: false,
      recoveryOffset: baseOffset,
      activeBaseOffset: baseOffset,
      activeSizeBytes: 0,
      offsetIndexCrc: 0,
      offsetIndexBytes: 0,
      timeIndexCrc: 0,
      timeIndexBytes: 0,
      logEndOffset: baseOffset,
    });
    this.#segments.push(segment);
  }

  /** Fences the partition: the failure sticks, and every waiting append is rejected with it. */
  #fail(error: unknown, path: string, operation: string, group: AppendItem[] = []): WeirError {
    const failure = this.#failure ?? writeFailure(path, operation, error);
    if (this.#failure === null) {
      this.#failure = failure;
      this.#context.logger('error', failure.message);
    }
    for (const item of group) item.reject(failure);
    this.#rejectQueue(failure);
    // Every append not written was refused just now: the end is what was written.
    this.#offsetNext = this.#active.endOffset;
    return failure;
  }

  #rejectQueue(failure: WeirError): void {
    const queued = this.#queue.splice(0, this.#queue.length);
    this.#queueBytes = 0;
    for (const item of queued) item.reject(failure);
  }
}
