/**
 * ApiVersions, Metadata and FindCoordinator: what a client learns about the (single-node) cluster.
 * Every partition is led by this node, whose advertised host and port the client connects to.
 * Metadata for an unknown topic creates it when the client allows it and the broker auto-creates
 * topics; otherwise the topic is answered UNKNOWN_TOPIC_OR_PARTITION.
 */
import type { TopicDescription } from '../../../broker/types.js';
import { isWeirError } from '../../../util/errors.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { advertisedVersions } from '../wire/versions.js';
import { errorCodeOf, type HandlerContext } from './context.js';

type TopicAnswer = NonNullable<ResponseInput<typeof m.metadata>['topics']>[number];

export function handleApiVersions(): ResponseInput<typeof m.apiVersions> {
  return { apiKeys: advertisedVersions.map((entry) => ({ ...entry })) };
}

export async function handleMetadata(context: HandlerContext, body: RequestOf<typeof m.metadata>): Promise<ResponseInput<typeof m.metadata>> {
  const everything = body.topics === null || (context.header.apiVersion === 0 && body.topics.length === 0);
  const topics: TopicAnswer[] = everything
    ? context.broker.listTopics({ includeInternal: true }).map((topic) => describeTopic(context, topic))
    : await Promise.all(body.topics!.map((topic) => topicMetadata(context, topic.name, body.allowAutoTopicCreation)));
  return {
    brokers: [{ nodeId: context.nodeId, host: context.advertisedHost, port: context.advertisedPort }],
    clusterId: context.clusterId,
    controllerId: context.nodeId,
    topics,
  };
}

async function topicMetadata(context: HandlerContext, name: string, create: boolean): Promise<TopicAnswer> {
  try {
    return describeTopic(context, context.broker.describeTopic(name));
  } catch (error) {
    if (!create || !isWeirError(error, 'UNKNOWN_TOPIC')) return { name, errorCode: errorCodeOf(context, error) };
  }
  try {
    return describeTopic(context, await context.broker.ensureTopic(name));
  } catch (error) {
    return { name, errorCode: errorCodeOf(context, error) };
  }
}

function describeTopic(context: HandlerContext, topic: TopicDescription): TopicAnswer {
  const node = [context.nodeId];
  return {
    name: topic.name,
    isInternal: topic.internal,
    partitions: topic.partitions.map((partition) => ({
      partitionIndex: partition.partition,
      leaderId: context.nodeId,
      replicaNodes: node,
      isrNodes: node,
    })),
  };
}

/** Kafka's coordinator key types below share groups (KIP-932), which Weir does not have. */
const coordinatorKeyTypes = { group: 0, transaction: 1 } as const;

/**
 * Groups (and, nominally, transactions) are coordinated by this node. Any other key type gets
 * INVALID_REQUEST, as Kafka answers a key type it does not know.
 */
export function handleFindCoordinator(context: HandlerContext, body: RequestOf<typeof m.findCoordinator>): ResponseInput<typeof m.findCoordinator> {
  if (body.keyType !== coordinatorKeyTypes.group && body.keyType !== coordinatorKeyTypes.transaction) {
    return { errorCode: kafkaErrors.INVALID_REQUEST, errorMessage: `unknown coordinator key type ${body.keyType}`, nodeId: -1, host: '', port: -1 };
  }
  return { nodeId: context.nodeId, host: context.advertisedHost, port: context.advertisedPort };
}
