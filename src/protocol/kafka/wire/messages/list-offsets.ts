/**
 * ListOffsets (key 2): the offset for a timestamp; -1 = latest (high watermark or last stable
 * offset), -2 = earliest. v1 answers one offset and timestamp per partition, v2 adds
 * isolation_level and throttle_time_ms, v3 is identical to v2.
 */
import type { MessageSpec } from '../schema.js';

export const listOffsetsMessage = {
  apiKey: 2,
  name: 'ListOffsets',
  versions: '1-3',
  flexible: 'none',
  request: [
    { name: 'replicaId', type: 'int32', default: -1 },
    { name: 'isolationLevel', type: 'int8', versions: '2+' },
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
            { name: 'timestamp', type: 'int64' },
          ],
        },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
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
            { name: 'errorCode', type: 'int16' },
            { name: 'timestamp', type: 'int64', default: -1n },
            { name: 'offset', type: 'int64', default: -1n },
          ],
        },
      ],
    },
  ],
} as const satisfies MessageSpec;
