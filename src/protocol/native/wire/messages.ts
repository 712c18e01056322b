/**
 * The native protocol's request and response bodies, one struct per API. The types mirror the
 * broker core's (src/broker/types.ts) structurally, so the server-side adapter passes decoded
 * requests straight through; this layer may not import the broker, so they are declared here.
 *
 * Byte layouts follow from the struct definitions (fields in order, no padding); see codec.ts for
 * the field encodings and docs/native-protocol.md for the tables.
 */
import type { ByteReader } from '../../../format/byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import {
  array,
  bool,
  bytes,
  empty,
  int16,
  int32,
  int64,
  int64Number,
  int8,
  mapped,
  nullableInt64Number,
  nullableBytes,
  nullableString,
  optional,
  string,
  stringTag,
  struct,
  uint16,
  uint32,
  type Codec,
  type CodecValue,
} from './codec.js';

/**
 * Protocol versions this code speaks. Version 1 is the first; version 2 adds the settle action
 * `release` (a version 1 server closes the connection on it, so clients send it only on version 2;
 * a server refuses it with UNSUPPORTED_VERSION on a connection that agreed on version 1).
 */
export const protocolVersionMin = 1;
export const protocolVersionMax = 2;
/** The first version with the settle action `release`. */
export const releaseVersionMin = 2;

/** API numbers (uint16 on the wire). Never reused. */
export const apiKeys = {
  hello: 0,
  createTopic: 1,
  deleteTopic: 2,
  listTopics: 3,
  describeTopic: 4,
  produce: 5,
  fetch: 6,
  listOffsets: 7,
  initProducerId: 8,
  joinGroup: 9,
  heartbeat: 10,
  leaveGroup: 11,
  commitOffsets: 12,
  fetchOffsets: 13,
  listGroups: 14,
  describeGroup: 15,
  deleteGroup: 16,
  subscribe: 17,
  credit: 18,
  unsubscribe: 19,
  alterTopic: 20,
  resetOffsets: 21,
  queueSubscribe: 32,
  queueReceive: 33,
  queueSettle: 34,
  queueCredit: 35,
  queueUnsubscribe: 36,
  createSubscription: 37,
  deleteSubscription: 38,
  listSubscriptions: 39,
  describeSubscription: 40,
  listDeadLetters: 41,
  replayDeadLetters: 42,
  queueSettleQuiet: 43,
} as const;

export type ApiName = keyof typeof apiKeys;

// --- shared pieces -------------------------------------------------------------------------------

const flushKinds = ['always', 'interval', 'none'] as const;

export type FlushPolicy = { kind: 'always' } | { kind: 'interval'; intervalMs: number } | { kind: 'none' };

/** int8 kind (0 always, 1 interval, 2 none), uint32 intervalMs (0 unless interval). */
export const flushPolicy: Codec<FlushPolicy> = mapped(
  struct({ kind: stringTag(flushKinds, 'flush kind'), intervalMs: uint32 }),
  (policy: FlushPolicy) => ({ kind: policy.kind, intervalMs: policy.kind === 'interval' ? policy.intervalMs : 0 }),
  (wire) => (wire.kind === 'interval' ? { kind: 'interval', intervalMs: wire.intervalMs } : { kind: wire.kind }),
);

const topicConfigFields = {
  partitions: int32,
  retentionMs: nullableInt64Number,
  retentionBytes: nullableInt64Number,
  flush: flushPolicy,
  messageBytesMax: int32,
  segmentBytesMax: int64Number,
  segmentAgeMsMax: int64Number,
  messageTtlMs: nullableInt64Number,
  timestampAheadMsMax: nullableInt64Number,
  timestampBehindMsMax: nullableInt64Number,
};
export const topicConfig = struct(topicConfigFields, { valueErrors: 'INVALID_CONFIG' });
export type TopicConfig = CodecValue<typeof topicConfig>;

