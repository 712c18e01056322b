/**
 * CreateTopics, DeleteTopics and InitProducerId. Topic configs are Kafka's names mapped onto
 * Weir's TopicConfig; an unknown config is refused (INVALID_CONFIG) rather than ignored.
 * Replication factor must be 1 (or -1, the default) on a single node. Transactional producers
 * are not supported: InitProducerId with a transactional id is refused.
 */
import type { TopicConfig } from '../../../broker/types.js';
import { WeirError } from '../../../util/errors.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, errorMessageOf, type HandlerContext } from './context.js';

const configNames = {
  'retention.ms': 'retentionMs',
  'retention.bytes': 'retentionBytes',
  'max.message.bytes': 'messageBytesMax',
  'segment.bytes': 'segmentBytesMax',
  'segment.ms': 'segmentAgeMsMax',
} as const satisfies Record<string, keyof TopicConfig>;

type CreateTopic = RequestOf<typeof m.createTopics>['topics'][number];

function topicConfigOf(topic: CreateTopic): Partial<TopicConfig> {
  const config: Partial<TopicConfig> = {};
  if (topic.numPartitions > 0) config.partitions = topic.numPartitions;
  else if (topic.numPartitions !== -1) throw new WeirError('INVALID_CONFIG', `partitions ${topic.numPartitions} must be at least 1`);
  if (topic.replicationFactor !== -1 && topic.replicationFactor !== 1) {
    throw new WeirError('INVALID_CONFIG', `replication factor ${topic.replicationFactor}: this node serves replication factor 1`);
  }
  if (topic.assignments.length > 0) throw new WeirError('INVALID_CONFIG', 'manual replica assignments are not supported');
  for (const entry of topic.configs) {
    const key = configNames[entry.name as keyof typeof configNames];
    if (key === undefined) throw new WeirError('INVALID_CONFIG', `topic config ${entry.name} is not supported`);
    const value = entry.value === null ? null : Number(entry.value);
    if (value !== null && !Number.isSafeInteger(value)) throw new WeirError('INVALID_CONFIG', `${entry.name}=${entry.value} is not an integer`);
    const keepForever = value === null || value < 0;
    (config as Record<string, number | null>)[key] = keepForever && (key === 'retentionMs' || key === 'retentionBytes') ? null : value;
  }
  return config;
}

export async function handleCreateTopics(context: HandlerContext, body: RequestOf<typeof m.createTopics>): Promise<ResponseInput<typeof m.createTopics>> {
  return {
    topics: await Promise.all(
      body.topics.map(async (topic) => {
        try {
          const config = topicConfigOf(topic);
          if (!body.validateOnly) await context.broker.createTopic(topic.name, config);
          return { name: topic.name };
        } catch (error) {
          const code = errorCodeOf(context, error);
          const errorCode = code === kafkaErrors.INVALID_CONFIG && /replication/.test(errorMessageOf(error))
            ? kafkaErrors.INVALID_REPLICATION_FACTOR
            : code;
          return { name: topic.name, errorCode, errorMessage: errorMessageOf(error) };
        }
      }),
    ),
  };
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

export async function handleInitProducerId(context: HandlerContext, body: RequestOf<typeof m.initProducerId>): Promise<ResponseInput<typeof m.initProducerId>> {
  if (body.transactionalId !== null) return { errorCode: kafkaErrors.INVALID_REQUEST };
  try {
    const { producerId, producerEpoch } = await context.broker.initProducerId();
    return { producerId, producerEpoch };
  } catch (error) {
    return { errorCode: errorCodeOf(context, error) };
  }
}
