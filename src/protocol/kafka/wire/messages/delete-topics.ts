/** DeleteTopics (key 20). v1 adds throttle_time_ms; v2, v3 same. */
import type { MessageSpec } from '../schema.js';

export const deleteTopicsMessage = {
  apiKey: 20,
  name: 'DeleteTopics',
  versions: '0-3',
  flexible: 'none',
  request: [
    { name: 'topicNames', type: '[]string' },
    { name: 'timeoutMs', type: 'int32' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    {
      name: 'responses',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'errorCode', type: 'int16' },
      ],
    },
  ],
} as const satisfies MessageSpec;