/** The same fields, each preceded by a presence byte. */
export const topicConfigPartial = struct({
  partitions: optional(int32),
  retentionMs: optional(nullableInt64Number),
  retentionBytes: optional(nullableInt64Number),
  flush: optional(flushPolicy),
  messageBytesMax: optional(int32),
  segmentBytesMax: optional(int64Number),
  segmentAgeMsMax: optional(int64Number),
  messageTtlMs: optional(nullableInt64Number),
  timestampAheadMsMax: optional(nullableInt64Number),
  timestampBehindMsMax: optional(nullableInt64Number),
}, { valueErrors: 'INVALID_CONFIG' });
export type TopicConfigPartial = CodecValue<typeof topicConfigPartial>;

export const partitionState = struct({
  partition: int32,
  offsetStart: int64,
  offsetEnd: int64,
  highWatermark: int64,
  sizeBytes: int64Number,
});

export const topicDescription = struct({
  name: string,
  internal: bool,
  config: topicConfig,
  partitions: array(partitionState),
});
export type TopicDescription = CodecValue<typeof topicDescription>;

export const topicPartitions = struct({ topic: string, partitions: array(int32) });
export type TopicPartitions = CodecValue<typeof topicPartitions>;

const topicPartition = struct({ topic: string, partition: int32 });
const topicPartitionOffset = struct({ topic: string, partition: int32, offset: int64 });
export type TopicPartitionOffset = CodecValue<typeof topicPartitionOffset>;

// --- hello ---------------------------------------------------------------------------------------

export const helloRequest = struct({ versionMin: uint16, versionMax: uint16, clientId: string });
/** Also the body of an UNSUPPORTED_VERSION error response (version 0 then). */
export const helloResponse = struct({
  version: uint16,
  versionMin: uint16,
  versionMax: uint16,
  serverName: string,
  frameBytesMax: uint32,
});
export type HelloResponse = CodecValue<typeof helloResponse>;

// --- topics --------------------------------------------------------------------------------------

export const createTopicRequest = struct({ name: string, config: topicConfigPartial });
/** The fields present replace the topic's; a larger `partitions` adds partitions. */
export const alterTopicRequest = createTopicRequest;
export const topicNameRequest = struct({ name: string });
/** ensure: create the topic with the broker's defaults when missing and auto-creation is on. */
/** `partition`: with `ensure`, the partition the caller is about to use (-1: none), so that a topic the defaults would not give it is not created. */
export const describeTopicRequest = struct({ name: string, ensure: bool, partition: int32 });
export const listTopicsRequest = struct({ includeInternal: bool });
export const topicList = array(topicDescription);

// --- produce and fetch ---------------------------------------------------------------------------

export const acksValues = ['none', 'leader'] as const;
export type Acks = (typeof acksValues)[number];

/** With acks 'none' the server sends no response at all. */
export const produceRequest = struct({
  topic: string,
  partition: int32,
  acks: stringTag(acksValues, 'acks'),
  batches: bytes,
});
export type ProduceRequest = CodecValue<typeof produceRequest>;

export const produceResponse = struct({
  baseOffset: int64,
  logAppendTimeMs: int64Number,
  offsetStart: int64,
  duplicate: bool,
});
export type ProduceResponse = CodecValue<typeof produceResponse>;

export const fetchRequest = struct({
  waitMs: uint32,
  bytesMin: int32,
  bytesMaxTotal: int32,
  partitions: array(struct({ topic: string, partition: int32, offset: int64, bytesMax: int32 })),
});
export type FetchRequest = CodecValue<typeof fetchRequest>;

/** errorCode 0 means success (errorMessage empty). */
export const fetchPartitionResult = struct({
  topic: string,
  partition: int32,
  errorCode: uint16,
  errorMessage: string,
  highWatermark: int64,
  offsetStart: int64,
  records: bytes,
});
export type FetchPartitionResult = CodecValue<typeof fetchPartitionResult>;
export const fetchResponse = array(fetchPartitionResult);

const offsetSpecKinds = ['earliest', 'latest', 'timestamp'] as const;
export type OffsetSpec = 'earliest' | 'latest' | { timestampMs: number };

