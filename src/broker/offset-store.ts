/**
 * Committed offsets of stream subscriptions, kept durably in an internal log of the same storage
 * engine (topic `__consumer_offsets`, one partition, flush `always`) and in memory for lookups.
 *
 * Each commit appends one batch; a record's key is `group \0 topic \0 partition` and its value the
 * JSON `{"o": offset, "m": metadata}`, or null when the group's offsets are deleted. On open the
 * log is replayed. The log is not compacted yet: it grows by one small batch per commit (about
 * 100 bytes per partition committed), which an auto-commit every 5 s keeps to megabytes a day.
 */
import { RecordBatchBuilder, decodeBatches } from '../format/record-batch.js';
import type { Partition } from './partition.js';
import type { CommittedOffset, OffsetCommitEntry } from './types.js';

export const offsetsTopic = '__consumer_offsets';
export const offsetMetadataBytesMax = 4096;
const replayReadBytes = 1024 * 1024;

function keyOf(groupId: string, topic: string, partition: number): string {
  return `${groupId}\u0000${topic}\u0000${partition}`;
}

interface Stored {
  offset: bigint;
  metadata: string | null;
}

export class OffsetStore {
  readonly #partition: Partition;
  /** group → (topic\0partition key → offset) */
  readonly #groups = new Map<string, Map<string, Stored>>();

  private constructor(partition: Partition) {
    this.#partition = partition;
  }

  static async open(partition: Partition): Promise<OffsetStore> {
    const store = new OffsetStore(partition);
    const log = partition.log;
    let offset = log.offsetStart;
    while (offset < log.highWatermark) {
      const bytes = await log.read(offset, replayReadBytes);
      if (bytes.length === 0) break;
      const records = decodeBatches(bytes, { decompressedBytesMax: 64 * 1024 * 1024, offsetMin: offset });
      for (const record of records) {
        store.#apply(record.key?.toString('utf8') ?? '', record.value);
        offset = record.offset + 1n;
      }
      if (records.length === 0) break;
    }
    return store;
  }

  groups(): string[] {
    return [...this.#groups.keys()];
  }

  async commit(groupId: string, entries: OffsetCommitEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const builder = new RecordBatchBuilder();
    const records = entries.map((entry) => ({
      key: keyOf(groupId, entry.topic, entry.partition),
      value: Buffer.from(JSON.stringify({ o: entry.offset.toString(), m: entry.metadata })),
    }));
    for (const { key, value } of records) builder.add({ key: Buffer.from(key), value });
    await this.#partition.append(builder.build());
    // Applied after the append is durable: a reader never sees an offset a crash could take back.
    for (const { key, value } of records) this.#apply(key, value);
  }

  async deleteGroup(groupId: string): Promise<void> {
    const offsets = this.#groups.get(groupId);
    if (offsets === undefined || offsets.size === 0) return;
    const builder = new RecordBatchBuilder();
    for (const key of offsets.keys()) builder.add({ key: Buffer.from(`${groupId}\u0000${key}`), value: null });
    await this.#partition.append(builder.build());
    this.#groups.delete(groupId);
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

  /** Forgets the offsets of a deleted topic (in memory; the next commit of the group drops them for good). */
  forgetTopic(topic: string): void {
    for (const offsets of this.#groups.values()) {
      for (const key of offsets.keys()) if (key.startsWith(`${topic}\u0000`)) offsets.delete(key);
    }
  }

  #apply(key: string, value: Buffer | null): void {
    const [groupId, topic, partition] = key.split('\u0000');
    if (groupId === undefined || topic === undefined || partition === undefined) return;
    let offsets = this.#groups.get(groupId);
    if (value === null) {
      offsets?.delete(`${topic}\u0000${partition}`);
      if (offsets?.size === 0) this.#groups.delete(groupId);
      return;
    }
    const parsed = JSON.parse(value.toString('utf8')) as { o: string; m: string | null };
    if (offsets === undefined) {
      offsets = new Map();
      this.#groups.set(groupId, offsets);
    }
    offsets.set(`${topic}\u0000${partition}`, { offset: BigInt(parsed.o), metadata: parsed.m });
  }
}
