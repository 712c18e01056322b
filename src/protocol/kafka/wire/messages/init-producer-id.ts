/** InitProducerId (key 22): a producer id and epoch for an idempotent producer. v1 same as v0. */
import type { MessageSpec } from '../schema.js';

export const initProducerIdMessage = {
  apiKey: 22,
  name: 'InitProducerId',
  versions: '0-1',
  flexible: 'none',
  request: [
    { name: 'transactionalId', type: 'string', nullable: '0+', default: null },
    { name: 'transactionTimeoutMs', type: 'int32' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32' },
    { name: 'errorCode', type: 'int16' },
    { name: 'producerId', type: 'int64', default: -1n },
    { name: 'producerEpoch', type: 'int16' },
  ],
} as const satisfies MessageSpec;
