/**
 * JoinGroup (key 11): a member joins a classic consumer group and offers its protocols
 * (assignors) with opaque metadata. v1 rebalance_timeout_ms, v2 throttle_time_ms, v4 allows the
 * MEMBER_ID_REQUIRED two-step join, v5 group_instance_id (static membership).
 */
import type { MessageSpec } from '../schema.js';

export const joinGroupMessage = {
  apiKey: 11,
  name: 'JoinGroup',
  versions: '0-5',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    { name: 'sessionTimeoutMs', type: 'int32' },
    { name: 'rebalanceTimeoutMs', type: 'int32', versions: '1+', default: -1 },
    { name: 'memberId', type: 'string' },
    { name: 'groupInstanceId', type: 'string', versions: '5+', nullable: '5+', default: null },
    { name: 'protocolType', type: 'string' },
    {
      name: 'protocols',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'metadata', type: 'bytes' },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    { name: 'errorCode', type: 'int16' },
    { name: 'generationId', type: 'int32', default: -1 },
    { name: 'protocolName', type: 'string' },
    { name: 'leader', type: 'string' },
    { name: 'memberId', type: 'string' },
    {
      name: 'members',
      type: '[]',
      fields: [
        { name: 'memberId', type: 'string' },
        { name: 'groupInstanceId', type: 'string', versions: '5+', nullable: '5+', default: null },
        { name: 'metadata', type: 'bytes' },
      ],
    },
  ],
} as const satisfies MessageSpec;