/** int8 kind (0 earliest, 1 latest, 2 timestamp), int64 timestampMs (-1 unless timestamp). */
export const offsetSpec: Codec<OffsetSpec> = mapped(
  struct({ kind: stringTag(offsetSpecKinds, 'offset spec'), timestampMs: int64Number }),
  (spec: OffsetSpec) =>
    typeof spec === 'string' ? { kind: spec, timestampMs: -1 } : { kind: 'timestamp' as const, timestampMs: spec.timestampMs },
  (wire) => (wire.kind === 'timestamp' ? { timestampMs: wire.timestampMs } : wire.kind),
);

export const listOffsetsRequest = struct({ topic: string, partition: int32, spec: offsetSpec });
export const listOffsetsResponse = struct({ offset: int64, timestampMs: int64Number });

const offsetResetKinds = ['earliest', 'latest', 'offset', 'timestamp', 'shift'] as const;
export type OffsetResetTarget = { to: 'earliest' | 'latest' | bigint | { timestampMs: number } } | { shiftBy: bigint };

/** int8 kind (0 earliest, 1 latest, 2 offset, 3 timestamp, 4 shift), int64 value (the offset, the time in ms, or the shift; 0 otherwise). */
export const offsetResetTarget: Codec<OffsetResetTarget> = mapped(
  struct({ kind: stringTag(offsetResetKinds, 'offset reset kind'), value: int64 }),
  (target: OffsetResetTarget) => {
    if ('shiftBy' in target) return { kind: 'shift' as const, value: target.shiftBy };
    const to = target.to;
    if (typeof to === 'string') return { kind: to, value: 0n };
    return typeof to === 'bigint' ? { kind: 'offset' as const, value: to } : { kind: 'timestamp' as const, value: BigInt(to.timestampMs) };
  },
  (wire): OffsetResetTarget => {
    if (wire.kind === 'shift') return { shiftBy: wire.value };
    if (wire.kind === 'offset') return { to: wire.value };
    if (wire.kind === 'timestamp') return { to: { timestampMs: Number(wire.value) } };
    return { to: wire.kind };
  },
);

/** partitions absent: all of the topic's. */
export const resetOffsetsRequest = struct({ groupId: string, topic: string, partitions: optional(array(int32)), target: offsetResetTarget, dryRun: bool });
/** One entry per partition moved; previous -1 when the group had no committed offset there. */
export const resetOffsetsResponse = array(struct({ partition: int32, previous: int64, offset: int64, note: nullableString }));

export const initProducerIdResponse = struct({ producerId: int64, producerEpoch: int16 });

// --- groups --------------------------------------------------------------------------------------

export const joinGroupRequest = struct({
  groupId: string,
  memberId: string,
  groupInstanceId: nullableString,
  sessionTimeoutMs: int32,
  rebalanceTimeoutMs: int32,
  topics: array(string),
});
export type JoinGroupRequest = CodecValue<typeof joinGroupRequest>;

export const joinGroupResponse = struct({
  generationId: int32,
  protocolName: string,
  leaderId: string,
  memberId: string,
  assignment: array(topicPartitions),
});
export type JoinGroupResponse = CodecValue<typeof joinGroupResponse>;

export const groupMemberRef = struct({ groupId: string, generationId: int32, memberId: string });
export type GroupMemberRef = CodecValue<typeof groupMemberRef>;
export const leaveGroupRequest = struct({ groupId: string, memberId: string });
export const groupIdRequest = struct({ groupId: string });

/** generationId -1 (and an empty memberId) commits outside group membership. */
export const commitOffsetsRequest = struct({
  groupId: string,
  generationId: int32,
  memberId: string,
  offsets: array(struct({ topic: string, partition: int32, offset: int64, metadata: nullableString })),
});
export type CommitOffsetsRequest = CodecValue<typeof commitOffsetsRequest>;

/** Absent partitions means every partition the group has committed. */
export const fetchOffsetsRequest = struct({ groupId: string, partitions: optional(array(topicPartition)) });
export const committedOffset = struct({ topic: string, partition: int32, offset: int64, metadata: nullableString });
export const fetchOffsetsResponse = array(committedOffset);

export const listGroupsResponse = array(struct({ groupId: string, protocolType: string, state: string }));

