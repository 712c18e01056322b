/** What every route handler shares: the broker and the front end's long-lived helpers. */
import type { BrokerApi, QueueBrokerApi } from '../../broker/types.js';
import type { Logger } from '../../util/logger.js';
import type { RequestBodies } from './json-body.js';
import type { HttpProducer } from './produce.js';
import type { QueueConsumers } from './queue-consumers.js';
import type { GroupReaders } from './stream-read.js';

export type HttpBroker = BrokerApi & QueueBrokerApi;

export interface HttpContext {
  broker: HttpBroker;
  producer: HttpProducer;
  groups: GroupReaders;
  queues: QueueConsumers;
  /** Reads request bodies under the per-body and all-bodies bounds. */
  bodies: RequestBodies;
  logger: Logger;
  /** True once the listener began closing (readiness answers 503). */
  closing(): boolean;
}
