/** ListGroups (key 16). v1 adds throttle_time_ms; v2 same. */
import type { MessageSpec } from '../schema.js';

export const listGroupsMessage = {
  apiKey: 16,
  name: 'ListGroups',
  versions: '0-2',
  flexible: 'none',
  request: [],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16' },
    {
      name: 'groups',
      type: '[]',
      fields: [
        { name: 'groupId', type: 'string' },
        { name: 'protocolType', type: 'string' },
      ],
    },
  ],
} as const satisfies MessageSpec;
