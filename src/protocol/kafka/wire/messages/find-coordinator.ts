/**
 * FindCoordinator (key 10): which broker coordinates a group (key_type 0) or a transaction
 * (key_type 1). v1 adds key_type, throttle_time_ms and error_message; v2 is identical to v1.
 */
import type { MessageSpec } from '../schema.js';

export const findCoordinatorMessage = {
  apiKey: 10,
  name: 'FindCoordinator',
  versions: '0-2',
  flexible: 'none',
  request: [
    { name: 'key', type: 'string' },
    { name: 'keyType', type: 'int8', versions: '1+' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16' },
    { name: 'errorMessage', type: 'string', versions: '1+', nullable: '1+', default: null },
    { name: 'nodeId', type: 'int32' },
    { name: 'host', type: 'string' },
    { name: 'port', type: 'int32' },
  ],
} as const satisfies MessageSpec;