/** int8 tag: 0 = decoded partitions (array of topicPartitions), 1 = opaque bytes. */
const memberAssignment: Codec<TopicPartitions[] | Buffer> = {
  bytesMin: 1,
  write: (w: ByteWriter, value: TopicPartitions[] | Buffer) => {
    if (Buffer.isBuffer(value)) {
      w.int8(1);
      bytes.write(w, value);
    } else {
      w.int8(0);
      array(topicPartitions).write(w, value);
    }
  },
  read: (r: ByteReader) => {
    const tag = int8.read(r);
    if (tag === 0) return array(topicPartitions).read(r);
    if (tag === 1) return bytes.read(r);
    return r.fail(`member assignment tag ${tag} is unknown`);
  },
};

export const groupDescription = struct({
  groupId: string,
  state: string,
  protocolType: string,
  protocolName: string,
  generationId: int32,
  members: array(
    struct({
      memberId: string,
      groupInstanceId: nullableString,
      clientId: string,
      clientHost: string,
      assignment: memberAssignment,
    }),
  ),
  offsets: array(
    struct({
      topic: string,
      partition: int32,
      offset: int64,
      metadata: nullableString,
      highWatermark: int64,
      lag: int64,
    }),
  ),
});
export type GroupDescription = CodecValue<typeof groupDescription>;

// --- push subscriptions --------------------------------------------------------------------------

export type SubscriptionSource =
  | { kind: 'partitions'; partitions: TopicPartitionOffset[] }
  | { kind: 'group'; groupId: string; memberId: string; generationId: number; from: 'earliest' | 'latest' };

const groupSource = struct({
  groupId: string,
  memberId: string,
  generationId: int32,
  from: stringTag(['earliest', 'latest'] as const, 'subscription start'),
});

/** int8 tag: 0 = explicit partitions with start offsets, 1 = a group member's assignment. */
const subscriptionSource: Codec<SubscriptionSource> = {
  bytesMin: 1,
  write: (w, source) => {
    if (source.kind === 'partitions') {
      w.int8(0);
      array(topicPartitionOffset).write(w, source.partitions);
    } else {
      w.int8(1);
      groupSource.write(w, source);
    }
  },
  read: (r) => {
    const tag = int8.read(r);
    if (tag === 0) return { kind: 'partitions', partitions: array(topicPartitionOffset).read(r) };
    if (tag === 1) return { kind: 'group', ...groupSource.read(r) };
    return r.fail(`subscription source tag ${tag} is unknown`);
  },
};

/**
 * The client picks the subscription id (unique on its connection). Credits start at the given
 * values; `deliveryBytesMax` bounds the records of one delivery frame (at least one batch).
 */
export const subscribeRequest = struct({
  subscriptionId: uint32,
  source: subscriptionSource,
  creditMessages: uint32,
  creditBytes: uint32,
  deliveryBytesMax: uint32,
});
export type SubscribeRequest = CodecValue<typeof subscribeRequest>;
/** Where each partition starts. */
export const subscribeResponse = array(topicPartitionOffset);

/** Credits add up; uint32 each. */
export const creditRequest = struct({ subscriptionId: uint32, messages: uint32, bytes: uint32 });
export const unsubscribeRequest = struct({ subscriptionId: uint32 });

/**
 * A delivery: `records` holds whole stored batches; the client hands over the records with
 * offsetFirst ≤ offset < offsetEnd only (a batch may be sent again for the rest of its records).
 */
export const delivery = struct({
  topic: string,
  partition: int32,
  offsetFirst: int64,
  offsetEnd: int64,
  highWatermark: int64,
  records: bytes,
});
export type Delivery = CodecValue<typeof delivery>;

// --- queue subscriptions -------------------------------------------------------------------------

/**
 * Opens a consumer of a queue subscription. The client picks `consumerId` (unique on its
 * connection among consumers and push subscriptions). `configJson`: when the subscription does
 * not exist it is created with these settings (a JSON object of QueueSubscriptionConfig fields).
 * `push`: deliveries come as frames of kind 5 while `credits` (and later queueCredit) last;
 * otherwise the consumer pulls with queueReceive. `ratePerSecond` 0 means no cap.
 */
