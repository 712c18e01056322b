/**
 * Fetch: one long-polling broker fetch over every requested partition (max wait, min bytes,
 * max bytes), answered as stored batches; min bytes 0 is answered at once, as in Kafka. Sessions
 * are not kept: clients send session 0 / epoch -1 (full fetches) and get session 0 back. Without
 * transactions the last stable offset is the high watermark and there are no aborted transactions.
 * Fetch below v10 must not carry zstd: such a partition is answered UNSUPPORTED_COMPRESSION_TYPE,
 * as Kafka does. A failure of the whole fetch is put on every requested partition, and from v7 also
 * on the top-level error code, as Kafka answers below Fetch v13: v4–v6 have no top-level code.
 */
import type { FetchPartitionRequest, FetchPartitionResult } from '../../../broker/types.js';
import { batchOffsets, batchPositions } from '../../../format/record-batch.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, type HandlerContext } from './context.js';

type FetchBody = RequestOf<typeof m.fetch>;

const zstdFetchMin = 10;
/** The most one fetch response carries, whatever the client asks (Kafka's broker `fetch.max.bytes` default, 55 MiB). */
export const fetchResponseBytesMax = 57_671_680;
const zstdCodec = 4;

function holdsZstd(records: Buffer): boolean {
  for (const { position } of batchPositions(records)) {
    if (position + batchOffsets.attributes + 2 > records.length) break;
    if ((records.readInt16BE(position + batchOffsets.attributes) & 0x07) === zstdCodec) return true;
  }
  return false;
}

export async function handleFetch(context: HandlerContext, body: FetchBody): Promise<ResponseInput<typeof m.fetch>> {
  const partitions: FetchPartitionRequest[] = [];
  for (const topic of body.topics) {
    for (const partition of topic.partitions) {
      partitions.push({
        topic: topic.topic,
        partition: partition.partition,
        offset: partition.fetchOffset,
        bytesMax: Math.max(0, partition.partitionMaxBytes),
      });
    }
  }
  // A min_bytes of 0 asks for an answer at once, with whatever is there (the protocol guide: "the
  // server will always respond immediately"); the broker's fetch waits for at least one byte.
  const waitMs = body.minBytes <= 0 ? 0 : Math.max(0, body.maxWaitMs);
  let results: FetchPartitionResult[];
  try {
    results = await context.broker.fetch(
      { partitions, waitMs, bytesMin: Math.max(1, body.minBytes), bytesMaxTotal: Math.min(Math.max(1, body.maxBytes), fetchResponseBytesMax) },
      context.signal,
    );
  } catch (error) {
    return failedFetch(body, errorCodeOf(context, error));
  }
  // Group the results by topic again, in the order of the request.
  const byTopic = new Map<string, NonNullable<ResponseInput<typeof m.fetch>['responses']>[number]>();
  for (const result of results) {
    let entry = byTopic.get(result.topic);
    if (entry === undefined) {
      entry = { topic: result.topic, partitions: [] };
      byTopic.set(result.topic, entry);
    }
    const zstdRefused = context.header.apiVersion < zstdFetchMin && holdsZstd(result.records);
    entry.partitions!.push({
      partitionIndex: result.partition,
      errorCode: zstdRefused
        ? kafkaErrors.UNSUPPORTED_COMPRESSION_TYPE
        : result.error === undefined ? kafkaErrors.NONE : errorCodeOf(context, result.error),
      highWatermark: result.highWatermark,
      lastStableOffset: result.highWatermark,
      logStartOffset: result.offsetStart,
      abortedTransactions: [],
      records: zstdRefused ? Buffer.alloc(0) : result.records,
    });
  }
  return { responses: [...byTopic.values()] };
}

/** The answer to a fetch that failed as a whole: every requested partition carries the error. */
function failedFetch(body: FetchBody, errorCode: number): ResponseInput<typeof m.fetch> {
  return {
    errorCode,
    responses: body.topics.map((topic) => ({
      topic: topic.topic,
      partitions: topic.partitions.map((partition) => ({
        partitionIndex: partition.partition,
        errorCode,
        highWatermark: -1n,
        lastStableOffset: -1n,
        logStartOffset: -1n,
        abortedTransactions: [],
        records: Buffer.alloc(0),
      })),
    })),
  };
}
