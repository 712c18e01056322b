/**
 * Group offset resets: where a group's next member starts on a topic, moved by an operator. Every
 * new offset is worked out before any is committed, and they are committed in one write, so a
 * reset that cannot be done for one partition changes none.
 */
import { isWeirError, WeirError } from '../util/errors.js';
import type { BrokerApi, OffsetReset, OffsetResetRequest } from './types.js';

export async function resetGroupOffsets(broker: BrokerApi, request: OffsetResetRequest): Promise<OffsetReset[]> {
  const { groupId, topic, target } = request;
  const committed = new Map<number, bigint>();
  let members = 0;
  try {
    const group = broker.describeGroup(groupId);
    members = group.members.length;
    for (const o of group.offsets) if (o.topic === topic && o.offset >= 0n) committed.set(o.partition, o.offset);
  } catch (error) {
    if (!isWeirError(error, 'UNKNOWN_GROUP')) throw error; // offsets for a group yet to start
  }
  if (members > 0) throw groupNotEmpty(groupId, members);

  const partitionCount = broker.describeTopic(topic).partitions.length;
  for (const partition of request.partitions ?? []) {
    if (partition < 0 || partition >= partitionCount) throw new WeirError('UNKNOWN_PARTITION', `topic ${topic} has partitions 0 to ${partitionCount - 1}, not ${partition}`);
  }
  const partitions = request.partitions === undefined ? [...Array(partitionCount).keys()] : [...new Set(request.partitions)].sort((a, b) => a - b);
  const resets: OffsetReset[] = [];
  for (const partition of partitions) {
    const previous = committed.get(partition) ?? null;
    let position: 'earliest' | 'latest' | bigint | { timestampMs: number };
    if ('to' in target) position = target.to;
    else if (previous === null) throw new WeirError('INVALID_REQUEST', `group ${groupId} has no committed offset on ${topic}[${partition}] to shift: reset it to a position instead`);
    else position = previous + target.shiftBy;
    resets.push({ partition, previous, ...(await offsetWithin(broker, topic, partition, position)) });
  }
  if (request.dryRun === true) return resets;
  try {
    await broker.commitOffsets({ groupId }, resets.map((r) => ({ topic, partition: r.partition, offset: r.offset, metadata: null })));
  } catch (error) {
    // A member joined while the offsets were worked out: the commit refuses, as it must.
    if (isWeirError(error, 'UNKNOWN_MEMBER')) throw groupNotEmpty(groupId, broker.describeGroup(groupId).members.length);
    throw error;
  }
  return resets;
}

function groupNotEmpty(groupId: string, members: number): WeirError {
  return new WeirError('GROUP_NOT_EMPTY', `group ${groupId} has ${members} live member${members === 1 ? '' : 's'}: stop its consumers first (they would commit over the reset)`);
}

/** The offset a position names on one partition, kept within what the partition holds. */
async function offsetWithin(broker: BrokerApi, topic: string, partition: number, position: 'earliest' | 'latest' | bigint | { timestampMs: number }): Promise<{ offset: bigint; note: string | null }> {
  const earliest = (await broker.listOffset(topic, partition, 'earliest')).offset;
  const latest = (await broker.listOffset(topic, partition, 'latest')).offset;
  if (position === 'earliest') return { offset: earliest, note: null };
  if (position === 'latest') return { offset: latest, note: null };
  if (typeof position === 'object') {
    const found = await broker.listOffset(topic, partition, position);
    return found.offset < 0n ? { offset: latest, note: 'no message at or after the time: the end' } : { offset: found.offset, note: null };
  }
  if (position < earliest) return { offset: earliest, note: `${position} is before the first offset held` };
  if (position > latest) return { offset: latest, note: `${position} is past the end` };
  return { offset: position, note: null };
}
