/** DeleteGroups (key 42): forget groups and their committed offsets. v1 is the same as v0; v2 is flexible. */
import type { MessageSpec } from '../schema.js';

export const deleteGroupsMessage = {
  apiKey: 42,
  name: 'DeleteGroups',
  versions: '0-2',
  flexible: '2+',
  request: [{ name: 'groupsNames', type: '[]string' }],
  response: [
    { name: 'throttleTimeMs', type: 'int32' },
    {
      name: 'results',
      type: '[]',
      fields: [
        { name: 'groupId', type: 'string' },
        { name: 'errorCode', type: 'int16' },
      ],
    },
  ],
} as const satisfies MessageSpec;
