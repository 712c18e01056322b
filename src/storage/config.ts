/**
 * Configuration of one partition log. The broker maps a topic's configuration onto this.
 */

/** When an append is made durable. */
export type FlushPolicy =
  | { kind: 'always' } // the append resolves only after fdatasync (group commit); the default
  | { kind: 'interval'; intervalMs: number } // fdatasync at most every intervalMs
  | { kind: 'none' }; // left to the operating system

export interface LogConfig {
  /** A segment rolls when the next batch would take it past this size. */
  segmentBytesMax: number;
  /** A segment rolls when its first batch was appended longer ago than this. */
  segmentAgeMsMax: number;
  /** Whole segments whose newest record is older than this are deleted; null keeps them. */
  retentionMs: number | null;
  /** Oldest segments are deleted while the partition is larger than this; null for no bound. */
  retentionBytes: number | null;
  flush: FlushPolicy;
  /** Largest batch (or run of batches in one append) accepted. */
  batchBytesMax: number;
  /**
   * A batch whose newest timestamp is more than this many milliseconds ahead of the log's clock is
   * refused (INVALID_TIMESTAMP), so that no record dated in the future holds back time retention;
   * null accepts any timestamp.
   */
  timestampAheadMsMax: number | null;
  /**
   * A batch with a record (or a header maxTimestamp) more than this many milliseconds behind the
   * log's clock is refused (INVALID_TIMESTAMP), so that time retention does not delete it as soon
   * as it is written; null accepts any timestamp.
   */
  timestampBehindMsMax: number | null;
  /** One sparse offset/time index entry per this many bytes of log. */
  indexIntervalBytes: number;
}

export const logConfigDefaults: LogConfig = {
  segmentBytesMax: 256 * 1024 * 1024,
  segmentAgeMsMax: 7 * 24 * 3600 * 1000,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: null,
  flush: { kind: 'always' },
  batchBytesMax: 1024 * 1024,
  timestampAheadMsMax: null,
  timestampBehindMsMax: null,
  indexIntervalBytes: 4096,
};
