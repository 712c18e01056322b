/**
 * Queue receives over HTTP. A QueueConsumer releases its leases when it closes, so a consumer per
 * request would take back every message as soon as it was answered. Instead the front end keeps
 * one long-lived consumer per (topic, subscription), opened on first use and closed when the
 * listener closes (or the subscription or topic is deleted through HTTP). Its leases end by the
 * subscription's ack timeout when an HTTP client never settles them.
 */
import type { QueueConsumer, QueueDelivery, QueueSettlement } from '../../broker/types.js';
import { decodeBatches } from '../../format/record-batch.js';
import { WeirError } from '../../util/errors.js';
import { decompressedBytesMax, encodeReceipt, recordJson, type Encoding, type MessageJson } from './message-json.js';
import type { HttpBroker } from './http-context.js';
import type { MessageSource } from './stream-read.js';

/** Shared consumers at once (one per topic and subscription used over HTTP). */
export const sharedQueueConsumersMax = 1_000;

export class QueueConsumers {
  readonly #broker: HttpBroker;
  readonly #consumers = new Map<string, Promise<QueueConsumer>>();
  #closed = false;

  constructor(broker: HttpBroker) {
    this.#broker = broker;
  }

  #key(topic: string, subscription: string): string {
    return `${topic}\u0000${subscription}`;
  }

  /** The shared consumer; the subscription must exist (UNKNOWN_SUBSCRIPTION otherwise). */
  consumer(topic: string, subscription: string): Promise<QueueConsumer> {
    if (this.#closed) throw new WeirError('SHUTTING_DOWN', 'the HTTP listener is closing');
    const key = this.#key(topic, subscription);
    const existing = this.#consumers.get(key);
    if (existing !== undefined) return existing;
    this.#broker.describeSubscription(topic, subscription); // throws UNKNOWN_SUBSCRIPTION / UNKNOWN_TOPIC
    if (this.#consumers.size >= sharedQueueConsumersMax) {
      throw new WeirError('LIMIT_EXCEEDED', `the HTTP front end holds its maximum of ${sharedQueueConsumersMax} queue consumers`);
    }
    const opening = this.#broker.openQueueConsumer({ topic, subscription });
    this.#consumers.set(key, opening);
    opening.catch(() => {
      if (this.#consumers.get(key) === opening) this.#consumers.delete(key);
    });
    return opening;
  }

  /** A source over the shared consumer; throws UNKNOWN_SUBSCRIPTION now rather than on first read. */
  source(topic: string, subscription: string, encoding: Encoding): MessageSource {
    this.#broker.describeSubscription(topic, subscription);
    return {
      read: async (max, waitMs, signal) => {
        const consumer = await this.consumer(topic, subscription);
        return deliveriesJson(await consumer.receive(max, waitMs, signal), encoding);
      },
      close: async () => {},
    };
  }

  settle(topic: string, subscription: string, settlements: QueueSettlement[]): Promise<(WeirError | null)[]> {
    return this.#broker.settle(topic, subscription, settlements);
  }

  /** Closes the shared consumers of a subscription (or of every subscription of a topic). */
  async forget(topic: string, subscription?: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, consumer] of this.#consumers) {
      const [keyTopic, keySubscription] = key.split('\u0000');
      if (keyTopic !== topic || (subscription !== undefined && keySubscription !== subscription)) continue;
      this.#consumers.delete(key);
      closing.push(consumer.then((c) => c.close()).catch(() => {}));
    }
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#consumers.values()];
    this.#consumers.clear();
    await Promise.all(all.map((consumer) => consumer.then((c) => c.close()).catch(() => {})));
  }
}

/** Each leased message as JSON with its delivery count and receipt. */
export function deliveriesJson(deliveries: readonly QueueDelivery[], encoding: Encoding): MessageJson[] {
  const out: MessageJson[] = [];
  for (const delivery of deliveries) {
    const leased = new Map(delivery.messages.map((m) => [m.offset, m.deliveryCount]));
    for (const record of decodeBatches(delivery.records, { decompressedBytesMax })) {
      const deliveryCount = leased.get(record.offset);
      if (deliveryCount === undefined) continue;
      const message = recordJson(delivery.partition, record, encoding);
      message.deliveryCount = deliveryCount;
      message.receipt = encodeReceipt({ partition: delivery.partition, offset: record.offset, deliveryCount });
      out.push(message);
    }
  }
  return out;
}
