/**
 * OffsetFetch (key 9): a group's committed offsets. Described for 1–5: v2 adds a top-level
 * error and null topics = all; v3 throttle_time_ms; v5 committed_leader_epoch. Kept at 5 or
 * below: librdkafka 2.0.2 would switch to the flexible v6/v7 if they were advertised.
 */
import type { MessageSpec } from '../schema.js';

export const offsetFetchMessage = {
  apiKey: 9,
  name: 'OffsetFetch',
  versions: '1-5',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    {
      name: 'topics',
      type: '[]',
      nullable: '2+',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'partitionIndexes', type: '[]int32' },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'partitionIndex', type: 'int32' },
            { name: 'committedOffset', type: 'int64' },
            { name: 'committedLeaderEpoch', type: 'int32', versions: '5+', default: -1 },
            { name: 'metadata', type: 'string', nullable: '0+' },
            { name: 'errorCode', type: 'int16' },
          ],
        },
      ],
    },
    { name: 'errorCode', type: 'int16', versions: '2+' },
  ],
} as const satisfies MessageSpec;
