/**
 * Administration: topics, groups (with committed offsets and lag) and offset look-ups.
 */
import type {
  GroupDescription,
  TopicConfig,
  TopicConfigPartial,
  TopicDescription,
} from '../protocol/native/wire/messages.js';
import type { RecordHeader } from '../format/record-batch.js';
import type { Client } from './client.js';
import { checkKnownKeys } from './options.js';
import type { QueueSubscriptionConfig } from './queue-consumer.js';

export type { GroupDescription, TopicConfig, TopicDescription };

/** Where {@link Admin.resetOffsets} moves a group: to a position, or by a count from each committed offset. */
export type OffsetResetTarget = { to: 'earliest' | 'latest' | bigint | Date } | { shiftBy: bigint };

/** One partition's reset: the committed offset before (null: none), the new one, and why it differs from what was asked (clamped into the log). */
export interface OffsetReset {
  partition: number;
  previous: bigint | null;
  offset: bigint;
  note: string | null;
}

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
}

export class Admin {
  readonly #client: Client;

  constructor(client: Client) {
    this.#client = client;
  }

  /**
   * Creates a topic; unset configuration takes the broker's defaults. Throws TOPIC_EXISTS, and
   * INVALID_CONFIG naming a key of `config` that is not a topic setting (`retentionMS`).
   */
  async createTopic(name: string, config: Partial<TopicConfig> = {}): Promise<TopicDescription> {
    return await this.#client.request('createTopic', { name, config: wireConfig(config) });
  }

  /**
   * Changes a topic: the fields given replace its configuration (retention, flush and size limits
   * apply from the next append or retention pass), and a larger `partitions` adds partitions. The
   * partition count cannot shrink. Keys hash over the new count from then on, so a key's later
   * messages may land in another partition than its earlier ones. Throws UNKNOWN_TOPIC,
   * INVALID_CONFIG (also for a key of `changes` that is not a topic setting).
   */
  async alterTopic(name: string, changes: Partial<TopicConfig>): Promise<TopicDescription> {
    return await this.#client.request('alterTopic', { name, config: wireConfig(changes) });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.#client.request('deleteTopic', { name });
  }

  listTopics(options: { includeInternal?: boolean } = {}): Promise<TopicDescription[]> {
    return this.#client.request('listTopics', { includeInternal: options.includeInternal ?? false });
  }

  /** Throws UNKNOWN_TOPIC. */
  describeTopic(name: string): Promise<TopicDescription> {
    return this.#client.request('describeTopic', { name, ensure: false, partition: -1 });
  }

  listGroups(): Promise<GroupListing[]> {
    return this.#client.request('listGroups', {});
  }

  /** Members, assignments, committed offsets with the high watermark and lag per partition. */
  describeGroup(groupId: string): Promise<GroupDescription> {
    return this.#client.request('describeGroup', { groupId });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.#client.request('deleteGroup', { groupId });
  }

  /** Committed offsets of a group (all partitions it committed when `partitions` is omitted). */
  fetchOffsets(groupId: string, partitions?: { topic: string; partition: number }[]): Promise<{ topic: string; partition: number; offset: bigint; metadata: string | null }[]> {
    return this.#client.request('fetchOffsets', { groupId, partitions });
  }

