/**
 * One segment of a partition log: a `.log` file holding consecutive RecordBatch v2 batches exactly
 * as stored (docs/format/segment.md), with its sparse offset index and time index.
 *
 * The active (last) segment keeps its indexes in memory and extends them as batches are written;
 * its index files are written when it is sealed (rolled) or the log closes cleanly. A sealed
 * segment's indexes are loaded from its files on first use, checked, rebuilt from the log if they
 * are missing or inconsistent, and held in the bounded IndexCache.
 */
import { basename, dirname } from 'node:path';
import { WeirError } from '../util/errors.js';
import { crc32c } from '../format/crc32c.js';
import type { FileSystem } from './file-system.js';
import { readWholeFile, writeFileAtomic } from './file-system.js';
import type { HandlePool } from './handle-pool.js';
import type { Evictable, IndexCache } from './index-cache.js';
import { OffsetIndex } from './offset-index.js';
import { maxTimestampFrom, scanSegment, type ScannedBatch } from './segment-scan.js';
import { logSuffix, offsetIndexSuffix, segmentFileName, timeIndexSuffix } from './segment-names.js';
import { TimeIndex } from './time-index.js';

export interface SegmentContext {
  fileSystem: FileSystem;
  handles: HandlePool;
  indexCache: IndexCache;
  indexIntervalBytes: number;
  logger: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

export interface LoadedIndexes {
  offsetIndex: OffsetIndex;
  timeIndex: TimeIndex;
}

/** CRC and length of an index file's content, as the checkpoint records them. */
export interface IndexDigest {
  crc: number;
  bytes: number;
}

export class Segment implements Evictable {
  readonly baseOffset: bigint;
  readonly logPath: string;
  readonly offsetIndexPath: string;
  readonly timeIndexPath: string;
  /** Bytes of batches in the .log file. */
  sizeBytes: number;
  /**
   * Length of the .log file: sizeBytes, plus zeros written ahead of it by the active segment's
   * preallocation (partition-log.ts), cut off when the segment is sealed or the log closes.
   */
  fileBytes: number;
  /** Bytes readers may see (at most sizeBytes; below it while written data awaits its sync). */
  readableBytes: number;
  /** Offset after the last batch; for a sealed segment opened without a scan, the next segment's base. */
  endOffset: bigint;
  /** Wall-clock time of the first append into this segment (or of opening it), for rolling by age. */
  createdMs: number;
  /** Bytes written but not yet fdatasync'ed. */
  unsyncedBytes = 0;
  #context: SegmentContext;
  #indexes: LoadedIndexes | null = null;
  #loading: Promise<LoadedIndexes> | null = null;
  #active = false;
  #bytesSinceIndexEntry = 0;
  #maxTimestampMs = -1;
  #maxTimestampKnown = false;
  /**
   * The damage the last scan of this sealed segment found, and the size and modification time its
   * file had then: until the file changes, loading the indexes fails with this at once instead of
   * reading the whole file again to find (and log) the same damage at every retention pass or read.
   */
  #damage: { error: WeirError; fileBytes: number; modifiedMs: number } | null = null;

  constructor(dir: string, baseOffset: bigint, sizeBytes: number, context: SegmentContext) {
    this.baseOffset = baseOffset;
    this.logPath = `${dir}/${segmentFileName(baseOffset, logSuffix)}`;
    this.offsetIndexPath = `${dir}/${segmentFileName(baseOffset, offsetIndexSuffix)}`;
    this.timeIndexPath = `${dir}/${segmentFileName(baseOffset, timeIndexSuffix)}`;
    this.sizeBytes = sizeBytes;
    this.fileBytes = sizeBytes;
    this.readableBytes = sizeBytes;
    this.endOffset = baseOffset;
    this.createdMs = 0;
    this.#context = context;
  }

  get isActive(): boolean {
    return this.#active;
  }

  /**
   * Makes this the active segment with the given indexes (loaded, or new). With `scanning`, the
   * indexes are about to be rebuilt batch by batch from the start of the file (recordBatch).
   */
  activate(indexes: LoadedIndexes, options: { scanning?: boolean } = {}): void {
    this.#context.indexCache.remove(this);
    this.#active = true;
    this.#indexes = indexes;
    this.#maxTimestampMs = Math.max(indexes.timeIndex.lastTimestampMs, this.#maxTimestampKnown ? this.#maxTimestampMs : -1);
    this.#maxTimestampKnown = true;
    this.#bytesSinceIndexEntry = options.scanning ? 0 : this.sizeBytes - indexes.offsetIndex.lastPosition;
  }

