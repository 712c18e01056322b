/**
 * DescribeGroups (key 15). v1 throttle_time_ms, v3 authorized operations, v4 group_instance_id.
 */
import type { MessageSpec } from '../schema.js';

export const describeGroupsMessage = {
  apiKey: 15,
  name: 'DescribeGroups',
  versions: '0-4',
  flexible: 'none',
  request: [
    { name: 'groups', type: '[]string' },
    { name: 'includeAuthorizedOperations', type: 'bool', versions: '3+' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    {
      name: 'groups',
      type: '[]',
      fields: [
        { name: 'errorCode', type: 'int16' },
        { name: 'groupId', type: 'string' },
        { name: 'groupState', type: 'string' },
        { name: 'protocolType', type: 'string' },
        { name: 'protocolData', type: 'string' },
        {
          name: 'members',
          type: '[]',
          fields: [
            { name: 'memberId', type: 'string' },
            { name: 'groupInstanceId', type: 'string', versions: '4+', nullable: '4+', default: null },
            { name: 'clientId', type: 'string' },
            { name: 'clientHost', type: 'string' },
            { name: 'memberMetadata', type: 'bytes' },
            { name: 'memberAssignment', type: 'bytes' },
          ],
        },
        { name: 'authorizedOperations', type: 'int32', versions: '3+', default: -2147483648 },
      ],
    },
  ],
} as const satisfies MessageSpec;
