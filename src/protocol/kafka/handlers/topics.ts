/**
 * CreateTopics, CreatePartitions, DeleteTopics and InitProducerId. Topic configs are Kafka's names
 * mapped onto Weir's TopicConfig (topic-configs.ts); an unknown config is refused (INVALID_CONFIG)
 * rather than ignored. Replication factor must be 1 (or -1, the default) on a single node; a
 * partition count outside 1..10,000 is refused with INVALID_PARTITIONS and manual replica
 * assignments with INVALID_REPLICA_ASSIGNMENT, as in CreatePartitions. Transactional producers are not supported:
 * InitProducerId with a transactional id is refused with an error that clients treat as fatal.
 */
import { partitionsMax } from '../../../broker/topic-config.js';
import type { TopicConfig } from '../../../broker/types.js';
import { WeirError } from '../../../util/errors.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, errorMessageOf, KafkaRefusal, repeatedNames, type HandlerContext } from './context.js';
import { inKafkaTerms, topicConfigChanges } from './topic-configs.js';

type CreateTopic = RequestOf<typeof m.createTopics>['topics'][number];

function topicConfigOf(topic: CreateTopic): Partial<TopicConfig> {
  if (topic.numPartitions !== -1 && (topic.numPartitions < 1 || topic.numPartitions > partitionsMax)) {
    throw new KafkaRefusal(kafkaErrors.INVALID_PARTITIONS, `partitions ${topic.numPartitions} must be between 1 and ${partitionsMax}`);
  }
  if (topic.replicationFactor !== -1 && topic.replicationFactor !== 1) {
    throw new KafkaRefusal(kafkaErrors.INVALID_REPLICATION_FACTOR, `replication factor ${topic.replicationFactor}: this node serves replication factor 1`);
  }
  if (topic.assignments.length > 0) {
    throw new KafkaRefusal(kafkaErrors.INVALID_REPLICA_ASSIGNMENT, 'manual replica assignments are not supported: this node holds every partition');
  }
  const config = topicConfigChanges(topic.configs);
  if (topic.numPartitions !== -1) config.partitions = topic.numPartitions;
  return config;
}

export async function handleCreateTopics(context: HandlerContext, body: RequestOf<typeof m.createTopics>): Promise<ResponseInput<typeof m.createTopics>> {
  const repeated = repeatedNames(body.topics.map((topic) => topic.name));
  return {
    topics: await Promise.all(
      body.topics.map(async (topic) => {
        try {
          // As Kafka does: a name given twice creates neither.
          if (repeated.has(topic.name)) throw new WeirError('INVALID_REQUEST', `topic ${topic.name} appears more than once in the request`);
          const config = topicConfigOf(topic);
          await context.broker.createTopic(topic.name, config, { validateOnly: body.validateOnly });
          return { name: topic.name };
        } catch (error) {
          return { name: topic.name, errorCode: errorCodeOf(context, error), errorMessage: inKafkaTerms(errorMessageOf(error)) };
        }
      }),
    ),
  };
}

type GrowTopic = RequestOf<typeof m.createPartitions>['topics'][number];

/**
 * Grows each topic to `count` partitions. A count at or below the current one is refused with
 * INVALID_PARTITIONS, as Kafka does; the broker places new partitions itself (on this node), so
 * manual assignments are refused with INVALID_REPLICA_ASSIGNMENT.
 */
export async function handleCreatePartitions(context: HandlerContext, body: RequestOf<typeof m.createPartitions>): Promise<ResponseInput<typeof m.createPartitions>> {
  const repeated = repeatedNames(body.topics.map((topic) => topic.name));
  return {
    results: await Promise.all(
      body.topics.map(async (topic) => {
        try {
          if (repeated.has(topic.name)) throw new WeirError('INVALID_REQUEST', `topic ${topic.name} appears more than once in the request`);
          await growTopic(context, topic, body.validateOnly);
          return { name: topic.name };
        } catch (error) {
          const code = errorCodeOf(context, error);
          // The partition count is the only change, so an invalid configuration is an invalid count.
          const errorCode = code === kafkaErrors.INVALID_CONFIG ? kafkaErrors.INVALID_PARTITIONS : code;
          return { name: topic.name, errorCode, errorMessage: errorMessageOf(error) };
        }
      }),
    ),
  };
}

async function growTopic(context: HandlerContext, topic: GrowTopic, validateOnly: boolean): Promise<void> {
  if (topic.assignments !== null && topic.assignments.length > 0) {
    throw new KafkaRefusal(kafkaErrors.INVALID_REPLICA_ASSIGNMENT, 'manual replica assignments are not supported: this node holds every partition');
  }
  const current = context.broker.describeTopic(topic.name);
  if (current.internal) throw new WeirError('INVALID_TOPIC', `topic ${topic.name} is internal to Weir and cannot be altered`);
  const count = current.partitions.length;
  if (topic.count <= count) {
    const what = topic.count === count ? 'already has' : 'has';
    throw new KafkaRefusal(kafkaErrors.INVALID_PARTITIONS, `topic ${topic.name} ${what} ${count} partitions: the count can only grow (asked for ${topic.count})`);
  }
  // The broker checks the count again: a shrink racing with this request is still refused.
  await context.broker.alterTopic(topic.name, { partitions: topic.count }, { validateOnly });
}

export async function handleDeleteTopics(context: HandlerContext, body: RequestOf<typeof m.deleteTopics>): Promise<ResponseInput<typeof m.deleteTopics>> {
  return {
    responses: await Promise.all(
      body.topicNames.map(async (name) => {
        try {
          await context.broker.deleteTopic(name);
          return { name };
        } catch (error) {
          return { name, errorCode: errorCodeOf(context, error) };
        }
      }),
    ),
  };
}

/**
 * A transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED: the one refusal that both
 * librdkafka (init_transactions) and the Java client treat as fatal at once, and that kafkajs does
 * not retry either; INVALID_REQUEST or UNSUPPORTED_VERSION would be retried until the client's
 * timeout. A refusal carries producer id -1 and epoch -1, as Kafka's does.
 */
export async function handleInitProducerId(context: HandlerContext, body: RequestOf<typeof m.initProducerId>): Promise<ResponseInput<typeof m.initProducerId>> {
  if (body.transactionalId !== null) return initProducerIdRefusal(kafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  try {
    const { producerId, producerEpoch } = await context.broker.initProducerId();
    return { producerId, producerEpoch };
  } catch (error) {
    return initProducerIdRefusal(errorCodeOf(context, error));
  }
}

function initProducerIdRefusal(errorCode: number): ResponseInput<typeof m.initProducerId> {
  return { errorCode, producerId: -1n, producerEpoch: -1 };
}
