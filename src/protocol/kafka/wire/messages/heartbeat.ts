/**
 * Heartbeat (key 12): a member says it is alive; REBALANCE_IN_PROGRESS tells it to rejoin.
 * v1 throttle_time_ms, v2 same, v3 group_instance_id.
 */
import type { MessageSpec } from '../schema.js';

export const heartbeatMessage = {
  apiKey: 12,
  name: 'Heartbeat',
  versions: '0-3',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    { name: 'generationId', type: 'int32' },
    { name: 'memberId', type: 'string' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullable: '3+', default: null },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16' },
  ],
} as const satisfies MessageSpec;
