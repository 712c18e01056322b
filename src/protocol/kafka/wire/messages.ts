/** The registry of described Kafka messages, by name and by API key. */
import { alterConfigsMessage } from './messages/alter-configs.js';
import { apiVersionsMessage } from './messages/api-versions.js';
import { createPartitionsMessage } from './messages/create-partitions.js';
import { createTopicsMessage } from './messages/create-topics.js';
import { deleteGroupsMessage } from './messages/delete-groups.js';
import { deleteTopicsMessage } from './messages/delete-topics.js';
import { describeConfigsMessage } from './messages/describe-configs.js';
import { describeGroupsMessage } from './messages/describe-groups.js';
import { fetchMessage } from './messages/fetch.js';
import { findCoordinatorMessage } from './messages/find-coordinator.js';
import { heartbeatMessage } from './messages/heartbeat.js';
import { incrementalAlterConfigsMessage } from './messages/incremental-alter-configs.js';
import { initProducerIdMessage } from './messages/init-producer-id.js';
import { joinGroupMessage } from './messages/join-group.js';
import { leaveGroupMessage } from './messages/leave-group.js';
import { listGroupsMessage } from './messages/list-groups.js';
import { listOffsetsMessage } from './messages/list-offsets.js';
import { metadataMessage } from './messages/metadata.js';
import { offsetCommitMessage } from './messages/offset-commit.js';
import { offsetFetchMessage } from './messages/offset-fetch.js';
import { produceMessage } from './messages/produce.js';
import { syncGroupMessage } from './messages/sync-group.js';
import type { MessageSpec } from './schema.js';

export const kafkaMessages = {
  produce: produceMessage,
  fetch: fetchMessage,
  listOffsets: listOffsetsMessage,
  metadata: metadataMessage,
  offsetCommit: offsetCommitMessage,
  offsetFetch: offsetFetchMessage,
  findCoordinator: findCoordinatorMessage,
  joinGroup: joinGroupMessage,
  heartbeat: heartbeatMessage,
  leaveGroup: leaveGroupMessage,
  syncGroup: syncGroupMessage,
  describeGroups: describeGroupsMessage,
  listGroups: listGroupsMessage,
  apiVersions: apiVersionsMessage,
  createTopics: createTopicsMessage,
  deleteTopics: deleteTopicsMessage,
  initProducerId: initProducerIdMessage,
  describeConfigs: describeConfigsMessage,
  alterConfigs: alterConfigsMessage,
  createPartitions: createPartitionsMessage,
  deleteGroups: deleteGroupsMessage,
  incrementalAlterConfigs: incrementalAlterConfigsMessage,
} as const;

export type KafkaMessageName = keyof typeof kafkaMessages;

export const apiKeys = Object.fromEntries(
  Object.entries(kafkaMessages).map(([name, message]) => [name, message.apiKey]),
) as { readonly [N in KafkaMessageName]: (typeof kafkaMessages)[N]['apiKey'] };

const byKey = new Map<number, MessageSpec>(Object.values(kafkaMessages).map((message) => [message.apiKey, message]));

export function messageForKey(apiKey: number): MessageSpec | undefined {
  return byKey.get(apiKey);
}
