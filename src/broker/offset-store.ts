/**
 * Committed offsets of stream subscriptions, kept durably in an internal log of the same storage
 * engine (topic `__consumer_offsets`, one partition, flush `always`) and in memory for lookups.
 *
 * Each commit appends one batch; a record's key is `group \0 topic \0 partition` and its value the
 * JSON `{"o": offset, "m": metadata, "t": commit time in ms}` (a record without `t` was committed at
 * its timestamp), or null when the offset is deleted (its group was deleted or expired, or its
 * topic). On open the log is replayed.
 *
 * Compaction: once the log has grown by `compactAfterBytes` (and by twice the last snapshot) since
 * the last snapshot, the store appends a snapshot of every committed offset — a record with no key
 * and the value `{"snapshot":"begin"}`, one record per offset, then `{"snapshot":"end"}` — and
 * drops the log segments below it. Replay takes a complete snapshot as the whole state (so offsets
 * deleted before it stay deleted) and ignores one a crash cut short; opening the store then writes a
 * complete snapshot before anything else, so that no later record is read as part of the one cut
 * short. While a snapshot is written, commits wait, so none lands inside it.
 */
import assert from 'node:assert/strict';
import { RecordBatchBuilder, batchOffsets, decodeBatches } from '../format/record-batch.js';
import type { Partition } from './partition.js';
import type { CommittedOffset, OffsetCommitEntry } from './types.js';

export const offsetsTopic = '__consumer_offsets';
export const offsetMetadataBytesMax = 4096;
const replayReadBytes = 1024 * 1024;
/** Default growth of the log since the last snapshot that starts a compaction. */
export const offsetsCompactAfterBytesDefault = 16 * 1024 * 1024;
/** Snapshot batches stay near this, or half the topic's largest batch when that is smaller. */
const snapshotBatchBytes = 512 * 1024;
const snapshotBegin = Buffer.from('{"snapshot":"begin"}');
const snapshotEnd = Buffer.from('{"snapshot":"end"}');

function keyOf(groupId: string, topic: string, partition: number): string {
  return `${groupId}\u0000${topic}\u0000${partition}`;
}

interface Stored {
  offset: bigint;
  metadata: string | null;
  committedMs: number;
}

export interface OffsetStoreOptions {
  compactAfterBytes?: number;
  logger?: (level: 'warn', message: string) => void;
}

export class OffsetStore {
  readonly #partition: Partition;
  /** group → (topic\0partition key → offset) */
  #groups = new Map<string, Map<string, Stored>>();
  readonly #compactAfterBytes: number;
  readonly #logger: NonNullable<OffsetStoreOptions['logger']>;
  /** Commits and deletions appended and not yet applied. */
  readonly #inFlight = new Set<Promise<unknown>>();
  /**
   * Per key, the commit or deletion (offset -1) appended newest and not yet applied: what a
   * conditional commit (`commit`'s `unchangedFrom`) compares with, so that it also sees a commit
   * still being written.
   */
  readonly #pending = new Map<string, { offset: bigint }>();
  /** Set while a snapshot is written: appends wait for it. */
  #gate: Promise<void> | null = null;
  #bytesSinceSnapshot = 0;
  #lastSnapshotBytes = 0;

  private constructor(partition: Partition, options: OffsetStoreOptions) {
    this.#partition = partition;
    this.#compactAfterBytes = options.compactAfterBytes ?? offsetsCompactAfterBytesDefault;
    this.#logger = options.logger ?? (() => undefined);
  }

