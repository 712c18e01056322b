/**
 * Produce (key 0): record batches for partitions. v3 adds transactional_id and requires
 * RecordBatch v2; v4–v6 are identical to v3; v7 allows zstd. Response: v1 throttle_time_ms,
 * v2 log_append_time_ms, v5 log_start_offset. Weir advertises 0–7 but serves 3–7 (see
 * versions.ts for why v0 must be advertised); v0–v2 are decoded only to answer UNSUPPORTED_VERSION.
 */
import type { MessageSpec } from '../schema.js';

export const produceMessage = {
  apiKey: 0,
  name: 'Produce',
  versions: '0-7',
  flexible: 'none',
  request: [
    { name: 'transactionalId', type: 'string', versions: '3+', nullable: '3+', default: null },
    { name: 'acks', type: 'int16' },
    { name: 'timeoutMs', type: 'int32' },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'index', type: 'int32' },
            { name: 'records', type: 'records', nullable: '0+' },
          ],
        },
      ],
    },
  ],
  response: [
    {
      name: 'responses',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'index', type: 'int32' },
            { name: 'errorCode', type: 'int16' },
            { name: 'baseOffset', type: 'int64' },
            { name: 'logAppendTimeMs', type: 'int64', versions: '2+', default: -1n },
            { name: 'logStartOffset', type: 'int64', versions: '5+', default: -1n },
          ],
        },
      ],
    },
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
  ],
} as const satisfies MessageSpec;