export const queueSubscribeRequest = struct({
  consumerId: uint32,
  topic: string,
  subscription: string,
  configJson: nullableString,
  push: bool,
  credits: uint32,
  ratePerSecond: uint32,
});
export type QueueSubscribeRequest = CodecValue<typeof queueSubscribeRequest>;

/**
 * Leased messages of one partition: whole records of one stored batch as they are stored (record
 * format v2, each with its varint length; offset and timestamp deltas from `baseOffset` and
 * `baseTimestampMs`), concatenated, all delivered `deliveryCount` times in lease epoch
 * `leaseEpoch` (settlements carry it back).
 */
export const queueDelivery = struct({
  topic: string,
  partition: int32,
  baseOffset: int64,
  baseTimestampMs: int64Number,
  deliveryCount: int32,
  leaseEpoch: uint32,
  count: int32,
  records: bytes,
});
export type QueueDelivery = CodecValue<typeof queueDelivery>;
export const queueDeliveries = array(queueDelivery);

export const queueReceiveRequest = struct({ consumerId: uint32, max: uint32, waitMs: uint32 });
export const queueCreditRequest = struct({ consumerId: uint32, credits: uint32 });
export const queueUnsubscribeRequest = struct({ consumerId: uint32 });

/** A nack's `ms` asking for the subscription's backoff; any other negative `ms` is refused. */
export const nackBackoffMs = -1;
/** Settle actions by wire tag: new ones are appended (`release`, tag 4, since version 2). */
export const settleActions = ['ack', 'nack', 'reject', 'extend', 'release'] as const;
/**
 * Settles deliveries. Each settlement covers `count` consecutive offsets from `offset`, all
 * delivered `deliveryCount` times in lease epoch `leaseEpoch`. `ms`: a nack's delay (`nackBackoffMs`, -1: the subscription's
 * backoff) or an extension's length; `reason`: a reject's reason (empty otherwise). `credits` above 0 are granted
 * at once to the push consumer `consumerId` of this connection, before the settlements are
 * durable (a consumer returns the credits of what it settles in the same request). A request
 * holding a `release` stops deliveries to consumer `consumerId` of this connection (it is closing).
 */
export const queueSettleRequest = struct({
  topic: string,
  subscription: string,
  consumerId: uint32,
  credits: uint32,
  settlements: array(
    struct({
      action: stringTag(settleActions, 'settle action'),
      partition: int32,
      offset: int64,
      count: uint32,
      deliveryCount: int32,
      leaseEpoch: uint32,
      ms: int64Number,
      reason: string,
    }),
  ),
});
export type QueueSettleRequest = CodecValue<typeof queueSettleRequest>;
/** The messages that could not be settled (none: all were): settlement index, offset, error. */
export const queueSettleResponse = array(struct({ index: uint32, offset: int64, errorCode: uint16, errorMessage: string }));

export const subscriptionRequest = struct({ topic: string, name: string });
export const createSubscriptionRequest = struct({ topic: string, name: string, configJson: nullableString });
/** Subscription descriptions travel as JSON (offsets as decimal strings); see docs/queues.md. */
export const subscriptionJson = struct({ json: string });
export const listSubscriptionsRequest = struct({ topic: nullableString });

const recordHeaderWire = struct({ key: string, value: nullableBytes });

export const deadLetter = struct({
  partition: int32,
  offset: int64,
  timestampMs: int64Number,
  key: nullableBytes,
  value: nullableBytes,
  headers: array(recordHeaderWire),
  originalTopic: string,
  originalPartition: int32,
  originalOffset: int64,
  subscription: string,
  deliveryCount: int32,
  reason: string,
  deadLetteredAtMs: int64Number,
});
export type DeadLetter = CodecValue<typeof deadLetter>;
/** partition -1: every partition; offset -1: from the start. */
export const listDeadLettersRequest = struct({ topic: string, partition: int32, offset: int64, max: int32 });
export const replayDeadLettersRequest = struct({ topic: string, select: optional(array(struct({ partition: int32, offset: int64 }))) });
export const replayDeadLettersResponse = struct({ replayed: int32 });

