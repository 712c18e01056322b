/**
 * SyncGroup (key 14): the leader hands over the assignment; every member receives its own.
 * v1 throttle_time_ms, v2 same, v3 group_instance_id.
 */
import type { MessageSpec } from '../schema.js';

export const syncGroupMessage = {
  apiKey: 14,
  name: 'SyncGroup',
  versions: '0-3',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    { name: 'generationId', type: 'int32' },
    { name: 'memberId', type: 'string' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullable: '3+', default: null },
    {
      name: 'assignments',
      type: '[]',
      fields: [
        { name: 'memberId', type: 'string' },
        { name: 'assignment', type: 'bytes' },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16' },
    { name: 'assignment', type: 'bytes' },
  ],
} as const satisfies MessageSpec;
