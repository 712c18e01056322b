/**
 * OffsetCommit (key 8): a group commits consumed offsets. Described for 2–7: v2–v4 carry
 * retention_time_ms, v5 drops it, v6 committed_leader_epoch, v7 group_instance_id;
 * v3 adds throttle_time_ms to the response. Generation -1 with an empty member id and no group
 * instance id is a commit from outside the group (kcat's and admin tools' simple commits).
 */
import type { MessageSpec } from '../schema.js';

export const offsetCommitMessage = {
  apiKey: 8,
  name: 'OffsetCommit',
  versions: '2-7',
  flexible: 'none',
  request: [
    { name: 'groupId', type: 'string' },
    { name: 'generationId', type: 'int32', default: -1 },
    { name: 'memberId', type: 'string' },
    { name: 'groupInstanceId', type: 'string', versions: '7+', nullable: '7+', default: null },
    { name: 'retentionTimeMs', type: 'int64', versions: '2-4', default: -1n },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'partitionIndex', type: 'int32' },
            { name: 'committedOffset', type: 'int64' },
            { name: 'committedLeaderEpoch', type: 'int32', versions: '6+', default: -1 },
            { name: 'committedMetadata', type: 'string', nullable: '0+' },
          ],
        },
      ],
    },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'name', type: 'string' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'partitionIndex', type: 'int32' },
            { name: 'errorCode', type: 'int16' },
          ],
        },
      ],
    },
  ],
} as const satisfies MessageSpec;
