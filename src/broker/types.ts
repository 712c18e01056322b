/**
 * The broker core's public surface: what every protocol front end (native, Kafka, HTTP) calls.
 * Front ends translate their wire messages into these calls and contain no broker logic.
 *
 * Conventions: offsets are `bigint`; timestamps are milliseconds since the epoch as `number`;
 * failures are `WeirError`s with a catalog code (src/util/errors.ts); record data is carried as
 * RecordBatch v2 bytes, exactly as stored.
 */

import type { FlushPolicy } from '../storage/config.js';
import type { WeirError } from '../util/errors.js';

export type { FlushPolicy };

export interface TopicConfig {
  partitions: number;
  /** Segments older than this are deleted; null keeps them forever. */
  retentionMs: number | null;
  /** Per partition: oldest segments are deleted while the log is larger; null for no bound. */
  retentionBytes: number | null;
  flush: FlushPolicy;
  /** Largest record batch a producer may send to this topic. */
  messageBytesMax: number;
  /** A segment rolls when it would grow past this many bytes … */
  segmentBytesMax: number;
  /** … or when its first batch is older than this. */
  segmentAgeMsMax: number;
  /**
   * Queue subscriptions do not deliver a message older than this (counted from its timestamp);
   * null for no limit. Consumer groups read the log and are not affected.
   */
  messageTtlMs: number | null;
  /**
   * A batch whose newest timestamp is more than this many milliseconds ahead of the broker's clock
   * is refused with INVALID_TIMESTAMP (a record dated in the future would hold back time
   * retention); null accepts any timestamp.
   */
  timestampAheadMsMax: number | null;
  /**
   * A batch with a record (or a header maxTimestamp) more than this many milliseconds behind the
   * broker's clock is refused with INVALID_TIMESTAMP (time retention would delete it at once);
   * null, the default, accepts any timestamp.
   */
  timestampBehindMsMax: number | null;
}

export interface PartitionState {
  partition: number;
  /** First offset still in the log. */
  offsetStart: bigint;
  /** Offset the next appended record gets. */
  offsetEnd: bigint;
  /** End of what consumers may read (durable data under flush `always`). */
  highWatermark: bigint;
  sizeBytes: number;
}

export interface TopicDescription {
  name: string;
  internal: boolean;
  config: TopicConfig;
  partitions: PartitionState[];
}

export type Acks = 'none' | 'leader';

export interface ProduceRequest {
  topic: string;
  partition: number;
  /** One or more consecutive RecordBatch v2 batches. The broker stamps offsets into these bytes. */
  batches: Buffer;
  acks: Acks;
  /** false: a missing topic is UNKNOWN_TOPIC, never created (Kafka's Produce). Default true: created when auto-creation is on. */
  create?: boolean;
}

export interface ProduceResult {
  /** Offset of the first record appended (or, for a retried duplicate, first stored). */
  baseOffset: bigint;
  logAppendTimeMs: number;
  offsetStart: bigint;
  /** True when an idempotent producer's retry matched a batch already stored; nothing was written. */
  duplicate: boolean;
}

export interface FetchPartitionRequest {
  topic: string;
  partition: number;
  offset: bigint;
  /** At most this many bytes for the partition, but always at least one whole batch. */
  bytesMax: number;
}

export interface FetchRequest {
  partitions: FetchPartitionRequest[];
  /** Park the request this long when no partition has data (long polling); 0 answers at once. */
  waitMs: number;
  /** Answer once this many bytes are available in total (default 1). */
  bytesMin?: number;
  /** Upper bound over all partitions (at least one batch is always returned). */
  bytesMaxTotal?: number;
}

export interface FetchPartitionResult {
  topic: string;
  partition: number;
  /** Whole batches; the first contains the requested offset. Empty when there is nothing new. */
  records: Buffer;
  highWatermark: bigint;
  offsetStart: bigint;
  /** Set when this partition failed (unknown topic, offset out of range, …). */
  error?: WeirError;
}

export type OffsetSpec = 'earliest' | 'latest' | { timestampMs: number };

export interface ListedOffset {
  offset: bigint;
  /** The timestamp of the record found, for a timestamp lookup; -1 otherwise. */
  timestampMs: number;
}

