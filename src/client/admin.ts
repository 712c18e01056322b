/**
 * Administration: topics, groups (with committed offsets and lag) and offset look-ups.
 */
import type {
  GroupDescription,
  TopicConfig,
  TopicConfigPartial,
  TopicDescription,
} from '../protocol/native/wire/messages.js';
import type { Client } from './client.js';

export type { GroupDescription, TopicConfig, TopicDescription };

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

  /** Creates a topic; unset configuration takes the broker's defaults. Throws TOPIC_EXISTS. */
  createTopic(name: string, config: Partial<TopicConfig> = {}): Promise<TopicDescription> {
    const partial: TopicConfigPartial = {
      partitions: config.partitions,
      retentionMs: config.retentionMs,
      retentionBytes: config.retentionBytes,
      flush: config.flush,
      messageBytesMax: config.messageBytesMax,
      segmentBytesMax: config.segmentBytesMax,
      segmentAgeMsMax: config.segmentAgeMsMax,
      messageTtlMs: config.messageTtlMs,
    };
    return this.#client.request('createTopic', { name, config: partial });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.#client.request('deleteTopic', { name });
  }

  listTopics(options: { includeInternal?: boolean } = {}): Promise<TopicDescription[]> {
    return this.#client.request('listTopics', { includeInternal: options.includeInternal ?? false });
  }

  /** Throws UNKNOWN_TOPIC. */
  describeTopic(name: string): Promise<TopicDescription> {
    return this.#client.request('describeTopic', { name, ensure: false });
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
}
