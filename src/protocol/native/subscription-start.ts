/**
 * Where a push subscription starts: explicit offsets as given, or a group member's assignment
 * from its committed offsets (earliest or latest where the group has none).
 */
import type { BrokerApi, TopicPartitions } from '../../broker/types.js';
import { WeirError } from '../../util/errors.js';
import type { SubscriptionSource, TopicPartitionOffset } from './wire/messages.js';

export async function resolveSubscriptionStart(broker: BrokerApi, source: SubscriptionSource): Promise<TopicPartitionOffset[]> {
  if (source.kind === 'partitions') {
    const named = new Set<string>();
    for (const p of source.partitions) {
      const count = broker.describeTopic(p.topic).partitions.length; // throws UNKNOWN_TOPIC early
      if (!(p.partition >= 0 && p.partition < count)) {
        throw new WeirError('UNKNOWN_PARTITION', `topic ${p.topic} has partitions 0..${count - 1}, not ${p.partition}`);
      }
      const k = `${p.partition}\u0000${p.topic}`;
      if (named.has(k)) throw new WeirError('INVALID_REQUEST', `${p.topic}/${p.partition} is named twice in one subscription`);
      named.add(k);
    }
    return source.partitions;
  }
  const group = broker.describeGroup(source.groupId);
  if (group.generationId !== source.generationId) {
    throw new WeirError('ILLEGAL_GENERATION', `group ${source.groupId} is at generation ${group.generationId}, not ${source.generationId}`);
  }
  const member = group.members.find((m) => m.memberId === source.memberId);
  if (member === undefined) throw new WeirError('UNKNOWN_MEMBER', `${source.memberId} is not a member of group ${source.groupId}`);
  if (Buffer.isBuffer(member.assignment)) {
    throw new WeirError('INVALID_REQUEST', `group ${source.groupId} is not broker-assigned; subscribe to explicit partitions`);
  }
  const wanted = (member.assignment as TopicPartitions[]).flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
  const committed = await broker.fetchOffsets(source.groupId, wanted);
  return Promise.all(
    wanted.map(async ({ topic, partition }) => {
      const entry = committed.find((c) => c.topic === topic && c.partition === partition);
      if (entry !== undefined && entry.offset >= 0n) return { topic, partition, offset: entry.offset };
      const listed = await broker.listOffset(topic, partition, source.from);
      return { topic, partition, offset: listed.offset };
    }),
  );
}