// ---------------------------------------------------------------------------------------------
// Stream subscriptions (consumer groups)
//
// One state machine serves two kinds of group:
//  - protocolType 'consumer' (Kafka clients): client-side assignment; the leader computes the
//    assignment and hands it over in syncGroup; metadata and assignments are opaque bytes.
//  - protocolType 'weir' (the native client): the broker assigns. Each member's metadata is the
//    UTF-8 JSON `{"topics":[...]}`; when the join completes the coordinator spreads the
//    partitions itself and syncGroup is not needed (joinGroup answers with the assignment).

export interface GroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinGroupRequest {
  groupId: string;
  /** Empty on the first join: the coordinator assigns one. */
  memberId: string;
  groupInstanceId?: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
}

export interface JoinGroupResult {
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  /** Filled for the leader only (client-side assignment). */
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
  /** For broker-assigned ('weir') groups: this member's partitions. */
  assignment?: TopicPartitions[];
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface SyncGroupRequest extends GroupMemberRef {
  /** The leader's computed assignment; empty from followers. */
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface GroupMemberRef {
  groupId: string;
  generationId: number;
  memberId: string;
  /** A static member's group instance id: a replaced member naming it gets FENCED_INSTANCE_ID. */
  groupInstanceId?: string | null;
}

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: bigint;
  metadata: string | null;
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** -1n when the group has no committed offset for the partition. */
  offset: bigint;
  metadata: string | null;
}

export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface GroupMemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /**
   * The member's metadata for the group's chosen protocol, as the client sent it in its join (a
   * Kafka consumer's subscription); empty while no protocol is chosen.
   */
  metadata: Buffer;
  /** Decoded partitions for broker-assigned groups; raw bytes otherwise. */
  assignment: TopicPartitions[] | Buffer;
}

export interface GroupDescription {
  groupId: string;
  state: GroupStateName;
  protocolType: string;
  protocolName: string;
  generationId: number;
  members: GroupMemberDescription[];
  offsets: (CommittedOffset & { highWatermark: bigint; lag: bigint })[];
}

/**
 * Where a group offset reset moves a group on one topic: to a position (earliest, latest, an
 * offset, or the first message at or after a time), or by a count from each committed offset.
 */
export type OffsetResetTarget = { to: 'earliest' | 'latest' | bigint | { timestampMs: number } } | { shiftBy: bigint };

export interface OffsetResetRequest {
  groupId: string;
  topic: string;
  /** The partitions to move (default: all of the topic's). */
  partitions?: number[];
  target: OffsetResetTarget;
  /** Work the new offsets out and commit nothing. */
  dryRun?: boolean;
}

/** One partition's reset: the committed offset before (null: none), the new one, and why it differs from what was asked. */
export interface OffsetReset {
  partition: number;
  previous: bigint | null;
  offset: bigint;
  note: string | null;
}

/** The broker core's operations. `Broker` (broker.ts) implements it (and `QueueBrokerApi`, below). */
export interface BrokerApi extends QueueBrokerApi {
  // Topics
  /**
   * Creates a topic with `config` over the broker's defaults. With `validateOnly` it checks the
   * same and creates nothing. Throws TOPIC_EXISTS, INVALID_TOPIC, INVALID_CONFIG, LIMIT_EXCEEDED.
   */
  createTopic(name: string, config?: Partial<TopicConfig>, options?: { validateOnly?: boolean }): Promise<TopicDescription>;
  deleteTopic(name: string): Promise<void>;
  /**
   * Changes a topic's configuration: the fields given replace the stored ones, and a larger
   * `partitions` adds partitions (their number cannot shrink). With `validateOnly` it checks the
   * same and changes nothing. Throws UNKNOWN_TOPIC, INVALID_TOPIC (internal), INVALID_CONFIG.
   */
  alterTopic(name: string, changes: Partial<TopicConfig>, options?: { validateOnly?: boolean }): Promise<TopicDescription>;
  /** The configuration a new topic gets: the broker's `defaultTopicConfig` over the built-in defaults. */
  readonly topicDefaults: TopicConfig;
  listTopics(options?: { includeInternal?: boolean }): TopicDescription[];
  /** Throws UNKNOWN_TOPIC. */
  describeTopic(name: string): TopicDescription;
  /**
   * Creates the topic with defaults when auto-creation is on, otherwise throws UNKNOWN_TOPIC.
   * `partition`: one the caller will use; UNKNOWN_PARTITION (and no topic) when the defaults
   * would not give the new topic that partition.
   */
  ensureTopic(name: string, partition?: number): Promise<TopicDescription>;

