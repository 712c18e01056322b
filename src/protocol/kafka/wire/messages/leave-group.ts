/**
 * LeaveGroup (key 13): members leave a group. v0–v2 name one member; v3 a batch of members
 * (member id and group instance id), answered per member.
 */
import type { MessageSpec } from '../schema.js';

export const leaveGroupMessage = {
  apiKey: 13,
  name: 'LeaveGroup',
  versions: '0-3',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    { name: 'memberId', type: 'string', versions: '0-2' },
    {
      name: 'members',
      type: '[]',
      versions: '3+',
      fields: [
        { name: 'memberId', type: 'string' },
        { name: 'groupInstanceId', type: 'string', nullable: '0+', default: null },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16' },
    {
      name: 'members',
      type: '[]',
      versions: '3+',
      fields: [
        { name: 'memberId', type: 'string' },
        { name: 'groupInstanceId', type: 'string', nullable: '0+', default: null },
        { name: 'errorCode', type: 'int16' },
      ],
    },
  ],
} as const satisfies MessageSpec;
