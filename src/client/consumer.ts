/**
 * The consumer: an async iterator of messages (`for await (const message of consumer)`), or a
 * callback loop with `run({ eachMessage })`.
 *
 * Two ways to get partitions: group membership (`groupId` + `topics`; the broker assigns the
 * partitions, the consumer heartbeats and rejoins on a rebalance) or explicit `partitions` /
 * `topics` without a group. Two ways to get messages: `push` (default; the broker sends while
 * the consumer's credits last, `prefetchMessages` / `prefetchBytes`, and credits are returned as
 * the application takes messages) or `pull` (long-polling fetches, at most `prefetchMessages`
 * buffered before the next fetch).
 *
 * A message counts as consumed once the application asks for the next one (or the loop ends), so
 * committed offsets never pass a message still being processed: at-least-once delivery.
 */
import { batchOffsets, batchPositions, decodeBatch, type DecodedRecord } from '../format/record-batch.js';
import { WeirError, asWeirError, isWeirError } from '../util/errors.js';
import type { FetchPartitionResult } from '../protocol/native/wire/messages.js';
import { errorCodeFromWire } from '../util/errors.js';
import { backoffDelayMs, sleep, waitAtMost } from './backoff.js';
import type { Client } from './client.js';
import { wasUnanswered, type Connection } from './connection.js';
import type { ConsumerMessage } from './message.js';
import { GroupMembership } from './group-membership.js';
import { MessageBuffer } from './message-buffer.js';
import { checkInteger, checkKnownKeys, checkOneOf, checkPositive, checkString, int32Max, timerDelayMsMax, uint32Max } from './options.js';

export type StartPosition = 'earliest' | 'latest' | bigint | Date;

export const consumerDefaults = {
  from: 'latest' as StartPosition,
  mode: 'push' as 'push' | 'pull',
  prefetchMessages: 1_000,
  prefetchBytes: 8 * 1024 * 1024,
  fetchWaitMs: 500,
  fetchBytesMax: 4 * 1024 * 1024,
  partitionFetchBytesMax: 1024 * 1024,
  autoCommit: true,
  autoCommitIntervalMs: 5_000,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  rebalanceTimeoutMs: 30_000,
  retryBackoffMsMin: 100,
  retryBackoffMsMax: 2_000,
  decompressedBytesMax: 64 * 1024 * 1024,
  /** Without a group, `topics` are described again this often and partitions added to them are read too. */
  metadataMaxAgeMs: 300_000,
} as const;

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A position to commit: `offset` is the next message to read from the partition. */
export interface CommitOffset extends TopicPartition {
  offset: bigint;
}