  // Producing
  produce(request: ProduceRequest): Promise<ProduceResult>;
  /** A fresh producer id (epoch 0) for an idempotent producer. */
  initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }>;

  // Consuming
  fetch(request: FetchRequest, signal?: AbortSignal): Promise<FetchPartitionResult[]>;
  listOffset(topic: string, partition: number, spec: OffsetSpec): Promise<ListedOffset>;
  /**
   * Calls `wake` once, synchronously, when the partition's high watermark reaches `offset`: inside
   * the append that moves it, before that append's producers are answered (so a push delivery
   * leaves first), or when the partition closes. Returns the cancel function, or null when the high
   * watermark is there already (`wake` is not called then). Throws UNKNOWN_TOPIC, UNKNOWN_PARTITION.
   */
  watchHighWatermark(topic: string, partition: number, offset: bigint, wake: () => void): (() => void) | null;
  /**
   * What a fetch of one partition would return, synchronously, when the records are still held in
   * memory (the newest batches of the log); null when they are not, or on any error (a fetch then
   * reads them, or reports the error).
   */
  readTail(topic: string, partition: number, offset: bigint, bytesMax: number): { records: Buffer; highWatermark: bigint } | null;

  // Consumer groups
  /** `signal`: the join's connection closed (see GroupCoordinator.join). */
  joinGroup(request: JoinGroupRequest, options?: { signal?: AbortSignal }): Promise<JoinGroupResult>;
  syncGroup(request: SyncGroupRequest): Promise<{ protocolName: string; assignment: Buffer }>;
  heartbeat(request: GroupMemberRef): Promise<void>;
  /** With an empty member id, the member holding `groupInstanceId` leaves. */
  leaveGroup(groupId: string, memberId: string, groupInstanceId?: string | null): Promise<void>;
  /**
   * Stores committed offsets, all or none: throws for the first entry that names no partition or
   * carries oversized metadata. A negative offset is stored as given and means "no position"
   * (Kafka clients commit -1 or -2 to reset a group): consumers start by their reset policy.
   */
  commitOffsets(ref: GroupMemberRef | { groupId: string }, offsets: OffsetCommitEntry[]): Promise<void>;
  /**
   * As commitOffsets, but each entry stands alone (Kafka's OffsetCommit): the valid entries are
   * stored and the refusal of each other entry is returned in its place. A group refusal
   * (ILLEGAL_GENERATION, UNKNOWN_MEMBER, ...) still throws for all of them.
   */
  commitOffsetsEach(ref: GroupMemberRef | { groupId: string }, offsets: OffsetCommitEntry[]): Promise<(WeirError | null)[]>;
  /**
   * As commitOffsets from outside any membership, but only if each entry's partition still has the
   * committed offset `previous` (-1: none), commits still being written included: false, storing
   * nothing, when one has moved meanwhile (an offset reset). HTTP group reads commit so.
   */
  commitOffsetsIfUnchanged(groupId: string, offsets: (OffsetCommitEntry & { previous: bigint })[]): Promise<boolean>;
  fetchOffsets(groupId: string, partitions?: { topic: string; partition: number }[]): Promise<CommittedOffset[]>;
  listGroups(): { groupId: string; protocolType: string; state: GroupStateName }[];
  describeGroup(groupId: string): GroupDescription;
  /** Calls `onGone` once when the member leaves the group; returns the cancel. UNKNOWN_MEMBER when it is not a member. */
  watchGroupMember(groupId: string, memberId: string, onGone: (error: WeirError) => void): () => void;
  deleteGroup(groupId: string): Promise<void>;
  /**
   * Moves a group's committed offsets on one topic, all partitions or none. Offsets outside what a
   * partition holds are clamped into it (with a note). Throws GROUP_NOT_EMPTY while the group has
   * members (their own commits would overwrite the reset), UNKNOWN_TOPIC, UNKNOWN_PARTITION, and
   * INVALID_REQUEST for a shift on a partition with nothing committed.
   */
  resetGroupOffsets(request: OffsetResetRequest): Promise<OffsetReset[]>;
}

// ---------------------------------------------------------------------------------------------
// Queue subscriptions (docs/queues.md)
//
// A queue subscription on a topic lets any number of consumers compete: each message is leased to
// one consumer at a time and settled one by one (ack, nack, reject, extend). A topic may carry
// consumer groups and queue subscriptions side by side; each receives every message.
//
// Per-message delivery time and expiry travel as record headers, set by producers:
//   `weir-deliver-at`  decimal milliseconds since the epoch; not delivered before then
//   `weir-expires-at`  decimal milliseconds since the epoch; not delivered after then
// A topic's `messageTtlMs` also expires messages, counted from the record's timestamp.