  /** Adds index entries for a batch just written at `position` (active segment only). */
  recordBatch(batch: Omit<ScannedBatch, 'lastOffset'>): void {
    const indexes = this.#indexes!;
    if (this.#bytesSinceIndexEntry >= this.#context.indexIntervalBytes) {
      const relativeOffset = Number(batch.baseOffset - this.baseOffset);
      indexes.offsetIndex.append(relativeOffset, batch.position);
      indexes.timeIndex.maybeAppend(this.#maxTimestampMs, relativeOffset);
      this.#bytesSinceIndexEntry = 0;
    }
    this.#bytesSinceIndexEntry += batch.bytes;
    if (batch.maxTimestampMs > this.#maxTimestampMs) this.#maxTimestampMs = batch.maxTimestampMs;
  }

  /** Largest batch maxTimestamp in the segment (-1 if none); loads the time index of a sealed segment. */
  async maxTimestampMs(): Promise<number> {
    if (!this.#maxTimestampKnown) await this.indexes();
    return this.#maxTimestampMs;
  }

  /**
   * The time retention ages the segment from: its largest batch maxTimestamp or, when no batch
   * carries a timestamp (maxTimestamp -1, "no timestamp", which producers of older message formats
   * send, or any negative value), the modification time of its `.log` file, when it was last
   * written, as Kafka does. Without the fallback such a segment would count as infinitely old and
   * time retention would delete it as soon as it ran. The file's time survives a restart.
   */
  async retentionTimeMs(): Promise<number> {
    const newestMs = await this.maxTimestampMs();
    if (newestMs >= 0) return newestMs;
    const file = await this.#context.fileSystem.stat(this.logPath);
    return file?.modifiedMs ?? newestMs;
  }

  /**
   * Seals the active segment: a final time index entry (largest timestamp, end offset) and the
   * index files written and fdatasync'ed. Its indexes move to the shared cache.
   */
  async seal(): Promise<void> {
    const indexes = this.#indexes!;
    this.closeTimeIndex();
    await this.writeIndexFiles({ sync: true });
    this.#active = false;
    this.#context.indexCache.touch(this, indexes.offsetIndex.memoryBytes + indexes.timeIndex.memoryBytes);
  }

  /**
   * Adds the time index entry (largest timestamp so far, end offset) that makes the index's last
   * timestamp the segment's largest — before sealing, and before the index files are written at a
   * clean close (later batches simply add entries after it).
   */
  closeTimeIndex(): void {
    this.#indexes!.timeIndex.maybeAppend(this.#maxTimestampMs, Number(this.endOffset - this.baseOffset));
  }

  /** Writes both index files from memory; returns their digests (for the clean-shutdown checkpoint). */
  async writeIndexFiles(options: { sync: boolean }): Promise<{ offsetIndex: IndexDigest; timeIndex: IndexDigest }> {
    const indexes = this.#indexes!;
    const offsetIndexBytes = indexes.offsetIndex.encode();
    const timeIndexBytes = indexes.timeIndex.encode();
    await this.#writeIndexFiles(offsetIndexBytes, timeIndexBytes, options.sync);
    return {
      offsetIndex: { crc: crc32c(offsetIndexBytes), bytes: offsetIndexBytes.length },
      timeIndex: { crc: crc32c(timeIndexBytes), bytes: timeIndexBytes.length },
    };
  }

  /**
   * Replaces both index files, each through `<name>.tmp` and a rename, never in place: an index
   * cut short in place by a whole number of entries could still pass the checks on load (they
   * catch a time index that lost the entries for the segment's last batches), and a time index
   * that lost its last entry understates the segment's newest timestamp, so retention would
   * delete the segment early. With `sync`, one directory sync covers both
   * renames. A leftover `.tmp` is removed at the next open.
   */
  async #writeIndexFiles(offsetIndexBytes: Buffer, timeIndexBytes: Buffer, sync: boolean): Promise<void> {
    const fileSystem = this.#context.fileSystem;
    const dir = dirname(this.offsetIndexPath);
    await writeFileAtomic(fileSystem, dir, basename(this.offsetIndexPath), offsetIndexBytes, { sync, syncDirectory: false });
    await writeFileAtomic(fileSystem, dir, basename(this.timeIndexPath), timeIndexBytes, { sync, syncDirectory: false });
    if (sync) await fileSystem.fsyncDirectory(dir);
  }

  /** The segment's indexes, loading (or rebuilding) them for a sealed segment. */
  indexes(): Promise<LoadedIndexes> | LoadedIndexes {
    if (this.#indexes !== null) {
      if (!this.#active) this.#context.indexCache.touch(this, this.#indexMemoryBytes());
      return this.#indexes;
    }
    this.#loading ??= this.#load().finally(() => {
      this.#loading = null;
    });
    return this.#loading;
  }

  dropIndexes(): void {
    if (!this.#active) this.#indexes = null;
  }

  /** Forgets cached state (the segment is being deleted). */
  forget(): void {
    this.#context.indexCache.remove(this);
    this.#indexes = null;
  }

  #indexMemoryBytes(): number {
    const indexes = this.#indexes!;
    return indexes.offsetIndex.memoryBytes + indexes.timeIndex.memoryBytes;
  }

  async #load(): Promise<LoadedIndexes> {
    await this.#throwKnownDamage();
    let indexes: LoadedIndexes;
    try {
      indexes = await this.#loadFiles();
    } catch (error) {
      this.#context.logger('warn', `index of ${this.logPath} is missing or inconsistent (${(error as Error).message}); rebuilding it`);
      indexes = await this.rebuildIndexes();
      await this.#writeRebuilt(indexes);
    }
    if (this.#active) return this.#indexes!;
    this.#indexes = indexes;
    this.#maxTimestampMs = indexes.timeIndex.lastTimestampMs;
    this.#maxTimestampKnown = true;
    this.#context.indexCache.touch(this, this.#indexMemoryBytes());
    return indexes;
  }

  async #loadFiles(): Promise<LoadedIndexes> {
    const fileSystem = this.#context.fileSystem;
    const offsetBytes = await readWholeFile(fileSystem, this.offsetIndexPath, 0x7fff_ffff);
    const timeBytes = await readWholeFile(fileSystem, this.timeIndexPath, 0x7fff_ffff);
    if (offsetBytes === null || timeBytes === null) throw new WeirError('CORRUPT_MESSAGE', 'index file missing');
    const offsetIndex = OffsetIndex.decode(offsetBytes, this.sizeBytes);
    const timeIndex = TimeIndex.decode(timeBytes);
    const endRelative = Number(this.endOffset - this.baseOffset);
    if (timeIndex.lastRelativeOffset > endRelative) {
      throw new WeirError('CORRUPT_MESSAGE', `time index reaches relative offset ${timeIndex.lastRelativeOffset}, past the segment's end ${endRelative}`);
    }
    await this.#checkTimeIndexEnd(timeIndex, offsetIndex.lastPosition);
    return { offsetIndex, timeIndex };
  }

