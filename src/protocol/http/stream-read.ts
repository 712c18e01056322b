/**
 * Reading a topic's partitions from given positions with one long-polling fetch, and the sources
 * that keep those positions: from the latest offset (a browser tab with no subscription) or a
 * consumer group's committed offsets. Every source answers `read(max, waitMs, signal)`.
 */
import type { BrokerApi, GroupDescription, OffsetCommitEntry } from '../../broker/types.js';
import { decodeBatches } from '../../format/record-batch.js';
import { WeirError, asWeirError, isWeirError } from '../../util/errors.js';
import { decompressedBytesMax, recordJson, type Encoding, type MessageJson } from './message-json.js';

/** Fetch bounds for one read (at least one whole batch is always returned). */
export const readPartitionBytesMax = 1024 * 1024;
export const readBytesMaxTotal = 8 * 1024 * 1024;

export interface MessageSource {
  /** Up to `max` messages, waiting up to `waitMs` for the first; [] when none came. */
  read(max: number, waitMs: number, signal: AbortSignal): Promise<MessageJson[]>;
  close(): Promise<void>;
  /**
   * Opens the source before its first read, and calls `ended` (at most once) when it ends on its
   * own: its queue subscription was deleted. A session that may not read for a long time (a
   * WebSocket without credits) learns of the end this way. Sources that cannot end so leave it out.
   */
  open?(ended: (error: WeirError) => void): void;
}

/**
 * Reads up to `max` messages from `positions` (partition → next offset) and advances the
 * positions past what it returns. A position outside the log moves to the nearest end.
 */
export async function readPositions(
  broker: BrokerApi,
  topic: string,
  positions: Map<number, bigint>,
  read: { max: number; waitMs: number; encoding: Encoding },
  signal: AbortSignal,
): Promise<MessageJson[]> {
  const partitions = [...positions].map(([partition, offset]) => ({ topic, partition, offset, bytesMax: readPartitionBytesMax }));
  const results = await broker.fetch({ partitions, waitMs: read.waitMs, bytesMaxTotal: readBytesMaxTotal }, signal);
  const messages: MessageJson[] = [];
  for (const result of results) {
    const position = positions.get(result.partition)!;
    if (result.error !== undefined) {
      if (result.error.code !== 'OFFSET_OUT_OF_RANGE') throw result.error;
      positions.set(result.partition, position < result.offsetStart ? result.offsetStart : result.highWatermark);
      continue;
    }
    if (messages.length >= read.max || result.records.length === 0) continue;
    const records = decodeBatches(result.records, { decompressedBytesMax, offsetMin: position });
    let next = position;
    for (const record of records) {
      if (messages.length >= read.max || record.offset >= result.highWatermark) break;
      messages.push(recordJson(result.partition, record, read.encoding));
      next = record.offset + 1n;
    }
    positions.set(result.partition, next);
  }
  return messages;
}

/**
 * Every partition at its latest offset now, or at the positions a reconnecting client names; the
 * source follows new messages only.
 */
export class LatestSource implements MessageSource {
  readonly #broker: BrokerApi;
  readonly #topic: string;
  readonly #encoding: Encoding;
  readonly #resumeAt: Map<number, bigint> | null;
  #positions: Map<number, bigint> | null = null;

  /**
   * `resumeAt`: partition → next offset, from `positionsText`. It names every partition the topic
   * had when it was written, so a partition it leaves out was added since: read from its start.
   */
  constructor(broker: BrokerApi, topic: string, encoding: Encoding, resumeAt: Map<number, bigint> | null = null) {
    this.#broker = broker;
    this.#topic = topic;
    this.#encoding = encoding;
    this.#resumeAt = resumeAt;
  }

