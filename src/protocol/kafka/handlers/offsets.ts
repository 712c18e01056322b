/**
 * ListOffsets (-1 latest, -2 earliest, otherwise a timestamp), OffsetCommit and OffsetFetch.
 * A ListOffsets that names a topic-partition more than once gets INVALID_REQUEST for each of its
 * entries, as in Kafka.
 * OffsetCommit goes to the group coordinator's commit check as it comes: a commit with generation
 * -1 comes from outside the group (admin tools, simple consumers) and passes while the group has
 * no members; otherwise the member, its group instance id (v7+) and its generation are checked, as
 * in Kafka (see GroupCoordinator.checkCommit).
 */
import type { CommittedOffset, OffsetSpec } from '../../../broker/types.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, repeatedNames, type HandlerContext } from './context.js';
import { groupErrorCode } from './groups.js';

const latestTimestamp = -1n;
const earliestTimestamp = -2n;

export async function handleListOffsets(context: HandlerContext, body: RequestOf<typeof m.listOffsets>): Promise<ResponseInput<typeof m.listOffsets>> {
  const keyOf = (topic: string, partition: number): string => JSON.stringify([topic, partition]);
  const repeated = repeatedNames(body.topics.flatMap((topic) => topic.partitions.map((partition) => keyOf(topic.name, partition.partitionIndex))));
  return {
    topics: await Promise.all(
      body.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(
          topic.partitions.map(async (partition) => {
            if (repeated.has(keyOf(topic.name, partition.partitionIndex))) {
              return { partitionIndex: partition.partitionIndex, errorCode: kafkaErrors.INVALID_REQUEST };
            }
            const spec: OffsetSpec = partition.timestamp === latestTimestamp
              ? 'latest'
              : partition.timestamp === earliestTimestamp ? 'earliest' : { timestampMs: Number(partition.timestamp) };
            try {
              const listed = await context.broker.listOffset(topic.name, partition.partitionIndex, spec);
              return { partitionIndex: partition.partitionIndex, offset: listed.offset, timestamp: BigInt(listed.timestampMs) };
            } catch (error) {
              return { partitionIndex: partition.partitionIndex, errorCode: errorCodeOf(context, error) };
            }
          }),
        ),
      })),
    ),
  };
}

export async function handleOffsetCommit(context: HandlerContext, body: RequestOf<typeof m.offsetCommit>): Promise<ResponseInput<typeof m.offsetCommit>> {
  const entries = body.topics.flatMap((topic) =>
    topic.partitions.map((partition) => ({
      topic: topic.name,
      partition: partition.partitionIndex,
      offset: partition.committedOffset,
      metadata: partition.committedMetadata,
    })),
  );
  const ref = { groupId: body.groupId, generationId: body.generationId, memberId: body.memberId, groupInstanceId: body.groupInstanceId };
  // Each partition is committed or refused alone; a refusal of the group (generation, member) refuses all.
  let errorCodes: number[];
  try {
    const refusals = await context.broker.commitOffsetsEach(ref, entries);
    errorCodes = refusals.map((refusal) => (refusal === null ? kafkaErrors.NONE : groupErrorCode(context, refusal)));
  } catch (error) {
    errorCodes = entries.map(() => groupErrorCode(context, error));
  }
  let next = 0;
  return {
    topics: body.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode: errorCodes[next++]! })),
    })),
  };
}

export async function handleOffsetFetch(context: HandlerContext, body: RequestOf<typeof m.offsetFetch>): Promise<ResponseInput<typeof m.offsetFetch>> {
  const wanted = body.topics?.flatMap((topic) => topic.partitionIndexes.map((partition) => ({ topic: topic.name, partition })));
  let committed: CommittedOffset[];
  try {
    committed = await context.broker.fetchOffsets(body.groupId, wanted);
  } catch (error) {
    const errorCode = groupErrorCode(context, error);
    if (context.header.apiVersion >= 2) return { errorCode };
    // v1 has no top-level error: put it on every partition.
    return {
      topics: (body.topics ?? []).map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, metadata: '', errorCode })),
      })),
    };
  }
  const byTopic = new Map<string, { partitionIndex: number; committedOffset: bigint; metadata: string }[]>();
  for (const entry of committed) {
    let partitions = byTopic.get(entry.topic);
    if (partitions === undefined) byTopic.set(entry.topic, (partitions = []));
    partitions.push({ partitionIndex: entry.partition, committedOffset: entry.offset, metadata: entry.metadata ?? '' });
  }
  return { topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) };
}
