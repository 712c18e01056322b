/**
 * Weir's TypeScript client: the package's public entry point.
 *
 * ```ts
 * import { connect } from 'weir';
 * const client = await connect('weir://127.0.0.1:7400');
 * const producer = client.producer();
 * await producer.send('orders', { key: 'customer-1', value: JSON.stringify(order) });
 * const consumer = client.consumer({ groupId: 'billing', topics: ['orders'], from: 'earliest' });
 * for await (const message of consumer) handle(message);
 * ```
 */
export { connect, Client, clientDefaults, type ClientOptions, type ClientStatus, type StatusListener } from './client.js';
export { Producer, producerDefaults, SendError, type ProducerOptions, type SendCallback } from './producer.js';
export { Consumer, consumerDefaults, type ConsumerOptions, type CommitOffset, type StartPosition, type TopicPartition } from './consumer.js';
export { Admin, type GroupListing, type GroupDescription, type TopicConfig, type TopicDescription, type SubscriptionDescription, type DeadLetter, type OffsetReset, type OffsetResetTarget } from './admin.js';
export {
  QueueConsumer,
  queueConsumerDefaults,
  settleDelayMsMax,
  type QueueConsumerOptions,
  type QueueMessage,
  type QueueSubscriptionConfig,
  type RedeliveryBackoff,
} from './queue-consumer.js';
export type { ProducerMessage, ConsumerMessage, RecordMetadata, Bytes } from './message.js';
export type { RecordHeader } from '../format/record-batch.js';
export type { CompressionName } from '../format/compression.js';
export { WeirError, isWeirError, errorCatalog, type ErrorCode } from '../util/errors.js';
export { murmur2, partitionForKey } from '../format/partitioner.js';
