/**
 * Opening a partition directory: finishing interrupted deletions, loading segments, and — unless a
 * clean-shutdown checkpoint vouches for the files — validating every batch from the recovery point
 * on (length, CRC, increasing offsets), cutting a torn tail and rebuilding indexes.
 *
 * Damage policy (docs/format/segment.md, "Recovery"): a bad batch with nothing valid after it in
 * the last segment is a torn tail from an interrupted write and is cut, logged as a warning (or,
 * when it is all zeros, preallocated space the log never filled, cut and logged as information). A bad
 * batch followed by valid data — later in the same segment or in a later segment — cannot come from
 * an interrupted append; it is reported as an error naming file and byte position and the partition
 * refuses to open (WeirError CORRUPT_MESSAGE) unless `repair` is set, in which case the log is
 * truncated at the damage (dropping everything after it, including later segments) and the number
 * of bytes dropped is logged as an error.
 */
import { dirname } from 'node:path';
import { WeirError } from '../util/errors.js';
import { crc32c } from '../format/crc32c.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint, checkpointBytes } from './checkpoint.js';
import { errorCodeOf, readWholeFile, writeFileAtomic, type FileSystem } from './file-system.js';
import { OffsetIndex } from './offset-index.js';
import { Segment, type LoadedIndexes, type SegmentContext } from './segment.js';
import { findValidBatchAfter, isZeroFrom, scanSegment } from './segment-scan.js';
import {
  checkpointFileName,
  deletedSuffix,
  logSuffix,
  parseSegmentFileName,
  segmentFileName,
  temporarySuffix,
} from './segment-names.js';
import { TimeIndex } from './time-index.js';

export interface RecoveryOptions {
  /** Truncate at mid-log damage instead of refusing to open. */
  repair: boolean;
  nowMs: number;
  /** Called with the bytes of each batch validated (for start-up progress). */
  onValidated?: (bytes: number) => void;
}

export interface LoadedLog {
  segments: Segment[];
  /** True when the files were validated (no usable clean-shutdown checkpoint). */
  recovered: boolean;
}

export async function loadPartition(dir: string, context: SegmentContext, options: RecoveryOptions): Promise<LoadedLog> {
  const fileSystem = context.fileSystem;
  if ((await fileSystem.stat(dir)) === null) {
    await fileSystem.mkdir(dir);
    // The new directory's own entry must be durable before anything acknowledged lives in it.
    await fileSystem.fsyncDirectory(dirname(dir));
  }
  const bases = await tidyDirectory(dir, context);
  const checkpointBytesRead = await readWholeFile(fileSystem, `${dir}/${checkpointFileName}`, checkpointBytes + 1);
  const checkpoint = checkpointBytesRead === null ? null : decodeCheckpoint(checkpointBytesRead);
  if (bases.length === 0) {
    const base = checkpoint !== null && checkpoint.logEndOffset > 0n ? checkpoint.logEndOffset : 0n;
    const segment = await createSegment(dir, base, context);
    segment.createdMs = options.nowMs;
    segment.activate(emptyIndexes());
    return { segments: [segment], recovered: false };
  }
  const segments: Segment[] = [];
  for (const base of bases) {
    const stat = await fileSystem.stat(`${dir}/${segmentFileName(base, logSuffix)}`);
    segments.push(new Segment(dir, base, stat?.sizeBytes ?? 0, context));
  }
  for (let i = 0; i + 1 < segments.length; i++) segments[i]!.endOffset = segments[i + 1]!.baseOffset;
  const last = segments[segments.length - 1]!;
  last.createdMs = options.nowMs;
  if (checkpoint !== null && (await trustCleanShutdown(last, checkpoint, context))) {
    return { segments, recovered: false };
  }
  if (checkpoint?.clean === false || checkpoint === null) {
    // Said once for the whole start by the broker: after a crash every partition takes this path.
    context.logger('debug', `${dir}: no clean-shutdown checkpoint; validating the log from offset ${checkpoint?.recoveryOffset ?? 0n}`);
  } else {
    context.logger('warn', `${dir}: the clean-shutdown checkpoint does not match the files; validating the log`);
  }
  const kept = await recoverSegments(dir, segments, checkpoint?.recoveryOffset ?? 0n, context, options);
  const active = kept[kept.length - 1]!;
  await context.handles.use(active.logPath, (handle) => fileSystem.fdatasync(handle));
  await writeCheckpoint(dir, context, {
    clean: false,
    recoveryOffset: active.baseOffset,
    activeBaseOffset: active.baseOffset,
    activeSizeBytes: 0,
    offsetIndexCrc: 0,
    offsetIndexBytes: 0,
    timeIndexCrc: 0,
    timeIndexBytes: 0,
    logEndOffset: active.endOffset,
  });
  return { segments: kept, recovered: true };
}