  /** Fixes the starting positions (throws UNKNOWN_TOPIC); call before the first read. */
  start(): void {
    const description = this.#broker.describeTopic(this.#topic);
    this.#positions = new Map(
      description.partitions.map((p) => {
        if (this.#resumeAt === null) return [p.partition, p.highWatermark];
        const at = this.#resumeAt.get(p.partition) ?? p.offsetStart;
        // A position retention passed, or past the end, moves to the nearest end of the log.
        return [p.partition, at > p.highWatermark ? p.highWatermark : at < p.offsetStart ? p.offsetStart : at];
      }),
    );
  }

  /** Where each partition's next read starts, as `positionsText` writes it. */
  get positionsText(): string {
    return positionsText(this.#positions ?? new Map());
  }

  async read(max: number, waitMs: number, signal: AbortSignal): Promise<MessageJson[]> {
    if (this.#positions === null) this.start();
    else this.#followAddedPartitions();
    return readPositions(this.#broker, this.#topic, this.#positions!, { max, waitMs, encoding: this.#encoding }, signal);
  }

  /** Partitions added to the topic since are read from their first message (all of it is new). */
  #followAddedPartitions(): void {
    const partitions = this.#broker.describeTopic(this.#topic).partitions;
    if (partitions.length === this.#positions!.size) return;
    for (const p of partitions) if (!this.#positions!.has(p.partition)) this.#positions!.set(p.partition, p.offsetStart);
  }

  async close(): Promise<void> {}
}

/** Positions as text, `PARTITION:NEXT_OFFSET` joined by commas (`0:15,1:22`): an SSE event id. */
export function positionsText(positions: Map<number, bigint>): string {
  let text = '';
  for (const [partition, offset] of positions) text += `${text === '' ? '' : ','}${partition}:${offset}`;
  return text;
}

const positionsPattern = /^\d{1,5}:\d{1,19}(?:,\d{1,5}:\d{1,19})*$/;

/** Positions read back from `positionsText`'s form; null for anything else, a partition named twice included (then nothing is resumed). */
export function parsePositions(text: string | undefined): Map<number, bigint> | null {
  if (text === undefined || text.length > 16 * 1024 || !positionsPattern.test(text)) return null;
  const positions = new Map<number, bigint>();
  for (const pair of text.split(',')) {
    const [partition, offset] = pair.split(':');
    if (positions.has(Number(partition))) return null;
    positions.set(Number(partition), BigInt(offset!));
  }
  return positions;
}

export type GroupStart = 'earliest' | 'latest';

/**
 * Consumer groups read over HTTP: the group's committed offsets are the position, and what a read
 * returns is committed before it is handed out (at most once). Such groups have no members;
 * reads of one group and topic in this process take turns, so concurrent HTTP clients of a group
 * share its messages without duplicates. A turn never waits for data: a read that finds nothing
 * gives the turn up and waits for data outside it, then takes a turn again; so each read answers
 * within its own waitMs, however long the others wait. A read commits only if the committed
 * offsets it started from are still the group's (commits still being written included): an offset
 * reset made while it read wins, and the read starts again from where the reset put the group. A
 * group with live (native or Kafka) members refuses these reads: 409 GROUP_NOT_EMPTY.
 */
export class GroupReaders {
  readonly #broker: BrokerApi;
  /** The tail of each group's queue of turns (key: group and topic). */
  readonly #tails = new Map<string, Promise<unknown>>();

  constructor(broker: BrokerApi) {
    this.#broker = broker;
  }

  /** A source reading the group; refuses a group with live members now, before a stream starts. */
  source(group: string, topic: string, options: { start: GroupStart; encoding: Encoding }): MessageSource {
    this.#checkMemberless(group);
    return {
      read: (max, waitMs, signal) => this.read(group, topic, { ...options, max, waitMs }, signal),
      close: async () => {},
    };
  }

  async read(group: string, topic: string, read: { start: GroupStart; encoding: Encoding; max: number; waitMs: number }, signal: AbortSignal): Promise<MessageJson[]> {
    // The wait counts from the request, not from its turn.
    const deadlineMs = Date.now() + read.waitMs;
    for (;;) {
      const { messages, positions, moved } = await this.#inTurn(`${group}\u0000${topic}`, () => this.#readOnce(group, topic, { ...read, waitMs: 0 }, signal));
      if (moved && !signal.aborted) continue; // an offset reset came first: read from where it put the group
      const leftMs = deadlineMs - Date.now();
      if (messages.length > 0 || leftMs <= 0 || signal.aborted) return messages;
      await this.#waitForData(topic, positions, leftMs, signal);
    }
  }

  /** Runs `task` once every earlier task of `key` has finished. */
  #inTurn<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    this.#tails.set(key, run);
    void run.finally(() => {
      if (this.#tails.get(key) === run) this.#tails.delete(key);
    }).catch(() => {});
    return run;
  }

  /** Parks until a partition has data past `positions` (or the time is up); reads nothing for the group. */
  async #waitForData(topic: string, positions: Map<number, bigint>, waitMs: number, signal: AbortSignal): Promise<void> {
    const partitions = [...positions].map(([partition, offset]) => ({ topic, partition, offset, bytesMax: 1 }));
    await this.#broker.fetch({ partitions, waitMs, bytesMaxTotal: 1 }, signal);
  }

  /**
   * Reads from the group's committed offsets and commits past what it read, unless an offset reset
   * (or any other commit) moved one of them meanwhile: then it returns no messages and `moved`.
   */
  async #readOnce(
    group: string,
    topic: string,
    read: { start: GroupStart; encoding: Encoding; max: number; waitMs: number },
    signal: AbortSignal,
  ): Promise<{ messages: MessageJson[]; positions: Map<number, bigint>; moved: boolean }> {
    const description = this.#broker.describeTopic(topic);
    const wanted = description.partitions.map((p) => ({ topic, partition: p.partition }));
    const committed = await this.#broker.fetchOffsets(group, wanted);
    const positions = new Map<number, bigint>();
    /** The committed offset each position came from (-1: none). */
    const previous = new Map<number, bigint>();
    const fresh = new Set<number>();
    for (const state of description.partitions) {
      const entry = committed.find((c) => c.partition === state.partition && c.topic === topic);
      previous.set(state.partition, entry?.offset ?? -1n);
      if (entry !== undefined && entry.offset >= 0n) {
        positions.set(state.partition, entry.offset);
      } else {
        positions.set(state.partition, read.start === 'earliest' ? state.offsetStart : state.highWatermark);
        fresh.add(state.partition);
      }
    }
    const before = new Map(positions);
    const messages = await readPositions(this.#broker, topic, positions, read, signal);
    const commits: (OffsetCommitEntry & { previous: bigint })[] = [];
    for (const [partition, offset] of positions) {
      if (offset !== before.get(partition) || fresh.has(partition)) commits.push({ topic, partition, offset, metadata: null, previous: previous.get(partition)! });
    }
    const moved = commits.length > 0 && !(await this.#commit(group, commits));
    return { messages: moved ? [] : messages, positions, moved };
  }

  /** The check the broker makes on a commit from outside the group, made before anything is read. */
  #checkMemberless(group: string): void {
    let description: GroupDescription;
    try {
      description = this.#broker.describeGroup(group); // INVALID_GROUP_ID
    } catch (error) {
      if (isWeirError(error, 'UNKNOWN_GROUP')) return;
      throw error;
    }
    if (description.members.length > 0 && description.state !== 'Empty') throw hasMembers(group);
  }

  /** Commits `commits` if no committed offset moved from `previous`; false when one did. */
  async #commit(group: string, commits: (OffsetCommitEntry & { previous: bigint })[]): Promise<boolean> {
    try {
      return await this.#broker.commitOffsetsIfUnchanged(group, commits);
    } catch (error) {
      if (isWeirError(error, 'UNKNOWN_MEMBER')) throw hasMembers(group);
      throw asWeirError(error);
    }
  }
}

function hasMembers(group: string): WeirError {
  return new WeirError('GROUP_NOT_EMPTY', `group ${group} has active native or Kafka members; HTTP reads use groups without members (pick another group name)`);
}