  static async open(partition: Partition, options: OffsetStoreOptions = {}): Promise<OffsetStore> {
    const store = new OffsetStore(partition, options);
    const log = partition.log;
    let offset = log.offsetStart;
    /** The snapshot being read: it becomes the state at its end marker. */
    let snapshot: Map<string, Map<string, Stored>> | null = null;
    while (offset < log.highWatermark) {
      const bytes = await log.read(offset, replayReadBytes);
      if (bytes.length === 0) break;
      const records = decodeBatches(bytes, { decompressedBytesMax: 64 * 1024 * 1024, offsetMin: offset });
      for (const record of records) {
        offset = record.offset + 1n;
        if (record.key === null) {
          if (record.value?.equals(snapshotBegin)) snapshot = new Map();
          else if (record.value?.equals(snapshotEnd) && snapshot !== null) {
            store.#groups = snapshot;
            snapshot = null;
          }
          continue;
        }
        applyTo(snapshot ?? store.#groups, record.key.toString('utf8'), record.value, record.timestamp);
      }
      if (records.length === 0) break;
    }
    // A snapshot that a crash cut short (no end marker) is ignored: the records before it stand.
    store.#bytesSinceSnapshot = log.sizeBytes;
    // Records appended after it would be read as part of it at the next replay (and dropped with
    // it): a complete snapshot goes first, whose begin marker ends the one cut short.
    if (snapshot !== null) await store.compact();
    return store;
  }

  groups(): string[] {
    return [...this.#groups.keys()];
  }

  /**
   * Commits `entries`. With `unchangedFrom` (one offset per entry, -1 for none), only if each
   * entry's partition still has that committed offset, counting commits still being written:
   * false, committing nothing, when one has moved (an offset reset came first).
   */
  async commit(groupId: string, entries: OffsetCommitEntry[], options: { unchangedFrom?: bigint[] } = {}): Promise<boolean> {
    const { unchangedFrom } = options;
    assert(unchangedFrom === undefined || unchangedFrom.length === entries.length, 'one expected offset per entry');
    if (entries.length === 0) return true;
    const builder = new RecordBatchBuilder();
    const committedMs = Date.now();
    const records = entries.map((entry) => ({
      key: keyOf(groupId, entry.topic, entry.partition),
      value: Buffer.from(JSON.stringify({ o: entry.offset.toString(), m: entry.metadata, t: committedMs })),
      offset: entry.offset,
    }));
    for (const { key, value } of records) builder.add({ key: Buffer.from(key), value });
    const unchanged = unchangedFrom === undefined ? undefined : () => records.every(({ key }, i) => this.#latest(key) === unchangedFrom[i]);
    // Applied after the append is durable: a reader never sees an offset a crash could take back.
    const appended = await this.#append(builder.build(), () => {
      for (const { key, value } of records) applyTo(this.#groups, key, value, committedMs);
    }, { pending: records, unchanged });
    if (appended) this.#maybeCompact();
    return appended;
  }

  /** The offset of `key` once every append made so far is applied; -1 for none. */
  #latest(key: string): bigint {
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending.offset;
    const separator = key.indexOf('\u0000');
    return this.#groups.get(key.slice(0, separator))?.get(key.slice(separator + 1))?.offset ?? -1n;
  }

  async deleteGroup(groupId: string): Promise<void> {
    const offsets = this.#groups.get(groupId);
    if (offsets === undefined || offsets.size === 0) return;
    const builder = new RecordBatchBuilder();
    const keys = [...offsets.keys()].map((key) => `${groupId}\u0000${key}`);
    for (const key of keys) builder.add({ key: Buffer.from(key), value: null });
    await this.#append(builder.build(), () => this.#groups.delete(groupId), { pending: keys.map((key) => ({ key, offset: -1n })) });
    this.#maybeCompact();
  }

  /** When `groupId` last committed (its newest offset's commit time), or undefined when it has no offsets. */
  lastCommitMs(groupId: string): number | undefined {
    const offsets = this.#groups.get(groupId);
    if (offsets === undefined) return undefined;
    let lastMs = Number.NEGATIVE_INFINITY;
    for (const stored of offsets.values()) lastMs = Math.max(lastMs, stored.committedMs);
    return lastMs;
  }

  /**
   * Deletes the offsets of the groups of `groupIds` that last committed before `committedMsMin`,
   * checked once no snapshot is being written, right before the deletion records are appended: a
   * group with a commit being written then is kept (a commit after it starts the group anew).
   * Returns the groups deleted.
   */
  async expireGroups(groupIds: Iterable<string>, committedMsMin: number): Promise<string[]> {
    while (this.#gate !== null) await this.#gate;
    const pendingGroups = new Set([...this.#pending.keys()].map((key) => key.slice(0, key.indexOf('\u0000'))));
    const expired = [...groupIds].filter((groupId) => !pendingGroups.has(groupId) && (this.lastCommitMs(groupId) ?? committedMsMin) < committedMsMin);
    const keys = expired.flatMap((groupId) => [...this.#groups.get(groupId)!.keys()].map((key) => `${groupId}\u0000${key}`));
    // With no gate, each append below reaches the log in this synchronous section, in this order.
    let keyIndex = 0;
    const appends = this.#batchesOf(keys.map((key) => ({ key: Buffer.from(key), value: null }))).map((batch) => {
      const batchKeys = keys.slice(keyIndex, (keyIndex += batch.readInt32BE(batchOffsets.recordCount)));
      return this.#append(batch, () => {
        for (const key of batchKeys) applyTo(this.#groups, key, null, 0);
      }, { pending: batchKeys.map((key) => ({ key, offset: -1n })) });
    });
    await Promise.all(appends);
    if (appends.length > 0) this.#maybeCompact();
    return expired;
  }

  /**
   * Appends a commit or deletion; `applied` runs once it is durable (appends resolve in log order,
   * so two commits of one offset apply in the order they were stored). `pending` names the keys
   * and offsets it writes, `#latest` until applied. `unchanged` is checked in the synchronous
   * section that appends: false appends nothing (and returns false).
   */
  async #append(batch: Buffer, applied: () => void, options: { pending?: { key: string; offset: bigint }[]; unchanged?: () => boolean } = {}): Promise<boolean> {
    while (this.#gate !== null) await this.#gate;
    if (options.unchanged !== undefined && !options.unchanged()) return false;
    const marks = (options.pending ?? []).map(({ key, offset }) => {
      const mark = { offset };
      this.#pending.set(key, mark);
      return { key, mark };
    });
    this.#bytesSinceSnapshot += batch.length;
    const appending = this.#partition.append(batch).then(applied);
    this.#inFlight.add(appending);
    try {
      await appending;
    } finally {
      this.#inFlight.delete(appending);
      // A later append of the key keeps its own mark.
      for (const { key, mark } of marks) if (this.#pending.get(key) === mark) this.#pending.delete(key);
    }
    return true;
  }

  #maybeCompact(): void {
    // A compaction under way holds the gate (compact() takes it before its first await).
    if (this.#gate !== null || this.#bytesSinceSnapshot < Math.max(this.#compactAfterBytes, 2 * this.#lastSnapshotBytes)) return;
    this.compact().catch((error) => this.#logger('warn', `compacting ${offsetsTopic} failed (it is tried again later): ${String(error)}`));
  }


  /**
   * Appends a snapshot of every committed offset, then drops the log segments below it. Returns
   * the number of segments dropped.
   */
  async compact(): Promise<number> {
    while (this.#gate !== null) await this.#gate;
    let open!: () => void;
    this.#gate = new Promise((resolve) => (open = resolve));
    let start: bigint;
    try {
      // The snapshot is taken once every commit already appended is applied.
      await Promise.allSettled([...this.#inFlight]);
      start = await this.#appendSnapshot();
    } finally {
      this.#gate = null;
      open();
    }
    return this.#partition.log.deleteBefore(start);
  }

  async #appendSnapshot(): Promise<bigint> {
    const groups = this.#groups;
    const batches = this.#batchesOf(
      (function* () {
        yield { key: null, value: snapshotBegin };
        for (const [groupId, offsets] of groups) {
          for (const [key, stored] of offsets) {
            const value = { o: stored.offset.toString(), m: stored.metadata, t: stored.committedMs };
            yield { key: Buffer.from(`${groupId}\u0000${key}`), value: Buffer.from(JSON.stringify(value)) };
          }
        }
        yield { key: null, value: snapshotEnd };
      })(),
    );
    let bytes = 0;
    let start: bigint | null = null;
    for (const batch of batches) {
      const appended = await this.#partition.append(batch);
      start ??= appended.baseOffset;
      bytes += batch.length;
    }
    this.#bytesSinceSnapshot = 0;
    this.#lastSnapshotBytes = bytes;
    return start!;
  }

  /** Records as batches of about `snapshotBatchBytes` (or half the topic's largest batch, when smaller). */
  #batchesOf(records: Iterable<{ key: Buffer | null; value: Buffer | null }>): Buffer[] {
    const batchBytes = Math.min(snapshotBatchBytes, Math.floor(this.#partition.log.config.batchBytesMax / 2));
    const batches: Buffer[] = [];
    let builder = new RecordBatchBuilder();
    for (const record of records) {
      if (builder.sizeBytes >= batchBytes) {
        batches.push(builder.build());
        builder = new RecordBatchBuilder();
      }
      builder.add(record);
    }
    if (builder.count > 0) batches.push(builder.build());
    return batches;
  }

  fetch(groupId: string, partitions?: { topic: string; partition: number }[]): CommittedOffset[] {
    const offsets = this.#groups.get(groupId);
    if (partitions !== undefined) {
      return partitions.map(({ topic, partition }) => {
        const stored = offsets?.get(`${topic}\u0000${partition}`);
        return { topic, partition, offset: stored?.offset ?? -1n, metadata: stored?.metadata ?? null };
      });
    }
    return [...(offsets ?? [])].map(([key, stored]) => {
      const [topic, partition] = key.split('\u0000') as [string, string];
      return { topic, partition: Number(partition), offset: stored.offset, metadata: stored.metadata };
    });
  }

  /**
   * Drops every offset committed on a partition `gone` names (of deleted topics, or past a topic's
   * partition count), from memory at once and from the log by deletion records, so that a topic
   * created again under the name (or given the partitions) starts with none, also after a
   * restart. Without the records, replay would bring the offsets back.
   */
  async forgetPartitions(gone: (topic: string, partition: number) => boolean): Promise<void> {
    const deleted: { key: Buffer; value: null }[] = [];
    for (const [groupId, offsets] of this.#groups) {
      for (const key of offsets.keys()) {
        const separator = key.indexOf('\u0000');
        if (!gone(key.slice(0, separator), Number(key.slice(separator + 1)))) continue;
        offsets.delete(key);
        deleted.push({ key: Buffer.from(`${groupId}\u0000${key}`), value: null });
      }
      if (offsets.size === 0) this.#groups.delete(groupId); // listed no more: it has nothing left
    }
    const batches = this.#batchesOf(deleted);
    for (const batch of batches) await this.#append(batch, () => {});
    this.#maybeCompact();
  }

}

/** One stored record (a commit or a deletion) applied to `groups`; `timestampMs` is the record's. */
function applyTo(groups: Map<string, Map<string, Stored>>, key: string, value: Buffer | null, timestampMs: number): void {
  const [groupId, topic, partition] = key.split('\u0000');
  if (groupId === undefined || topic === undefined || partition === undefined) return;
  let offsets = groups.get(groupId);
  if (value === null) {
    offsets?.delete(`${topic}\u0000${partition}`);
    if (offsets?.size === 0) groups.delete(groupId);
    return;
  }
  const parsed = JSON.parse(value.toString('utf8')) as { o: string; m: string | null; t?: number };
  if (offsets === undefined) {
    offsets = new Map();
    groups.set(groupId, offsets);
  }
  offsets.set(`${topic}\u0000${partition}`, { offset: BigInt(parsed.o), metadata: parsed.m, committedMs: parsed.t ?? timestampMs });
}