export const queueHeaders = {
  deliverAt: 'weir-deliver-at',
  expiresAt: 'weir-expires-at',
  /** Dead letters carry where they came from and why. */
  originalTopic: 'weir-original-topic',
  originalPartition: 'weir-original-partition',
  originalOffset: 'weir-original-offset',
  subscription: 'weir-subscription',
  deliveryCount: 'weir-delivery-count',
  reason: 'weir-dead-letter-reason',
  deadLetteredAt: 'weir-dead-lettered-at',
} as const;

export type RedeliveryBackoff =
  | { kind: 'fixed'; delayMs: number }
  /** delay = min(maxMs, initialMs × multiplier^(deliveryCount−1)), then ± jitter (0..1) of it. */
  | { kind: 'exponential'; initialMs: number; maxMs: number; multiplier: number; jitter: number };

export interface QueueSubscriptionConfig {
  /** How long a consumer holds a message before it is delivered again (extendable per message). */
  ackTimeoutMs: number;
  /** Past this many deliveries a failing message is dead-lettered. */
  deliveriesMax: number;
  backoff: RedeliveryBackoff;
  /** Where dead letters go (default `<topic>.<subscription>.dlq`). */
  deadLetterTopic: string;
  /** What happens to expired and overflowed messages. */
  discard: 'drop' | 'dead-letter';
  /** Bounded backlog (messages not yet acknowledged); null for no bound. */
  backlogMessagesMax: number | null;
  backlogBytesMax: number | null;
  overflow: 'reject' | 'drop-oldest';
  /** Messages with one key go to one consumer at a time, in order. */
  keyOrdered: boolean;
  /** Where a new subscription starts reading the topic. */
  startAt: 'earliest' | 'latest';
}

export interface QueuePartitionState {
  partition: number;
  /** Every offset below is settled. */
  ackFloor: bigint;
  /** Messages not yet settled (available, delayed, in flight). */
  backlogMessages: number;
  backlogBytes: number;
  inFlight: number;
  /** Waiting for a delivery time or a redelivery backoff. */
  scheduled: number;
  /** Unsettled messages the broker holds in memory for this partition (its window), and their bytes. */
  windowMessages: number;
  windowBytes: number;
}

export interface SubscriptionDescription {
  topic: string;
  name: string;
  type: 'queue';
  config: QueueSubscriptionConfig;
  consumers: number;
  backlogMessages: number;
  backlogBytes: number;
  inFlight: number;
  scheduled: number;
  /** Age of the oldest unsettled message, or null when the backlog is empty. */
  oldestMessageAgeMs: number | null;
  redeliveriesTotal: number;
  deadLettersTotal: number;
  ackedTotal: number;
  /** Histogram of the delivery counts of in-flight and scheduled messages: count → messages. */
  deliveryCounts: Record<number, number>;
  partitions: QueuePartitionState[];
}

/** Names one delivery of one message; stale after the message is delivered again. */
export interface QueueReceipt {
  partition: number;
  offset: bigint;
  deliveryCount: number;
  /**
   * The lease epoch of the message's delivery (see QueueDelivery): a receipt from before a broker
   * restart, from a subscription since deleted and created again, or of a delivery since released,
   * is stale even where its delivery count matches a current lease.
   */
  leaseEpoch: number;
}

/**
 * Messages of one partition leased to a consumer, passed on as they are stored: whole records of
 * one stored batch (Kafka record format v2, each with its length prefix), concatenated. Offsets
 * and timestamps in the records are deltas from the batch's base values. Competing consumers
 * lease scattered records of a batch, so a delivery carries the records rather than the batch;
 * it needs no decoding on the broker. `queueDeliveryMessages` decodes one.
 */
export interface QueueDelivery {
  topic: string;
  partition: number;
  baseOffset: bigint;
  baseTimestampMs: number;
  /** Every message of this delivery has been delivered this many times (1 the first time). */
  deliveryCount: number;
  /**
   * Drawn at random (1 to 2^32 - 1) each time the subscription is opened (every broker start) or
   * created, and one step further for each release of the message since; settlements carry it
   * back, so that one from an earlier epoch cannot settle a lease of this one (after a crash or a
   * release the delivery counts alone may repeat).
   */
  leaseEpoch: number;
  /** How many records `records` holds. */
  count: number;
  records: Buffer;
}

