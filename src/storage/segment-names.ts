/**
 * File names of a partition directory. A segment is named by its base offset, zero-padded to 20
 * digits so that names sort like offsets: `00000000000000001000.log` with `.index` and `.timeindex`
 * beside it. A file that is being deleted carries the extra suffix `.deleted`; a file being written
 * atomically carries `.tmp` (docs/format/segment.md).
 */

export const logSuffix = '.log';
export const offsetIndexSuffix = '.index';
export const timeIndexSuffix = '.timeindex';
export const deletedSuffix = '.deleted';
export const temporarySuffix = '.tmp';
export const checkpointFileName = 'checkpoint';

const baseOffsetDigits = 20;
const segmentFilePattern = /^(\d{20})\.(log|index|timeindex)$/;

export type SegmentFileKind = 'log' | 'index' | 'timeindex';

export function segmentFileName(baseOffset: bigint, suffix: string): string {
  return baseOffset.toString().padStart(baseOffsetDigits, '0') + suffix;
}

/** The base offset and kind of a segment file name, or null for any other name. */
export function parseSegmentFileName(name: string): { baseOffset: bigint; kind: SegmentFileKind } | null {
  const match = segmentFilePattern.exec(name);
  if (match === null) return null;
  return { baseOffset: BigInt(match[1]!), kind: match[2] as SegmentFileKind };
}
