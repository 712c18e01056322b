/**
 * Fetch (key 1): read record batches from partitions, long-polling up to max_wait_ms.
 * v4 isolation_level, last_stable_offset, aborted_transactions; v5 log_start_offset;
 * v7 fetch sessions (clients send session 0 / epoch -1: full fetches) and a top-level error;
 * v9 current_leader_epoch; v10 may carry zstd; v11 rack_id and preferred_read_replica.
 * Only 4–11 are described: below 4 the records would be the legacy message set.
 */
import type { MessageSpec } from '../schema.js';

export const fetchMessage = {
  apiKey: 1,
  name: 'Fetch',
  versions: '4-11',
  flexible: 'none',
  request: [
    { name: 'replicaId', type: 'int32', default: -1 },
    { name: 'maxWaitMs', type: 'int32' },
    { name: 'minBytes', type: 'int32' },
    { name: 'maxBytes', type: 'int32', versions: '3+', default: 0x7fffffff },
    { name: 'isolationLevel', type: 'int8', versions: '4+' },
    { name: 'sessionId', type: 'int32', versions: '7+' },
    { name: 'sessionEpoch', type: 'int32', versions: '7+', default: -1 },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'topic', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'partition', type: 'int32' },
            { name: 'currentLeaderEpoch', type: 'int32', versions: '9+', default: -1 },
            { name: 'fetchOffset', type: 'int64' },
            { name: 'logStartOffset', type: 'int64', versions: '5+', default: -1n },
            { name: 'partitionMaxBytes', type: 'int32' },
          ],
        },
      ],
    },
    {
      name: 'forgottenTopicsData',
      type: '[]',
      versions: '7+',
      fields: [
        { name: 'topic', type: 'string' },
        { name: 'partitions', type: '[]int32' },
      ],
    },
    { name: 'rackId', type: 'string', versions: '11+' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '7+' },
    { name: 'sessionId', type: 'int32', versions: '7+' },
    {
      name: 'responses',
      type: '[]',
      fields: [
        { name: 'topic', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'partitionIndex', type: 'int32' },
            { name: 'errorCode', type: 'int16' },
            { name: 'highWatermark', type: 'int64' },
            { name: 'lastStableOffset', type: 'int64', versions: '4+', default: -1n },
            { name: 'logStartOffset', type: 'int64', versions: '5+', default: -1n },
            {
              name: 'abortedTransactions',
              type: '[]',
              versions: '4+',
              nullable: '4+',
              fields: [
                { name: 'producerId', type: 'int64' },
                { name: 'firstOffset', type: 'int64' },
              ],
            },
            { name: 'preferredReadReplica', type: 'int32', versions: '11+', default: -1 },
            { name: 'records', type: 'records', nullable: '0+' },
          ],
        },
      ],
    },
  ],
} as const satisfies MessageSpec;
