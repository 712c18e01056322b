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

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  /** The leader's computed assignment; empty from followers. */
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface GroupMemberRef {
  groupId: string;
  generationId: number;
  memberId: string;
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

/** The broker core's operations. `Broker` (broker.ts) implements it. */
export interface BrokerApi {
  // Topics
  createTopic(name: string, config?: Partial<TopicConfig>): Promise<TopicDescription>;
  deleteTopic(name: string): Promise<void>;
  listTopics(options?: { includeInternal?: boolean }): TopicDescription[];
  /** Throws UNKNOWN_TOPIC. */
  describeTopic(name: string): TopicDescription;
  /** Creates the topic with defaults when auto-creation is on, otherwise throws UNKNOWN_TOPIC. */
  ensureTopic(name: string): Promise<TopicDescription>;

  // Producing
  produce(request: ProduceRequest): Promise<ProduceResult>;
  /** A fresh producer id (epoch 0) for an idempotent producer. */
  initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }>;

  // Consuming
  fetch(request: FetchRequest, signal?: AbortSignal): Promise<FetchPartitionResult[]>;
  listOffset(topic: string, partition: number, spec: OffsetSpec): Promise<ListedOffset>;

  // Consumer groups
  joinGroup(request: JoinGroupRequest): Promise<JoinGroupResult>;
  syncGroup(request: SyncGroupRequest): Promise<{ protocolName: string; assignment: Buffer }>;
  heartbeat(request: GroupMemberRef): Promise<void>;
  leaveGroup(groupId: string, memberId: string): Promise<void>;
  commitOffsets(ref: GroupMemberRef | { groupId: string }, offsets: OffsetCommitEntry[]): Promise<void>;
  fetchOffsets(groupId: string, partitions?: { topic: string; partition: number }[]): Promise<CommittedOffset[]>;
  listGroups(): { groupId: string; protocolType: string; state: GroupStateName }[];
  describeGroup(groupId: string): GroupDescription;
  deleteGroup(groupId: string): Promise<void>;
}
