/**
 * CreateTopics (key 19). v1 validate_only and error_message; v2 throttle_time_ms; v3, v4 same
 * (v4: num_partitions / replication_factor -1 mean the broker's defaults).
 */
import type { MessageSpec } from '../schema.js';

export const createTopicsMessage = {
  apiKey: 19,
  name: 'CreateTopics',
  versions: '0-4',
  flexible: 'none',
  request: [
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'numPartitions', type: 'int32' },
        { name: 'replicationFactor', type: 'int16' },
        {
          name: 'assignments',
          type: '[]',
          fields: [
            { name: 'partitionIndex', type: 'int32' },
            { name: 'brokerIds', type: '[]int32' },
          ],
        },
        {
          name: 'configs',
          type: '[]',
          fields: [
            { name: 'name', type: 'string' },
            { name: 'value', type: 'string', nullable: '0+' },
          ],
        },
      ],
    },
    { name: 'timeoutMs', type: 'int32' },
    { name: 'validateOnly', type: 'bool', versions: '1+' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'errorCode', type: 'int16' },
        { name: 'errorMessage', type: 'string', versions: '1+', nullable: '0+', default: null },
      ],
    },
  ],
} as const satisfies MessageSpec;