/**
 * About how many bytes opening the partition directory `dir` will validate, reading no more than
 * its checkpoint and the sizes of its segment files: none when the checkpoint records a clean
 * shutdown (trusted once the files match it), else the segments from the one holding the recovery
 * point on. For start-up progress; the open itself decides.
 */
export async function bytesToValidate(dir: string, fileSystem: FileSystem): Promise<number> {
  const bytes = await readWholeFile(fileSystem, `${dir}/${checkpointFileName}`, checkpointBytes + 1);
  const checkpoint = bytes === null ? null : decodeCheckpoint(bytes);
  if (checkpoint?.clean) return 0;
  if ((await fileSystem.stat(dir)) === null) return 0;
  const bases: bigint[] = [];
  for (const name of await fileSystem.readdir(dir)) {
    const parsed = parseSegmentFileName(name);
    if (parsed?.kind === 'log') bases.push(parsed.baseOffset);
  }
  bases.sort(byOffset);
  const recoveryOffset = checkpoint?.recoveryOffset ?? 0n;
  let first = 0;
  while (first + 1 < bases.length && bases[first + 1]! <= recoveryOffset) first++;
  let total = 0;
  for (const base of bases.slice(first)) total += (await fileSystem.stat(`${dir}/${segmentFileName(base, logSuffix)}`))?.sizeBytes ?? 0;
  return total;
}

export function emptyIndexes(): LoadedIndexes {
  return { offsetIndex: new OffsetIndex(), timeIndex: new TimeIndex() };
}

export async function createSegment(dir: string, baseOffset: bigint, context: SegmentContext): Promise<Segment> {
  const segment = new Segment(dir, baseOffset, 0, context);
  const handle = await context.fileSystem.open(segment.logPath, 'create');
  await context.fileSystem.close(handle);
  await context.fileSystem.fsyncDirectory(dir);
  return segment;
}

/**
 * Replaces the checkpoint. A clean-shutdown checkpoint is written without syncs: it is only trusted
 * after its CRC and its description of the files (sizes, index digests) check out, so losing or
 * tearing it costs a recovery scan, never correctness. A recovery point is written durably.
 */
export async function writeCheckpoint(dir: string, context: SegmentContext, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(context.fileSystem, dir, checkpointFileName, encodeCheckpoint(checkpoint), { sync: !checkpoint.clean });
}

/** Removes leftovers of interrupted deletions and atomic writes; returns the segment base offsets, sorted. */
async function tidyDirectory(dir: string, context: SegmentContext): Promise<bigint[]> {
  const fileSystem = context.fileSystem;
  const names = await fileSystem.readdir(dir);
  const logs = new Set<bigint>();
  const indexFiles: Array<{ name: string; baseOffset: bigint }> = [];
  for (const name of names) {
    if (name.endsWith(deletedSuffix) || name.endsWith(temporarySuffix)) {
      await unlinkIfPresent(context, `${dir}/${name}`);
      continue;
    }
    const parsed = parseSegmentFileName(name);
    if (parsed === null) continue;
    if (parsed.kind === 'log') logs.add(parsed.baseOffset);
    else indexFiles.push({ name, baseOffset: parsed.baseOffset });
  }
  for (const { name, baseOffset } of indexFiles) {
    // An index without its log: the log was deleted (renamed first) and the crash came before the index followed.
    if (!logs.has(baseOffset)) await unlinkIfPresent(context, `${dir}/${name}`);
  }
  return [...logs].sort(byOffset);
}

