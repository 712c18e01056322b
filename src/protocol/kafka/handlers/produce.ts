/**
 * Produce: each partition's records go to the broker as they came (RecordBatch v2 bytes; the
 * broker validates and stamps offsets). acks 0 gets no response at all, and a failure under acks
 * 0 closes the connection (as Kafka does), which is the only way such a client learns of it; 1 and
 * -1 both wait for the leader, which on a single node is everything. Versions 0–2 are advertised
 * (for librdkafka's sake, see wire/versions.ts) but answered UNSUPPORTED_VERSION for every
 * partition. Every topic keeps the producer's timestamps (CreateTime), so `logAppendTimeMs` is -1.
 * As in Kafka, Produce never creates a topic: only Metadata does, when the client allows it. A
 * topic that is missing (deleted since the client's last Metadata, say) gets
 * UNKNOWN_TOPIC_OR_PARTITION for each of its partitions, so that a client that turned
 * auto-creation off does not bring a deleted topic back.
 *
 * A partition whose writer is behind by more than its queue bound (LIMIT_EXCEEDED: a passing
 * overload, nothing stored) gets NOT_ENOUGH_REPLICAS. Kafka has no such condition of its own, and
 * this is the retriable code whose client handling fits: librdkafka retries it with backoff as
 * "not persisted" without refreshing metadata, the Java client retries it without refreshing
 * metadata, and kafkajs retries it. REQUEST_TIMED_OUT would read as "possibly persisted",
 * KAFKA_STORAGE_ERROR makes librdkafka and Java refresh metadata as for a lost leader, and
 * THROTTLING_QUOTA_EXCEEDED is not known to kafkajs (it fails at once).
 */
import { batchLogOverheadBytes, batchOffsets, batchMagic, batchTotalBytes } from '../../../format/record-batch.js';
import type { Acks } from '../../../broker/types.js';
import { isWeirError } from '../../../util/errors.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { CloseConnection, errorCodeOf, type HandlerContext } from './context.js';

type ProduceBody = RequestOf<typeof m.produce>;
type PartitionAnswer = NonNullable<NonNullable<ResponseInput<typeof m.produce>['responses']>[number]['partitions']>[number];

const produceServedMin = 3;
const zstdProduceMin = 7;
const zstdCodec = 4;

/** The response body, or null for acks 0 (the client expects no answer). */
export async function handleProduce(context: HandlerContext, body: ProduceBody): Promise<ResponseInput<typeof m.produce> | null> {
  const version = context.header.apiVersion;
  let acks: Acks | undefined = body.acks === 0 ? 'none' : body.acks === 1 || body.acks === -1 ? 'leader' : undefined;
  const fixed = version < produceServedMin
    ? kafkaErrors.UNSUPPORTED_VERSION
    : acks === undefined ? kafkaErrors.INVALID_REQUIRED_ACKS : kafkaErrors.NONE;
  acks ??= 'leader';
  const responses = await Promise.all(
    body.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(
        topic.partitions.map((partition): Promise<PartitionAnswer> | PartitionAnswer => {
          if (fixed !== kafkaErrors.NONE) return { index: partition.index, errorCode: fixed, baseOffset: -1n };
          return producePartition(context, { topic: topic.name, index: partition.index, records: partition.records, acks: acks! });
        }),
      ),
    })),
  );
  if (body.acks !== 0) return { responses };
  const failed = responses.flatMap((topic) => topic.partitions.filter((p) => (p.errorCode ?? kafkaErrors.NONE) !== kafkaErrors.NONE).map((p) => `${topic.name}/${p.index} (error ${p.errorCode})`));
  if (failed.length > 0) throw new CloseConnection(`a produce with acks 0 failed for ${failed.join(', ')}`);
  return null;
}

async function producePartition(
  context: HandlerContext,
  request: { topic: string; index: number; records: Buffer | null; acks: Acks },
): Promise<PartitionAnswer> {
  const { index, records } = request;
  // As Kafka checks Produce v3+ before anything else: no batch at all, or a first batch that is not
  // RecordBatch v2, is INVALID_RECORD (which clients do not retry); a damaged v2 batch is left to
  // the broker's validation (CORRUPT_MESSAGE).
  if (records === null || records.length <= batchOffsets.magic || records[batchOffsets.magic] !== batchMagic) {
    return { index, errorCode: kafkaErrors.INVALID_RECORD, baseOffset: -1n };
  }
  if (context.header.apiVersion < zstdProduceMin && usesZstd(records)) {
    return { index, errorCode: kafkaErrors.UNSUPPORTED_COMPRESSION_TYPE, baseOffset: -1n };
  }
  try {
    const result = await context.broker.produce({ topic: request.topic, partition: index, batches: records, acks: request.acks, create: false });
    return {
      index,
      baseOffset: result.baseOffset,
      logAppendTimeMs: -1n,
      logStartOffset: result.offsetStart,
    };
  } catch (error) {
    const errorCode = isWeirError(error, 'LIMIT_EXCEEDED') ? kafkaErrors.NOT_ENOUGH_REPLICAS : errorCodeOf(context, error);
    return { index, errorCode, baseOffset: -1n };
  }
}

/** Whether any whole batch in `records` is zstd-compressed (a malformed rest is left to the broker's validation). */
function usesZstd(records: Buffer): boolean {
  let position = 0;
  while (position + batchOffsets.attributes + 2 <= records.length) {
    if ((records.readInt16BE(position + batchOffsets.attributes) & 0x07) === zstdCodec) return true;
    const total = batchTotalBytes(records, position);
    if (total <= batchLogOverheadBytes) return false;
    position += total;
  }
  return false;
}