/** A leased message decoded (see `queueDeliveryMessages`). */
export interface QueueDeliveredMessage {
  offset: bigint;
  deliveryCount: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

/**
 * Settles the delivery named by `receipt` and, with `count` above 1, those of the following
 * offsets up to `receipt.offset + count - 1` with the same delivery count.
 */
export type QueueSettlement = (
  | { action: 'ack'; receipt: QueueReceipt }
  | { action: 'nack'; receipt: QueueReceipt; delayMs?: number }
  | { action: 'reject'; receipt: QueueReceipt; reason: string }
  | { action: 'extend'; receipt: QueueReceipt; extendMs: number }
  /** Given back unseen (never handed to the application): the delivery does not count. */
  | { action: 'release'; receipt: QueueReceipt }
) & { count?: number };

/** A settlement that failed: its index in the request, the offset, and why. */
export interface QueueSettleFailure {
  index: number;
  offset: bigint;
  error: WeirError;
}

export interface QueueConsumerOptions {
  topic: string;
  subscription: string;
  /** Creates the subscription with this configuration when it does not exist. */
  config?: Partial<QueueSubscriptionConfig>;
  /** Cap on deliveries per second to this consumer; null for none. */
  ratePerSecond?: number | null;
  /** Push mode: called with leased messages while credits remain. */
  deliver?: (deliveries: QueueDelivery[]) => void;
  /**
   * Called once when the broker ends the consumer because its subscription (or topic) was
   * deleted, with UNKNOWN_SUBSCRIPTION naming what happened; not after `close()`, nor at shutdown.
   */
  ended?: (error: WeirError) => void;
}

/**
 * One consumer of a queue subscription. Its leases end when it closes (the messages become
 * available again with their delivery count raised).
 */
export interface QueueConsumer {
  readonly id: string;
  /** Push mode: allow this many more messages to be delivered through `deliver`. */
  grant(credits: number): void;
  /** Pull mode: up to `max` messages, waiting up to `waitMs` for the first. */
  receive(max: number, waitMs: number, signal?: AbortSignal): Promise<QueueDelivery[]>;
  /**
   * Nothing more is delivered to this consumer (it is about to close and gives back what it
   * holds unseen); its credits are dropped and a waiting receive answers empty. It still holds
   * its leases until it settles or closes.
   */
  stopDeliveries(): void;
  /** Releases every lease this consumer holds. */
  close(): Promise<void>;
}

export interface QueueBrokerApi {
  createSubscription(topic: string, name: string, config?: Partial<QueueSubscriptionConfig>): Promise<SubscriptionDescription>;
  deleteSubscription(topic: string, name: string): Promise<void>;
  listSubscriptions(topic?: string): SubscriptionDescription[];
  /** Throws UNKNOWN_SUBSCRIPTION. */
  describeSubscription(topic: string, name: string): SubscriptionDescription;
  openQueueConsumer(options: QueueConsumerOptions): Promise<QueueConsumer>;
  /**
   * Settles deliveries of a subscription (any consumer's, or one received over HTTP); answers
   * when the outcome is durable, with the messages that could not be settled (INVALID_RECEIPT
   * for a stale receipt), or none. `quiet`: nobody waits for the outcome; it is recorded the
   * same way and written within `quietSettleFlushMs`, and the answer does not wait for the sync.
   */
  settle(topic: string, subscription: string, settlements: QueueSettlement[], options?: { quiet?: boolean }): Promise<QueueSettleFailure[]>;

  // Dead letters
  /** Reads a dead-letter topic from `offset` (default its start) with the recorded reasons. */
  listDeadLetters(deadLetterTopic: string, options?: { partition?: number; offset?: bigint; max?: number }): Promise<DeadLetter[]>;
  /**
   * Produces dead letters back to their original topics (without the dead-letter headers).
   * `select` names partition/offset pairs of the dead-letter topic; omitted, every one is replayed.
   */
  replayDeadLetters(deadLetterTopic: string, select?: { partition: number; offset: bigint }[]): Promise<{ replayed: number }>;
}

export interface DeadLetter {
  partition: number;
  offset: bigint;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  /** The message's own headers (the dead-letter headers are in the fields below). */
  headers: { key: string; value: Buffer | null }[];
  originalTopic: string;
  originalPartition: number;
  originalOffset: bigint;
  subscription: string;
  deliveryCount: number;
  reason: string;
  deadLetteredAtMs: number;
}