function byOffset(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function unlinkIfPresent(context: SegmentContext, path: string): Promise<void> {
  try {
    await context.fileSystem.unlink(path);
  } catch (error) {
    if (errorCodeOf(error) !== 'ENOENT') throw error;
  }
}

/** Uses the clean-shutdown checkpoint if it matches the files exactly; loads the active segment's indexes. */
async function trustCleanShutdown(last: Segment, checkpoint: Checkpoint, context: SegmentContext): Promise<boolean> {
  if (!checkpoint.clean || checkpoint.activeBaseOffset !== last.baseOffset || checkpoint.activeSizeBytes !== last.sizeBytes) {
    return false;
  }
  if (checkpoint.logEndOffset < last.baseOffset) return false;
  const offsetBytes = await readWholeFile(context.fileSystem, last.offsetIndexPath, checkpoint.offsetIndexBytes + 1);
  const timeBytes = await readWholeFile(context.fileSystem, last.timeIndexPath, checkpoint.timeIndexBytes + 1);
  if (offsetBytes === null || timeBytes === null) return false;
  if (offsetBytes.length !== checkpoint.offsetIndexBytes || crc32c(offsetBytes) !== checkpoint.offsetIndexCrc) return false;
  if (timeBytes.length !== checkpoint.timeIndexBytes || crc32c(timeBytes) !== checkpoint.timeIndexCrc) return false;
  try {
    const indexes = { offsetIndex: OffsetIndex.decode(offsetBytes, last.sizeBytes), timeIndex: TimeIndex.decode(timeBytes) };
    last.endOffset = checkpoint.logEndOffset;
    last.activate(indexes);
    return true;
  } catch {
    return false;
  }
}

/** Scans every segment from the one holding `recoveryOffset`; returns the segments kept. */
async function recoverSegments(
  dir: string,
  segments: Segment[],
  recoveryOffset: bigint,
  context: SegmentContext,
  options: RecoveryOptions,
): Promise<Segment[]> {
  let first = 0;
  while (first + 1 < segments.length && segments[first + 1]!.baseOffset <= recoveryOffset) first++;
  for (let i = first; i < segments.length; i++) {
    const segment = segments[i]!;
    const isLast = i === segments.length - 1;
    const indexes = emptyIndexes();
    segment.activate(indexes, { scanning: true });
    const scan = await context.handles.use(segment.logPath, async (handle) => {
      const result = await scanSegment(context.fileSystem, handle, {
        fileBytes: segment.sizeBytes,
        baseOffset: segment.baseOffset,
        onBatch: (batch) => {
          segment.recordBatch(batch);
          options.onValidated?.(batch.bytes);
        },
      });
      const validAfter =
        result.damage === null
          ? null
          : await findValidBatchAfter(context.fileSystem, handle, {
              fileBytes: segment.sizeBytes,
              position: result.damage.position,
              offsetMin: result.endOffset,
            });
      const preallocated =
        result.damage !== null && validAfter === null && isLast
          ? await isZeroFrom(context.fileSystem, handle, { fileBytes: segment.sizeBytes, position: result.damage.position })
          : false;
      return { ...result, validAfter, preallocated };
    });
    const next = segments[i + 1];
    const overlaps = next !== undefined && scan.endOffset > next.baseOffset;
    const laterData = segments.slice(i + 1).some((later) => later.sizeBytes > 0);
    if (scan.damage !== null || overlaps) {
      const position = scan.damage?.position ?? scan.validBytes;
      const reason = scan.damage?.reason ?? `offsets run to ${scan.endOffset}, past the next segment's base ${next?.baseOffset}`;
      const midLog = scan.validAfter !== null || laterData || overlaps;
      if (midLog) {
        const message =
          `segment ${segment.logPath} is damaged at byte position ${position} (${reason}) and valid data follows` +
          (scan.validAfter !== null ? ` at byte position ${scan.validAfter}` : ' in later segments');
        context.logger('error', message);
        if (!options.repair) {
          throw new WeirError('CORRUPT_MESSAGE', `${message}; refusing to open the partition (weir start --repair cuts the log there, dropping what follows)`);
        }
        context.logger('error', `repair: truncating ${segment.logPath} at ${position}, dropping ${segment.sizeBytes - position} bytes and ${segments.length - i - 1} later segments`);
        await dropSegments(segments.slice(i + 1), context);
      } else if (scan.preallocated) {
        // Zeros the log wrote ahead of its appends and never filled: expected after a crash. (A torn
        // write that kept only zero bytes of a header looks the same, and is cut the same way.)
        context.logger('info', `cutting ${segment.sizeBytes - position} bytes of zeros (preallocated space) after the last batch of ${segment.logPath}`);
      } else {
        context.logger('warn', `truncating the torn tail of ${segment.logPath} at byte position ${position} (${segment.sizeBytes - position} bytes): ${reason}`);
      }
      await context.handles.use(segment.logPath, async (handle) => {
        await context.fileSystem.truncate(handle, position);
        await context.fileSystem.fdatasync(handle);
      });
      segment.sizeBytes = position;
      segment.fileBytes = position;
      segment.readableBytes = position;
      segment.endOffset = scan.endOffset;
      // Later segments hold nothing (or were dropped by repair): this one is the end of the log.
      if (!midLog) await dropSegments(segments.slice(i + 1), context);
      return segments.slice(0, i + 1);
    }
    segment.endOffset = scan.endOffset;
    if (!isLast) await segment.seal();
  }
  return segments;
}

async function dropSegments(doomed: Segment[], context: SegmentContext): Promise<void> {
  for (const segment of doomed) {
    segment.forget();
    for (const path of [segment.logPath, segment.offsetIndexPath, segment.timeIndexPath]) {
      await context.handles.retire(path);
      await unlinkIfPresent(context, path);
    }
  }
}