  /** Sets a group's committed offsets (outside membership; the group should have no members). */
  async commitOffsets(groupId: string, offsets: { topic: string; partition: number; offset: bigint; metadata?: string | null }[]): Promise<void> {
    await this.#client.request('commitOffsets', {
      groupId,
      generationId: -1,
      memberId: '',
      offsets: offsets.map((o) => ({ ...o, metadata: o.metadata ?? null })),
    });
  }

  /**
   * Moves a group's committed offsets on one topic (all partitions, or those given), so that its
   * next member starts there. The broker works every new offset out before committing any and
   * clamps offsets outside the log into it (each such entry has a `note`); `dryRun` commits
   * nothing. Throws GROUP_NOT_EMPTY while the group has members (stop its consumers first),
   * UNKNOWN_TOPIC, UNKNOWN_PARTITION, and INVALID_REQUEST for `shiftBy` on a partition with nothing
   * committed.
   */
  async resetOffsets(groupId: string, topic: string, target: OffsetResetTarget, options: { partitions?: number[]; dryRun?: boolean } = {}): Promise<OffsetReset[]> {
    const wireTarget = 'to' in target && target.to instanceof Date ? { to: { timestampMs: target.to.getTime() } } : (target as { to: 'earliest' | 'latest' | bigint } | { shiftBy: bigint });
    const resets = await this.#client.request('resetOffsets', { groupId, topic, partitions: options.partitions, target: wireTarget, dryRun: options.dryRun === true });
    return resets.map((r) => ({ ...r, previous: r.previous < 0n ? null : r.previous }));
  }

  /** The first offset still in the log. */
  async earliestOffset(topic: string, partition: number): Promise<bigint> {
    return (await this.#client.request('listOffsets', { topic, partition, spec: 'earliest' })).offset;
  }

  /** The offset the next record will get. */
  async latestOffset(topic: string, partition: number): Promise<bigint> {
    return (await this.#client.request('listOffsets', { topic, partition, spec: 'latest' })).offset;
  }

  /** The first offset whose timestamp is at or after `time`, with that record's timestamp. */
  offsetForTime(topic: string, partition: number, time: Date | number): Promise<{ offset: bigint; timestampMs: number }> {
    const timestampMs = typeof time === 'number' ? time : time.getTime();
    return this.#client.request('listOffsets', { topic, partition, spec: { timestampMs } });
  }

  // --- queue subscriptions -----------------------------------------------------------------------

  /** Creates a queue subscription, or changes an existing one's settings. */
  async createSubscription(topic: string, name: string, config: Partial<QueueSubscriptionConfig> = {}): Promise<SubscriptionDescription> {
    const { json } = await this.#client.request('createSubscription', { topic, name, configJson: JSON.stringify(config) });
    return parseSubscription(JSON.parse(json));
  }

  async deleteSubscription(topic: string, name: string): Promise<void> {
    await this.#client.request('deleteSubscription', { topic, name });
  }

  async listSubscriptions(topic?: string): Promise<SubscriptionDescription[]> {
    const { json } = await this.#client.request('listSubscriptions', { topic: topic ?? null });
    return (JSON.parse(json) as unknown[]).map(parseSubscription);
  }

  async describeSubscription(topic: string, name: string): Promise<SubscriptionDescription> {
    const { json } = await this.#client.request('describeSubscription', { topic, name });
    return parseSubscription(JSON.parse(json));
  }

  /** Dead letters of a dead-letter topic with their reasons, from `offset` (default: the start). */
  async listDeadLetters(topic: string, options: { partition?: number; offset?: bigint; max?: number } = {}): Promise<DeadLetter[]> {
    const letters = await this.#client.request('listDeadLetters', {
      topic,
      partition: options.partition ?? -1,
      offset: options.offset ?? -1n,
      max: options.max ?? 100,
    });
    return letters;
  }

  /** Produces dead letters back to their original topics: the selected ones, or all. */
  replayDeadLetters(topic: string, select?: { partition: number; offset: bigint }[]): Promise<{ replayed: number }> {
    return this.#client.request('replayDeadLetters', { topic, select });
  }
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
  oldestMessageAgeMs: number | null;
  redeliveriesTotal: number;
  deadLettersTotal: number;
  ackedTotal: number;
  /** Delivery count → messages (in flight or waiting for redelivery). */
  deliveryCounts: Record<string, number>;
  /** Per partition; `windowMessages` and `windowBytes`: what the broker holds of it in memory. */
  partitions: {
    partition: number;
    ackFloor: bigint;
    backlogMessages: number;
    backlogBytes: number;
    inFlight: number;
    scheduled: number;
    windowMessages: number;
    windowBytes: number;
  }[];
}

export interface DeadLetter {
  partition: number;
  offset: bigint;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  originalTopic: string;
  originalPartition: number;
  originalOffset: bigint;
  subscription: string;
  deliveryCount: number;
  reason: string;
  deadLetteredAtMs: number;
}

function parseSubscription(value: unknown): SubscriptionDescription {
  const description = value as SubscriptionDescription & { partitions: { ackFloor: string }[] };
  return { ...description, partitions: description.partitions.map((p) => ({ ...p, ackFloor: BigInt(p.ackFloor) })) } as SubscriptionDescription;
}

/** Every topic setting, once (a field added to TopicConfig fails to compile until listed here). */
const topicConfigKeys = Object.keys({
  partitions: true,
  retentionMs: true,
  retentionBytes: true,
  flush: true,
  messageBytesMax: true,
  segmentBytesMax: true,
  segmentAgeMsMax: true,
  messageTtlMs: true,
  timestampAheadMsMax: true,
  timestampBehindMsMax: true,
} satisfies Record<keyof TopicConfig, true>);

/** The settings to send; a key that is not a setting is refused (INVALID_CONFIG), not dropped. */
function wireConfig(config: Partial<TopicConfig>): TopicConfigPartial {
  checkKnownKeys(config, topicConfigKeys, { owner: 'topic' });
  return {
    partitions: config.partitions,
    retentionMs: config.retentionMs,
    retentionBytes: config.retentionBytes,
    flush: config.flush,
    messageBytesMax: config.messageBytesMax,
    segmentBytesMax: config.segmentBytesMax,
    segmentAgeMsMax: config.segmentAgeMsMax,
    messageTtlMs: config.messageTtlMs,
    timestampAheadMsMax: config.timestampAheadMsMax,
    timestampBehindMsMax: config.timestampBehindMsMax,
  };
}