export interface ConsumerOptions {
  /** Joins this group (with `topics`), or with explicit `partitions` commits under this name. */
  groupId?: string;
  topics?: string[];
  /** Explicit partitions (no membership). */
  partitions?: TopicPartition[];
  /**
   * Where to start when there is no committed offset. Default 'latest'. A position outside the
   * log starts again at `from`'s end ('earliest' or 'latest'), or for an offset or a time at the
   * nearer end (past the end: the end; before the start: the oldest message kept).
   */
  from?: StartPosition;
  mode?: 'push' | 'pull';
  prefetchMessages?: number;
  prefetchBytes?: number;
  fetchWaitMs?: number;
  fetchBytesMax?: number;
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Hands over at most this many messages per second (drains a burst at the back end's pace). */
  messagesPerSecondMax?: number;
  metadataMaxAgeMs?: number;
}

/** How long close() waits for the fetch loop to stop (it may be waiting in a join). */
const consumerCloseWaitMs = 2_000;
/** How long close() waits for its last commit and leave (the broker may be down). */
const consumerCloseCommitWaitMs = 5_000;

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class Consumer implements AsyncIterable<ConsumerMessage> {
  readonly #client: Client;
  readonly #options: ConsumerOptions & typeof consumerDefaults;
  readonly #buffer = new MessageBuffer();
  #assignment: TopicPartition[] = [];
  /** Next offset to fetch, per partition. */
  readonly #positions = new Map<string, bigint>();
  /** Offset after the last message the application finished, per partition (the commit point). */
  readonly #consumed = new Map<string, bigint>();
  readonly #committed = new Map<string, bigint>();
  readonly #seeks = new Map<string, bigint>();
  #pendingTaken: ConsumerMessage | null = null;
  readonly #membership: GroupMembership | null;
  #rejoinNeeded = true;
  #epoch = 0;
  #interruptWaiters: (() => void)[] = [];
  #running: Promise<void> | null = null;
  #closing = false;
  /** close()'s work: a second close() waits for it too. */
  #closed: Promise<void> | null = null;
  #failure: WeirError | null = null;
  #commitTimer: NodeJS.Timeout | null = null;
  #metadataTimer: NodeJS.Timeout | null = null;
  #nextSlotMs = 0;
  /** The last decoded batch per partition (one each: bounded by the assignment). */
  readonly #decoded = new Map<string, { baseOffset: bigint; crc: number; records: DecodedRecord[] }>();
  #rotation = 0;
  #takenTopic = '';
  #takenPartition = -1;
  #takenKey = '';
  /** Settles when partitions are first assigned, or with the consumer's fatal error. */
  #assigned: { resolve: () => void; reject: (error: WeirError) => void; promise: Promise<void> };

  constructor(client: Client, options: ConsumerOptions) {
    this.#client = client;
    checkKnownKeys(options, consumerOptionKeys, { owner: 'consumer' });
    this.#options = { ...consumerDefaults, ...stripUndefined(options) } as ConsumerOptions & typeof consumerDefaults;
    if (options.groupId === undefined && options.partitions === undefined && options.topics === undefined) {
      throw new WeirError('INVALID_CONFIG', 'a consumer needs topics (with or without a groupId) or partitions');
    }
    if (options.groupId !== undefined && options.partitions === undefined && (options.topics?.length ?? 0) === 0) {
      throw new WeirError('INVALID_CONFIG', 'a group consumer needs at least one topic');
    }
    checkConsumerOptions(this.#options);
    let resolve!: () => void;
    let reject!: (error: WeirError) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // reported through start() and the iterator
    this.#assigned = { resolve, reject, promise };
    this.#membership =
      options.groupId !== undefined && options.partitions === undefined
        ? new GroupMembership(
            client,
            {
              groupId: options.groupId,
              topics: options.topics!,
              sessionTimeoutMs: this.#options.sessionTimeoutMs,
              rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs,
              heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
            },
            () => {
              this.#rejoinNeeded = true;
              this.#interrupt();
            },
          )
        : null;
    client.track(this); // last: a consumer refused above is not kept
  }

  /** The partitions currently assigned to this consumer. */
  get assignment(): TopicPartition[] {
    return this.#assignment.map((p) => ({ ...p }));
  }

  /** Starts fetching (iteration starts it too); resolves once partitions are assigned. */
  async start(): Promise<void> {
    this.#ensureRunning();
    await this.#assigned.promise;
  }

  #ensureRunning(): void {
    if (this.#running !== null || this.#closing) return;
    this.#running = this.#run();
    if (this.#options.autoCommit && this.#options.groupId !== undefined) {
      this.#commitTimer = setInterval(() => void this.#commitConsumed().catch(() => {}), this.#options.autoCommitIntervalMs);
      this.#commitTimer.unref();
    }
    if (this.#membership === null && this.#options.partitions === undefined) {
      // A group's coordinator spreads added partitions; a consumer of whole topics finds them itself.
      this.#metadataTimer = setInterval(() => void this.#followAddedPartitions().catch(() => {}), this.#options.metadataMaxAgeMs);
      this.#metadataTimer.unref();
    }
  }

  /**
   * The messages, until the consumer is closed. Leaving the loop early (`break`, `return`, or an
   * exception thrown in its body, which all call the iterator's `return()`) counts the message in
   * hand as consumed and closes the consumer, as close() does: with auto-commit its offsets are
   * committed and it leaves its group, and a final commit the broker refuses is thrown from the
   * `break`. Catch a failed message's exception inside the loop to keep it uncommitted. A later
   * close() returns the same outcome; iterating a closed consumer yields nothing.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerMessage> {
    this.#ensureRunning();
    /** True while the application holds a message: the loop can only be left there, not ended by the consumer (closed, failed). */
    let handedOut = false;
    try {
      for (;;) {
        // Synchronous while messages are buffered: one promise per message fewer.
        let message = this.#takeBuffered();
        if (message === undefined) message = await this.#next();
        if (message === null) return;
        handedOut = true;
        yield message;
        handedOut = false;
      }
    } finally {
      this.#markTakenConsumed();
      if (handedOut) await this.close();
    }
  }

  /** Calls `eachMessage` for every message, one at a time, until the consumer is closed. */
  async run(handlers: { eachMessage: (message: ConsumerMessage) => Promise<void> | void }): Promise<void> {
    this.#ensureRunning();
    try {
      for (;;) {
        let message = this.#takeBuffered();
        if (message === undefined) message = await this.#next();
        if (message === null) return;
        const result = handlers.eachMessage(message);
        if (result !== undefined) await result; // a synchronous handler costs no promise
      }
    } finally {
      this.#markTakenConsumed();
    }
  }

  /** A buffered message without waiting; undefined when it has to wait (empty, or paced). */
  #takeBuffered(): ConsumerMessage | null | undefined {
    this.#markTakenConsumed();
    if (this.#failure !== null) throw this.#failure;
    if (this.#closing) return null;
    if (this.#options.messagesPerSecondMax !== undefined) return undefined;
    const message = this.#buffer.shift();
    if (message === undefined) return undefined;
    this.#pendingTaken = message;
    this.#returnCredits();
    return message;
  }

  async #next(): Promise<ConsumerMessage | null> {
    this.#markTakenConsumed();
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (this.#closing) return null;
      if (this.#options.messagesPerSecondMax !== undefined && this.#buffer.length > 0) await this.#pace();
      const message = this.#buffer.shift();
      if (message !== undefined) {
        this.#pendingTaken = message;
        this.#returnCredits();
        return message;
      }
      await this.#buffer.waitForData();
    }
  }

  /** Waits for the next slot of the rate cap. */
  async #pace(): Promise<void> {
    const intervalMs = 1000 / this.#options.messagesPerSecondMax!;
    const nowMs = performance.now();
    const slotMs = Math.max(nowMs, this.#nextSlotMs);
    this.#nextSlotMs = slotMs + intervalMs;
    if (slotMs > nowMs) await sleep(slotMs - nowMs);
  }

  #markTakenConsumed(): void {
    const message = this.#pendingTaken;
    if (message === null) return;
    this.#pendingTaken = null;
    // Messages come in runs per partition: the key string is built once per run.
    if (message.topic !== this.#takenTopic || message.partition !== this.#takenPartition) {
      this.#takenTopic = message.topic;
      this.#takenPartition = message.partition;
      this.#takenKey = key(message.topic, message.partition);
    }
    if (this.#positions.has(this.#takenKey)) this.#consumed.set(this.#takenKey, message.offset + 1n);
  }

  /**
   * Commits the offsets of the messages consumed so far, the message last handed out included:
   * call it once that message is handled. (Auto-commit and close() commit only the messages
   * before it while its handler runs, so that a crash in the handler does not lose it.)
   *
   * With `offsets`, commits those instead: each the offset of the next message to read from its
   * partition, for an application whose messages are finished later than they are handed out
   * (written, stored elsewhere); with `autoCommit: false`, since auto-commit and close() would
   * commit what was consumed again. A partition not assigned to this consumer or an offset that is not
   * a bigint of 0 or more is refused with INVALID_REQUEST and nothing is committed.
   */
  async commit(offsets?: readonly CommitOffset[]): Promise<void> {
    if (this.#options.groupId === undefined) throw new WeirError('INVALID_REQUEST', 'a consumer without a groupId cannot commit');
    if (offsets === undefined) {
      this.#markTakenConsumed();
      await this.#commitConsumed();
      return;
    }
    const chosen = new Map<string, bigint>();
    for (const { topic, partition, offset } of offsets) {
      if (typeof offset !== 'bigint' || offset < 0n) {
        throw new WeirError('INVALID_REQUEST', `commit ${topic}/${partition}: the offset must be a bigint of 0 or more, not ${typeof offset} ${String(offset)}`);
      }
      if (!this.#assignment.some((p) => p.topic === topic && p.partition === partition)) {
        throw new WeirError('INVALID_REQUEST', `commit ${topic}/${partition}: the partition is not assigned to this consumer`);
      }
      chosen.set(key(topic, partition), offset);
    }
    await this.#commitOffsets(chosen);
  }

  /** Commits the offsets of the messages finished: not the one the application is handling. */
  #commitConsumed(): Promise<void> {
    return this.#commitOffsets(this.#consumed);
  }

  /** Commits `positions` (per partition key, the next offset to read) that differ from the last commit. */
  async #commitOffsets(positions: ReadonlyMap<string, bigint>): Promise<void> {
    const groupId = this.#options.groupId;
    if (groupId === undefined) return;
    const offsets = [];
    for (const [k, offset] of positions) {
      if (this.#committed.get(k) === offset) continue;
      const [topic, partition] = k.split('\u0000') as [string, string];
      offsets.push({ topic, partition: Number(partition), offset, metadata: null });
    }
    if (offsets.length === 0) return;
    const membership = this.#membership;
    if (membership !== null && !membership.joined) return;
    const ref = membership?.ref ?? { groupId, generationId: -1, memberId: '' };
    let committing = offsets;
    try {
      await this.#client.request('commitOffsets', { ...ref, offsets });
    } catch (error) {
      if (!isWeirError(error, 'UNKNOWN_TOPIC') && !isWeirError(error, 'UNKNOWN_PARTITION')) throw error;
      // A topic went away under the consumer, and its group's offsets with it: commit what was consumed of the others.
      const existing = new Set((await this.#allPartitions([...new Set(offsets.map((o) => o.topic))]).catch(() => [])).map((p) => key(p.topic, p.partition)));
      committing = offsets.filter((o) => existing.has(key(o.topic, o.partition)));
      if (committing.length === offsets.length) throw error;
      if (committing.length > 0) await this.#client.request('commitOffsets', { ...ref, offsets: committing });
    }
    for (const o of committing) this.#committed.set(key(o.topic, o.partition), o.offset);
  }

  /**
   * Moves a partition's position; the next message from it is at `to` (an offset, or the first
   * message at or after a time). Throws INVALID_REQUEST for a `to` of another type or a partition
   * not assigned to this consumer (once partitions are assigned; a seek before is kept for them).
   */
  async seek(topic: string, partition: number, to: bigint | Date): Promise<void> {
    if (typeof to !== 'bigint' && !(to instanceof Date && Number.isFinite(to.getTime()))) {
      const given = to instanceof Date ? 'an invalid Date' : `${typeof to} ${String(to)}`;
      throw new WeirError('INVALID_REQUEST', `seek ${topic}/${partition}: the position must be a bigint offset (such as 5n) or a valid Date, not ${given}`);
    }
    const k = key(topic, partition);
    const assigned = this.#assignment.some((p) => p.topic === topic && p.partition === partition);
    if (this.#assignment.length > 0 && !this.#rejoinNeeded && !assigned) {
      const assignment = this.#assignment.map((p) => `${p.topic}/${p.partition}`).join(', ');
      throw new WeirError('INVALID_REQUEST', `seek ${topic}/${partition}: the partition is not assigned to this consumer (it has ${assignment})`);
    }
    const offset = to instanceof Date ? await this.#offsetFor(topic, partition, to) : to;
    this.#seeks.set(k, offset);
    this.#interrupt();
  }

  /**
   * Stops fetching, commits what was consumed (with auto-commit), leaves the group. A message
   * whose handling has not finished (the loop has not asked for the next one, nor left) is not
   * committed; leaving a `for await` loop counts its last message and closes the consumer itself.
   * Idempotent: every call returns the first one's outcome. Waits at most
   * 2 s for the fetch loop and 5 s for the commit and leave: with the broker unreachable it gives
   * up on them quietly (the group then drops the member after its session timeout). A final commit
   * the broker answers with a refusal (`DISK_FULL`, `UNKNOWN_MEMBER`, …) makes close() reject with
   * that code once everything is closed all the same: the messages consumed since the last commit
   * will be delivered to the group again.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#assigned.reject(new WeirError('CLOSED', 'the consumer was closed'));
    this.#interrupt();
    this.#buffer.wakeAll();
    if (this.#commitTimer) clearInterval(this.#commitTimer);
    if (this.#metadataTimer) clearInterval(this.#metadataTimer);
    // A join can wait for a whole rebalance; close does not (the group drops a silent member).
    await waitAtMost(this.#running, consumerCloseWaitMs);
    let refusal: WeirError | null = null;
    const finishing = (async () => {
      if (this.#options.autoCommit && this.#options.groupId !== undefined && !this.#client.isClosed) {
        await this.#commitConsumed().catch((error: unknown) => (refusal = refusedCommit(this.#options.groupId!, error)));
      }
      await this.#membership?.leave();
    })();
    await waitAtMost(finishing, consumerCloseCommitWaitMs);
    this.#membership?.stop();
    this.#client.untrack(this);
    if (refusal !== null) throw refusal;
  }

  // --- the loop ----------------------------------------------------------------------------------

  /** Ends the current fetch or subscription; buffered messages are dropped (refetched later). */
  #interrupt(): void {
    this.#epoch++;
    for (const wake of this.#interruptWaiters.splice(0)) wake();
    this.#buffer.clear();
  }

  #interrupted(epoch: number): boolean {
    return this.#epoch !== epoch || this.#closing;
  }

  #whenInterrupted(): Promise<void> {
    return new Promise((resolve) => this.#interruptWaiters.push(resolve));
  }

  /**
   * `promise`'s value, or null as soon as the consumer is interrupted (closed, rebalancing,
   * seeking): a parked fetch does not hold those up. The promise is then left to settle unobserved.
   */
  #untilInterrupted<T>(promise: Promise<T>): Promise<T | null> {
    return new Promise((resolve, reject) => {
      const wake = (): void => resolve(null);
      this.#interruptWaiters.push(wake);
      const forget = (): void => {
        const index = this.#interruptWaiters.indexOf(wake);
        if (index >= 0) this.#interruptWaiters.splice(index, 1);
      };
      promise.then(
        (value) => {
          forget();
          resolve(value);
        },
        (error: unknown) => {
          forget();
          reject(error);
        },
      );
    });
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closing) {
      const epoch = this.#epoch;
      let assigning = false;
      try {
        assigning = this.#rejoinNeeded;
        if (assigning) await this.#assign();
        assigning = false;
        this.#restartPositions();
        attempt = 0;
        if (this.#options.mode === 'pull') await this.#pullLoop(epoch);
        else await this.#pushLoop(epoch);
      } catch (error) {
        if (this.#closing) return;
        const failure = isWeirError(error) ? error : new WeirError('UNKNOWN', String(error), { cause: error });
        // None of the topics exists (when assigning): the consumer fails, as when it starts so.
        const noTopics = assigning && failure.code === 'UNKNOWN_TOPIC';
        if (noTopics || !this.#recoverable(failure)) {
          this.#failure = failure;
          this.#assigned.reject(failure);
          this.#buffer.wakeAll();
          void this.#leaveFailed();
          return;
        }
        await sleep(backoffDelayMs(attempt++, { backoffMsMin: consumerDefaults.retryBackoffMsMin, backoffMsMax: consumerDefaults.retryBackoffMsMax }));
      }
    }
  }

  /** No heartbeats keep a member that reads nothing in the group: what it consumed is committed, then it leaves. */
  async #leaveFailed(): Promise<void> {
    if (this.#membership === null) return;
    if (this.#options.autoCommit) await this.#commitConsumed().catch(() => {});
    await this.#membership.leave();
  }

  #recoverable(error: WeirError): boolean {
    if (error.retriable) return true;
    if ((error.code === 'UNKNOWN_TOPIC' || error.code === 'UNKNOWN_PARTITION') && this.#options.topics !== undefined) {
      // One of the topics was deleted (or created again smaller): assign again without it.
      this.#rejoinNeeded = true;
      return true;
    }
    if (error.code === 'UNKNOWN_MEMBER' || error.code === 'ILLEGAL_GENERATION' || error.code === 'UNKNOWN_SUBSCRIPTION') {
      if (error.code === 'UNKNOWN_MEMBER') this.#membership?.forgetMember();
      this.#rejoinNeeded = true;
      return true;
    }
    return false;
  }

  /**
   * After an interruption: buffered messages are dropped and fetching restarts where consumed, or
   * just past the message the application is handling when that is where it would restart (a
   * rebalance that kept the partition here, a reconnect): it is not handed over a second time, and
   * counts as consumed only once the application moves on, as before.
   */
  #restartPositions(): void {
    this.#buffer.clear();
    this.#decoded.clear(); // messages handed over again after a seek are fresh objects
    const handling = this.#pendingTaken;
    for (const p of this.#assignment) {
      const k = key(p.topic, p.partition);
      const seek = this.#seeks.get(k);
      if (seek !== undefined) {
        this.#positions.set(k, seek);
        this.#consumed.set(k, seek);
      } else {
        const consumed = this.#consumed.get(k)!;
        const isHandling = handling !== null && handling.offset === consumed && handling.partition === p.partition && handling.topic === p.topic;
        this.#positions.set(k, isHandling ? consumed + 1n : consumed);
      }
    }
    this.#seeks.clear();
  }

  async #assign(): Promise<void> {
    let partitions: TopicPartition[];
    let committed = new Map<string, bigint>();
    const kept = new Map<string, bigint>();
    if (this.#membership !== null) {
      // Offsets consumed under the old assignment, before another member takes the partitions
      // (with auto-commit only: without it the application says what is finished).
      const before = this.#membership.joined ? this.#membership.ref : null;
      if (before !== null && this.#options.autoCommit) await this.#commitConsumed().catch(() => {});
      const consumedBefore = new Map(this.#consumed);
      this.#assignment = [];
      partitions = await this.#membership.join();
      if (this.#closing) {
        await this.#membership.leave(); // closed while the join waited: leave at once
        return;
      }
      this.#rejoinNeeded = false;
      // Nothing assigned: more members than partitions, or none of the topics exists (UNKNOWN_TOPIC).
      if (partitions.length === 0) await this.#allPartitions(this.#options.topics!);
      committed = await this.#fetchCommitted(partitions);
      // The next generation with this member in it: no other member held a partition in between,
      // so where this one got to on a partition it keeps stands, even if its commit was refused.
      const after = this.#membership.ref;
      if (before !== null && after.memberId === before.memberId && after.generationId === before.generationId + 1) {
        for (const [k, offset] of consumedBefore) if (offset > (committed.get(k) ?? -1n)) kept.set(k, offset);
      }
    } else {
      // Assigned again (a topic went away): the partitions kept go on where they were.
      for (const [k, offset] of this.#consumed) kept.set(k, offset);
      partitions = this.#options.partitions ?? (await this.#allPartitions(this.#options.topics!));
      if (this.#options.groupId !== undefined) committed = await this.#fetchCommitted(partitions);
      this.#rejoinNeeded = false;
    }
    this.#positions.clear();
    this.#consumed.clear();
    this.#committed.clear();
    this.#decoded.clear();
    for (const p of partitions) {
      const k = key(p.topic, p.partition);
      const offset = kept.get(k) ?? committed.get(k) ?? (await this.#offsetFor(p.topic, p.partition, this.#options.from));
      this.#consumed.set(k, offset);
      const committedOffset = committed.get(k);
      if (committedOffset !== undefined) this.#committed.set(k, committedOffset);
    }
    this.#assignment = partitions;
    this.#assigned.resolve();
  }

  /** Partitions added to the topics since are read from their first message (all of it came later). */
  async #followAddedPartitions(): Promise<void> {
    if (this.#closing || this.#rejoinNeeded) return;
    const known = new Set(this.#assignment.map((p) => key(p.topic, p.partition)));
    const added = (await this.#allPartitions(this.#options.topics!)).filter((p) => !known.has(key(p.topic, p.partition)));
    if (added.length === 0) return;
    const starts = await Promise.all(added.map((p) => this.#offsetFor(p.topic, p.partition, 'earliest')));
    if (this.#closing || this.#rejoinNeeded) return;
    added.forEach((p, i) => this.#consumed.set(key(p.topic, p.partition), starts[i]!));
    this.#assignment = [...this.#assignment, ...added];
    this.#interrupt(); // the fetch or push loop starts again over the whole assignment
  }

  async #fetchCommitted(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    if (partitions.length === 0) return out;
    const committed = await this.#client.request('fetchOffsets', { groupId: this.#options.groupId!, partitions });
    for (const c of committed) if (c.offset >= 0n) out.set(key(c.topic, c.partition), c.offset);
    return out;
  }

  /** The partitions of those of `topics` that exist; UNKNOWN_TOPIC when none does. */
  async #allPartitions(topics: string[]): Promise<TopicPartition[]> {
    const out: TopicPartition[] = [];
    let missing: WeirError | null = null;
    for (const topic of topics) {
      try {
        const description = await this.#client.request('describeTopic', { name: topic, ensure: false, partition: -1 });
        for (const p of description.partitions) out.push({ topic, partition: p.partition });
      } catch (error) {
        if (!isWeirError(error, 'UNKNOWN_TOPIC')) throw error;
        missing = error;
      }
    }
    if (missing !== null && out.length === 0) throw missing;
    return out;
  }

  async #offsetFor(topic: string, partition: number, from: StartPosition): Promise<bigint> {
    if (typeof from === 'bigint') return from;
    if (from instanceof Date) {
      const found = await this.#client.request('listOffsets', { topic, partition, spec: { timestampMs: from.getTime() } });
      if (found.offset >= 0n) return found.offset;
      return (await this.#client.request('listOffsets', { topic, partition, spec: 'latest' })).offset;
    }
    return (await this.#client.request('listOffsets', { topic, partition, spec: from })).offset;
  }

  // --- pull ------------------------------------------------------------------------------------

  async #pullLoop(epoch: number): Promise<void> {
    while (!this.#interrupted(epoch)) {
      await this.#buffer.room(this.#options.prefetchMessages);
      if (this.#interrupted(epoch)) return;
      if (this.#assignment.length === 0) {
        const idle = new AbortController();
        await this.#untilInterrupted(sleep(this.#options.fetchWaitMs, idle.signal));
        idle.abort();
        continue;
      }
      const fetching = this.#client.request(
        'fetch',
        {
          waitMs: this.#options.fetchWaitMs,
          bytesMin: 1,
          bytesMaxTotal: this.#options.fetchBytesMax,
          // Rotated each time, so that a busy partition cannot starve the others.
          partitions: rotate(this.#assignment, this.#rotation++).map((p) => ({
            topic: p.topic,
            partition: p.partition,
            offset: this.#positions.get(key(p.topic, p.partition))!,
            bytesMax: consumerDefaults.partitionFetchBytesMax,
          })),
        },
        this.#options.fetchWaitMs,
      );
      const results = await this.#untilInterrupted(fetching);
      if (results === null) return;
      if (this.#interrupted(epoch)) return;
      for (const result of results) await this.#takeFetched(result);
      this.#buffer.notify();
    }
  }

  async #takeFetched(result: FetchPartitionResult): Promise<void> {
    const k = key(result.topic, result.partition);
    if (result.errorCode !== 0) {
      const error = new WeirError(errorCodeFromWire(result.errorCode), result.errorMessage);
      if (error.code !== 'OFFSET_OUT_OF_RANGE') throw error;
      const reset = await this.#restartOutside(result.topic, result.partition, this.#positions.get(k));
      this.#positions.set(k, reset);
      this.#consumed.set(k, reset);
      return;
    }
    const position = this.#positions.get(k);
    if (position === undefined || result.records.length === 0) return;
    const next = this.#pushRecords(result.topic, result.partition, result.records, position, null);
    this.#positions.set(k, next);
  }

  /** Where a position outside its partition's log starts again (see #restartPosition). */
  async #restartOutside(topic: string, partition: number, position: bigint | undefined): Promise<bigint> {
    const earliest = await this.#offsetFor(topic, partition, 'earliest');
    const latest = await this.#offsetFor(topic, partition, 'latest');
    return this.#restartPosition(position ?? earliest, earliest, latest);
  }

  /**
   * A start of 'earliest' or 'latest' is also the reset policy; a start at an offset or a time
   * resets to the nearer end: past the end waits there, before the start (retention) reads on
   * from the oldest message kept.
   */
  #restartPosition(position: bigint, earliest: bigint, latest: bigint): bigint {
    const from = this.#options.from;
    if (from === 'earliest') return earliest;
    if (from === 'latest') return latest;
    return position > latest ? latest : earliest;
  }

  /** Decodes records into the buffer from `offsetMin` (below `offsetEnd` if given); returns the next offset. */
  #pushRecords(topic: string, partition: number, records: Buffer, offsetMin: bigint, offsetEnd: bigint | null): bigint {
    let next = offsetMin;
    for (const { position } of batchPositions(records)) {
      const base = records.readBigInt64BE(position + batchOffsets.baseOffset);
      const last = base + BigInt(records.readInt32BE(position + batchOffsets.lastOffsetDelta));
      if (last < offsetMin) continue;
      if (offsetEnd !== null && base >= offsetEnd) break;
      for (const record of this.#decodeCached(topic, partition, records, position, base)) {
        if (record.offset < offsetMin) continue;
        if (offsetEnd !== null && record.offset >= offsetEnd) break;
        // The decoded record becomes the message (no second object per message).
        const message = record as typeof record & { topic: string; partition: number };
        message.topic = topic;
        message.partition = partition;
        this.#buffer.push(message);
        next = record.offset + 1n;
      }
    }
    return offsetEnd ?? next;
  }

  /**
   * Decodes one batch, remembering the last one per partition: a batch larger than the credits
   * arrives once per credit window, and is decoded only the first time.
   */
  #decodeCached(topic: string, partition: number, records: Buffer, position: number, baseOffset: bigint): DecodedRecord[] {
    const crc = records.readUInt32BE(position + batchOffsets.crc);
    const k = key(topic, partition);
    const cached = this.#decoded.get(k);
    if (cached !== undefined && cached.baseOffset === baseOffset && cached.crc === crc) return cached.records;
    const decoded = decodeBatch(records, position, { decompressedBytesMax: consumerDefaults.decompressedBytesMax }).records;
    this.#decoded.set(k, { baseOffset, crc, records: decoded });
    return decoded;
  }

  // --- push ------------------------------------------------------------------------------------

  async #pushLoop(epoch: number): Promise<void> {
    const connection = await this.#client.connection();
    if (this.#interrupted(epoch)) return;
    if (this.#assignment.length === 0) {
      await this.#whenInterrupted();
      return;
    }
    const subscriptionId = connection.allocateSubscriptionId();
    let ended: WeirError | null = null;
    let wakeEnded: (() => void) | null = null;
    connection.subscribe(subscriptionId, {
      onDelivery: (delivery) => {
        if (this.#interrupted(epoch)) return;
        const k = key(delivery.topic, delivery.partition);
        try {
          this.#pushRecords(delivery.topic, delivery.partition, delivery.records, delivery.offsetFirst, delivery.offsetEnd);
        } catch (error) {
          // Records that do not decode (CORRUPT_MESSAGE): the consumer cannot go past them.
          this.#failure = isWeirError(error) ? error : new WeirError('CORRUPT_MESSAGE', String(error), { cause: error });
          this.#buffer.wakeAll();
          return;
        }
        this.#positions.set(k, delivery.offsetEnd);
        this.#buffer.markDelivery(Number(delivery.offsetEnd - delivery.offsetFirst), delivery.records.length);
        this.#buffer.notify();
        this.#returnCredits();
      },
      onEnd: (error) => {
        ended = error;
        wakeEnded?.();
      },
    });
    this.#activePush = { connection, subscriptionId };
    try {
      await connection.request('subscribe', {
        subscriptionId,
        source: {
          kind: 'partitions',
          // Rotated each time, so that a busy partition cannot starve the others.
          partitions: rotate(this.#assignment, this.#rotation++).map((p) => ({ ...p, offset: this.#positions.get(key(p.topic, p.partition))! })),
        },
        creditMessages: this.#options.prefetchMessages,
        creditBytes: this.#options.prefetchBytes,
        deliveryBytesMax: Math.min(this.#options.prefetchBytes, this.#options.fetchBytesMax),
      });
      if (!this.#interrupted(epoch) && ended === null) {
        await Promise.race([this.#whenInterrupted(), new Promise<void>((resolve) => (wakeEnded = resolve))]);
      }
    } finally {
      this.#activePush = null;
      connection.forgetSubscription(subscriptionId);
      if (ended === null && !connection.closed) await connection.request('unsubscribe', { subscriptionId }).catch(() => {});
    }
    if (ended !== null) await this.#onSubscriptionEnded(ended);
  }

  #activePush: { connection: Connection; subscriptionId: number } | null = null;

  async #onSubscriptionEnded(error: WeirError): Promise<void> {
    if (error.code !== 'OFFSET_OUT_OF_RANGE') throw error;
    // Which partition is not named: restart every position that lies outside its log.
    for (const p of this.#assignment) {
      const k = key(p.topic, p.partition);
      const earliest = await this.#offsetFor(p.topic, p.partition, 'earliest');
      const latest = await this.#offsetFor(p.topic, p.partition, 'latest');
      const consumed = this.#consumed.get(k)!;
      if (consumed < earliest || consumed > latest) this.#seeks.set(k, this.#restartPosition(consumed, earliest, latest));
    }
  }

  /** Grants the broker more credits once half the prefetch has been taken. */
  #returnCredits(): void {
    const active = this.#activePush;
    if (active === null) return;
    const due = this.#buffer.peekCreditsDue();
    if (due.messages < Math.ceil(this.#options.prefetchMessages / 4) && due.bytes < this.#options.prefetchBytes / 4) return;
    const { messages, bytes } = this.#buffer.takeCreditsDue();
    active.connection.request('credit', { subscriptionId: active.subscriptionId, messages, bytes }).catch(() => {});
  }
}

/** The final commit's failure as close() reports it, or null when the broker was not reached. */
function refusedCommit(groupId: string, error: unknown): WeirError | null {
  if (wasUnanswered(error)) return null;
  const refusal = asWeirError(error);
  return new WeirError(
    refusal.code,
    `group ${groupId}: the broker refused the final commit, so the messages consumed since the last commit will be delivered again: ${refusal.message}`,
    { cause: refusal, retriable: refusal.retriable },
  );
}

/** Every consumer option, once (an option added to ConsumerOptions fails to compile until listed here). */
const consumerOptionKeys = Object.keys({
  groupId: true,
  topics: true,
  partitions: true,
  from: true,
  mode: true,
  prefetchMessages: true,
  prefetchBytes: true,
  fetchWaitMs: true,
  fetchBytesMax: true,
  autoCommit: true,
  autoCommitIntervalMs: true,
  sessionTimeoutMs: true,
  heartbeatIntervalMs: true,
  rebalanceTimeoutMs: true,
  messagesPerSecondMax: true,
  metadataMaxAgeMs: true,
} satisfies Record<keyof ConsumerOptions, true>);

/** Refuses options that would hang the consumer, fire its timers at once or fail its requests (INVALID_CONFIG). */
function checkConsumerOptions(options: ConsumerOptions & typeof consumerDefaults): void {
  const owner = 'consumer';
  if (options.groupId !== undefined) checkString('groupId', options.groupId, { owner, nonEmpty: true });
  if (options.topics !== undefined && (!Array.isArray(options.topics) || options.topics.some((topic) => typeof topic !== 'string'))) {
    throw new WeirError('INVALID_CONFIG', `consumer option topics must be an array of topic names, not ${JSON.stringify(options.topics)}`);
  }
  if (options.partitions !== undefined) {
    const valid = Array.isArray(options.partitions) && options.partitions.every((p) => typeof p?.topic === 'string' && Number.isSafeInteger(p.partition) && p.partition >= 0);
    if (!valid) throw new WeirError('INVALID_CONFIG', 'consumer option partitions must be an array of { topic: string, partition: integer 0 or more }');
  }
  const from = options.from;
  if (!(from === 'earliest' || from === 'latest' || typeof from === 'bigint' || (from instanceof Date && Number.isFinite(from.getTime())))) {
    const given = from instanceof Date ? 'an invalid Date' : typeof from === 'string' ? JSON.stringify(from) : `${typeof from} ${String(from)}`;
    throw new WeirError('INVALID_CONFIG', `consumer option from ${given} is invalid: expected 'earliest', 'latest', a bigint offset or a valid Date`);
  }
  checkOneOf('mode', options.mode, { owner, values: ['push', 'pull'] });
  checkOneOf('autoCommit', options.autoCommit, { owner, values: [true, false] });
  checkInteger('prefetchMessages', options.prefetchMessages, { owner, min: 1, max: uint32Max });
  checkInteger('prefetchBytes', options.prefetchBytes, { owner, min: 1, max: uint32Max });
  checkInteger('fetchWaitMs', options.fetchWaitMs, { owner, min: 0, max: timerDelayMsMax });
  checkInteger('fetchBytesMax', options.fetchBytesMax, { owner, min: 1, max: int32Max });
  checkInteger('autoCommitIntervalMs', options.autoCommitIntervalMs, { owner, min: 1, max: timerDelayMsMax });
  checkInteger('sessionTimeoutMs', options.sessionTimeoutMs, { owner, min: 1, max: int32Max });
  checkInteger('rebalanceTimeoutMs', options.rebalanceTimeoutMs, { owner, min: 1, max: int32Max });
  checkInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, { owner, min: 1, max: timerDelayMsMax });
  checkInteger('metadataMaxAgeMs', options.metadataMaxAgeMs, { owner, min: 1, max: timerDelayMsMax });
  if (options.messagesPerSecondMax !== undefined) checkPositive('messagesPerSecondMax', options.messagesPerSecondMax, { owner, max: 1e9 });
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const start = by % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
