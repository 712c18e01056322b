/**
 * Metadata (key 3): brokers, controller and the partitions of the named topics.
 * Request topics: v0 an empty array means all topics; v1+ null means all, empty means none.
 * v1 rack/controller/is_internal, v2 cluster_id, v3 throttle, v4 allow_auto_topic_creation,
 * v5 offline_replicas, v6 same as v5.
 */
import type { MessageSpec } from '../schema.js';

export const metadataMessage = {
  apiKey: 3,
  name: 'Metadata',
  versions: '0-6',
  flexible: 'none',
  request: [
    { name: 'topics', type: '[]', nullable: '1+', fields: [{ name: 'name', type: 'string' }] },
    { name: 'allowAutoTopicCreation', type: 'bool', versions: '4+', default: true },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'brokers',
      type: '[]',
      fields: [
        { name: 'nodeId', type: 'int32' },
        { name: 'host', type: 'string' },
        { name: 'port', type: 'int32' },
        { name: 'rack', type: 'string', versions: '1+', nullable: '1+', default: null },
      ],
    },
    { name: 'clusterId', type: 'string', versions: '2+', nullable: '2+', default: null },
    { name: 'controllerId', type: 'int32', versions: '1+', default: -1 },
    {
      name: 'topics',
      type: '[]',
      fields: [
        { name: 'errorCode', type: 'int16' },
        { name: 'name', type: 'string' },
        { name: 'isInternal', type: 'bool', versions: '1+' },
        {
          name: 'partitions',
          type: '[]',
          fields: [
            { name: 'errorCode', type: 'int16' },
            { name: 'partitionIndex', type: 'int32' },
            { name: 'leaderId', type: 'int32' },
            { name: 'replicaNodes', type: '[]int32' },
            { name: 'isrNodes', type: '[]int32' },
            { name: 'offlineReplicas', type: '[]int32', versions: '5+' },
          ],
        },
      ],
    },
  ],
} as const satisfies MessageSpec;
