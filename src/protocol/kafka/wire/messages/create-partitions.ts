/**
 * CreatePartitions (key 37): grow topics to a new partition count. v1 is the same as v0; v2 is
 * flexible; v3 is the same as v2. `assignments` is null (or empty) when the broker places the
 * new partitions itself.
 */
import type { MessageSpec } from '../schema.js';

export const createPartitionsMessage = {
  apiKey: 37,
  name: 'CreatePartitions',
  versions: '0-3',
  flexible: '2+',
  request: [
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'count', type: 'int32' },
        {
          name: 'assignments',
          type: '[]',
          nullable: '0+',
          fields: [{ name: 'brokerIds', type: '[]int32' }],
        },
      ],
    },
    { name: 'timeoutMs', type: 'int32' },
    { name: 'validateOnly', type: 'bool' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32' },
    {
      name: 'results',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'errorCode', type: 'int16' },
        { name: 'errorMessage', type: 'string', nullable: '0+', default: null },
      ],
    },
  ],
} as const satisfies MessageSpec;