  /**
   * A sealed segment's time index ends with its largest timestamp (the entry sealing writes), which
   * retention by time and timestamp lookups trust. One cut short by whole entries (emptied, say)
   * still decodes, so its end is checked against the batches after the last offset index entry (at
   * most about `indexIntervalBytes` of them): a time index that lost its last entries would make
   * the segment look older than it is, and retention would delete it early.
   */
  async #checkTimeIndexEnd(timeIndex: TimeIndex, tailPosition: number): Promise<void> {
    if (this.sizeBytes === 0) return;
    if (timeIndex.count === 0) throw new WeirError('CORRUPT_MESSAGE', 'time index is empty (a sealed segment\'s holds at least the entry sealing wrote)');
    const tailMaxMs = await this.#context.handles.use(this.logPath, (handle) =>
      maxTimestampFrom(this.#context.fileSystem, handle, { position: tailPosition, fileBytes: this.sizeBytes }),
    );
    if (tailMaxMs > timeIndex.lastTimestampMs) {
      throw new WeirError('CORRUPT_MESSAGE', `time index ends at timestamp ${timeIndex.lastTimestampMs}, older than a batch near the segment's end (${tailMaxMs}): it lost entries`);
    }
  }

  /** Throws the damage a scan found if the file has not changed since (see `#damage`). */
  async #throwKnownDamage(): Promise<void> {
    const damage = this.#damage;
    if (damage === null) return;
    const file = await this.#context.fileSystem.stat(this.logPath);
    if (file !== null && file.sizeBytes === damage.fileBytes && file.modifiedMs === damage.modifiedMs) throw damage.error;
    this.#damage = null;
  }

  /**
   * Rebuilds both indexes by scanning the log file (checking every batch). Damage found here, in
   * a segment that was sealed and synced, is reported as CORRUPT_MESSAGE naming file and position,
   * logged once: it is remembered until the file changes.
   */
  async rebuildIndexes(): Promise<LoadedIndexes> {
    const builder = new Segment('', this.baseOffset, 0, this.#context);
    const indexes: LoadedIndexes = { offsetIndex: new OffsetIndex(), timeIndex: new TimeIndex() };
    builder.activate(indexes);
    // Taken before the scan, so that a change made while it runs counts as a change.
    const file = await this.#context.fileSystem.stat(this.logPath);
    const result = await this.#context.handles.use(this.logPath, (handle) =>
      scanSegment(this.#context.fileSystem, handle, {
        fileBytes: this.sizeBytes,
        baseOffset: this.baseOffset,
        onBatch: (batch) => builder.recordBatch(batch),
      }),
    );
    if (result.damage !== null) {
      const message = `segment ${this.logPath} is damaged at byte position ${result.damage.position}: ${result.damage.reason}`;
      this.#context.logger('error', message);
      const error = new WeirError('CORRUPT_MESSAGE', message);
      if (file !== null) this.#damage = { error, fileBytes: file.sizeBytes, modifiedMs: file.modifiedMs };
      throw error;
    }
    indexes.timeIndex.maybeAppend(await builder.maxTimestampMs(), Number(result.endOffset - this.baseOffset));
    return indexes;
  }

  async #writeRebuilt(indexes: LoadedIndexes): Promise<void> {
    try {
      await this.#writeIndexFiles(indexes.offsetIndex.encode(), indexes.timeIndex.encode(), true);
    } catch (error) {
      // The rebuilt index serves from memory; failing to store it only costs another rebuild.
      this.#context.logger('warn', `could not store the rebuilt index of ${this.logPath}: ${(error as Error).message}`);
    }
  }
}