// --- the table -----------------------------------------------------------------------------------

export interface ApiSpec<Req, Res> {
  key: number;
  request: Codec<Req>;
  response: Codec<Res>;
}

function api<Req, Res>(key: number, request: Codec<Req>, response: Codec<Res>): ApiSpec<Req, Res> {
  return { key, request, response };
}

export const apis = {
  hello: api(apiKeys.hello, helloRequest, helloResponse),
  createTopic: api(apiKeys.createTopic, createTopicRequest, topicDescription),
  deleteTopic: api(apiKeys.deleteTopic, topicNameRequest, empty),
  listTopics: api(apiKeys.listTopics, listTopicsRequest, topicList),
  describeTopic: api(apiKeys.describeTopic, describeTopicRequest, topicDescription),
  produce: api(apiKeys.produce, produceRequest, produceResponse),
  fetch: api(apiKeys.fetch, fetchRequest, fetchResponse),
  listOffsets: api(apiKeys.listOffsets, listOffsetsRequest, listOffsetsResponse),
  initProducerId: api(apiKeys.initProducerId, empty, initProducerIdResponse),
  joinGroup: api(apiKeys.joinGroup, joinGroupRequest, joinGroupResponse),
  heartbeat: api(apiKeys.heartbeat, groupMemberRef, empty),
  leaveGroup: api(apiKeys.leaveGroup, leaveGroupRequest, empty),
  commitOffsets: api(apiKeys.commitOffsets, commitOffsetsRequest, empty),
  fetchOffsets: api(apiKeys.fetchOffsets, fetchOffsetsRequest, fetchOffsetsResponse),
  listGroups: api(apiKeys.listGroups, empty, listGroupsResponse),
  describeGroup: api(apiKeys.describeGroup, groupIdRequest, groupDescription),
  deleteGroup: api(apiKeys.deleteGroup, groupIdRequest, empty),
  subscribe: api(apiKeys.subscribe, subscribeRequest, subscribeResponse),
  credit: api(apiKeys.credit, creditRequest, empty),
  unsubscribe: api(apiKeys.unsubscribe, unsubscribeRequest, empty),
  alterTopic: api(apiKeys.alterTopic, alterTopicRequest, topicDescription),
  resetOffsets: api(apiKeys.resetOffsets, resetOffsetsRequest, resetOffsetsResponse),
  queueSubscribe: api(apiKeys.queueSubscribe, queueSubscribeRequest, empty),
  queueReceive: api(apiKeys.queueReceive, queueReceiveRequest, queueDeliveries),
  queueSettle: api(apiKeys.queueSettle, queueSettleRequest, queueSettleResponse),
  queueCredit: api(apiKeys.queueCredit, queueCreditRequest, empty),
  queueUnsubscribe: api(apiKeys.queueUnsubscribe, queueUnsubscribeRequest, empty),
  createSubscription: api(apiKeys.createSubscription, createSubscriptionRequest, subscriptionJson),
  deleteSubscription: api(apiKeys.deleteSubscription, subscriptionRequest, empty),
  listSubscriptions: api(apiKeys.listSubscriptions, listSubscriptionsRequest, subscriptionJson),
  describeSubscription: api(apiKeys.describeSubscription, subscriptionRequest, subscriptionJson),
  listDeadLetters: api(apiKeys.listDeadLetters, listDeadLettersRequest, array(deadLetter)),
  replayDeadLetters: api(apiKeys.replayDeadLetters, replayDeadLettersRequest, replayDeadLettersResponse),
  /** queueSettle without an answer (the response codec is never used). */
  queueSettleQuiet: api(apiKeys.queueSettleQuiet, queueSettleRequest, empty),
} as const;

export type Apis = typeof apis;
export type RequestOf<N extends ApiName> = CodecValue<Apis[N]['request']>;
export type ResponseOf<N extends ApiName> = CodecValue<Apis[N]['response']>;

const nameByKey = new Map<number, ApiName>(Object.entries(apiKeys).map(([name, key]) => [key, name as ApiName]));

export function apiName(key: number): ApiName | undefined {
  return nameByKey.get(key);
}
