/**
 * Queue receives over HTTP. A QueueConsumer releases its leases when it closes, and it serves one
 * pull at a time. So:
 *  - long-polling GETs borrow a consumer from a small pool per (topic, subscription) for the
 *    length of one receive and give it back; pooled consumers stay open (their leases outlive the
 *    request) until the listener closes or the subscription or topic is deleted.
 *    Leases an HTTP client never settles end by the subscription's ack timeout.
 *  - a WebSocket or SSE session opens a consumer of its own and closes it when it ends, so the
 *    messages a closed browser tab held are delivered again after the backoff, not at lease end.
 * When a pool is at its bound, further receives wait for a consumer to come back. When the pools
 * are at their bound, a receive of another subscription drops the least recently used pool that
 * is not in use and whose subscription has no message in flight (so its consumers hold no lease
 * and closing them changes nothing); only when none is, it is refused (429, retriable).
 */
import { queueDeliveryMessages } from '../../broker/queue/queue-partition.js';
import type { QueueConsumer, QueueDelivery, QueueSettleFailure, QueueSettlement } from '../../broker/types.js';
import { WeirError, asWeirError, isWeirError } from '../../util/errors.js';
import type { HttpBroker } from './http-context.js';
import { encodeReceipt, recordJson, type Encoding, type MessageJson } from './message-json.js';
import type { MessageSource } from './stream-read.js';

/** Pooled consumers per subscription (concurrent long polls of one subscription). */
export const pooledConsumersPerSubscriptionMax = 32;
/** Subscriptions with a pool at once. */
export const pooledSubscriptionsMax = 1_000;

interface Pool {
  topic: string;
  subscription: string;
  idle: QueueConsumer[];
  /** Consumers open (idle or lent out). */
  open: number;
  /** Receives waiting for a consumer to come back. */
  waiting: ((consumer: QueueConsumer | null) => void)[];
  all: Set<QueueConsumer>;
}

export class QueueConsumers {
  readonly #broker: HttpBroker;
  readonly #subscriptionsMax: number;
  /** In order of last use, least recent first. */
  readonly #pools = new Map<string, Pool>();
  #closed = false;

  constructor(broker: HttpBroker, options: { subscriptionsMax?: number } = {}) {
    this.#broker = broker;
    this.#subscriptionsMax = options.subscriptionsMax ?? pooledSubscriptionsMax;
  }

  /** Subscriptions with a pool now. */
  get poolCount(): number {
    return this.#pools.size;
  }

  /** A long-polling receive through the subscription's pool. */
  async receive(topic: string, subscription: string, read: { max: number; waitMs: number; encoding: Encoding }, signal: AbortSignal): Promise<MessageJson[]> {
    this.#broker.describeSubscription(topic, subscription); // UNKNOWN_SUBSCRIPTION, UNKNOWN_TOPIC
    const pool = this.#pool(topic, subscription);
    // The wait counts from the request: a receive that waited for a pooled consumer waits only for what is left.
    const deadlineMs = Date.now() + read.waitMs;
    const consumer = await this.#borrow(pool, signal, deadlineMs);
    if (consumer === null) {
      if (!signal.aborted) this.#broker.describeSubscription(topic, subscription); // deleted meanwhile: 404
      return [];
    }
    let deliveries: QueueDelivery[];
    try {
      deliveries = await consumer.receive(read.max, Math.max(0, deadlineMs - Date.now()), signal);
    } finally {
      this.#giveBack(pool, consumer);
    }
    if (deliveries.length === 0 && !pool.all.has(consumer)) this.#broker.describeSubscription(topic, subscription); // ended by a deletion: 404
    return deliveriesJson(deliveries, read.encoding);
  }

  /**
   * A source with a consumer of its own (WebSocket and SSE sessions); closing it releases the
   * leases. The consumer opens at `open()` or the first read, whichever comes first, and only on a
   * subscription that still exists: one deleted since the session was accepted ends the session
   * with UNKNOWN_SUBSCRIPTION rather than being created again.
   */
  sessionSource(topic: string, subscription: string, encoding: Encoding): MessageSource {
    this.#broker.describeSubscription(topic, subscription);
    let consumer: Promise<QueueConsumer> | null = null;
    let closed = false;
    let onEnded: ((error: WeirError) => void) | null = null;
    const openConsumer = (): Promise<QueueConsumer> => {
      try {
        // Synchronous up to the broker's lookup, which openQueueConsumer does before its first await.
        this.#broker.describeSubscription(topic, subscription);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#broker.openQueueConsumer({ topic, subscription, ended: (error) => onEnded?.(error) });
    };
    return {
      open: (ended) => {
        onEnded = ended;
        consumer ??= openConsumer();
        consumer.catch((error: unknown) => {
          if (!closed) ended(asWeirError(error));
        });
      },
      read: async (max, waitMs, signal) => {
        if (closed) return [];
        consumer ??= openConsumer();
        return deliveriesJson(await (await consumer).receive(max, waitMs, signal), encoding);
      },
      close: async () => {
        closed = true;
        if (consumer !== null) await (await consumer.catch(() => null))?.close();
      },
    };
  }

  settle(topic: string, subscription: string, settlements: QueueSettlement[]): Promise<QueueSettleFailure[]> {
    return this.#broker.settle(topic, subscription, settlements);
  }

  #pool(topic: string, subscription: string): Pool {
    if (this.#closed) throw new WeirError('SHUTTING_DOWN', 'the HTTP listener is closing');
    const key = `${topic}\u0000${subscription}`;
    let pool = this.#pools.get(key);
    if (pool !== undefined) {
      this.#pools.delete(key); // to the end: the most recently used
    } else {
      if (this.#pools.size >= this.#subscriptionsMax && !this.#dropUnused()) {
        throw new WeirError(
          'LIMIT_EXCEEDED',
          `HTTP long polls use at most ${this.#subscriptionsMax} queue subscriptions at once, and each of them has a long poll running or messages in flight; retry later`,
        );
      }
      pool = { topic, subscription, idle: [], open: 0, waiting: [], all: new Set() };
    }
    this.#pools.set(key, pool);
    return pool;
  }

  /** Drops the least recently used pool that is not in use and holds no lease; false when none is. */
  #dropUnused(): boolean {
    for (const [key, pool] of this.#pools) {
      if (pool.idle.length !== pool.open || pool.waiting.length > 0 || this.#hasInFlight(pool)) continue;
      this.#pools.delete(key);
      void this.#drop(pool);
      return true;
    }
    return false;
  }

  /** Whether the pool's subscription has messages leased (to any consumer); false when it is gone. */
  #hasInFlight(pool: Pool): boolean {
    try {
      return this.#broker.describeSubscription(pool.topic, pool.subscription).inFlight > 0;
    } catch (error) {
      if (isWeirError(error, 'UNKNOWN_SUBSCRIPTION') || isWeirError(error, 'UNKNOWN_TOPIC')) return false;
      throw error;
    }
  }

  /** A consumer of the pool; null when the signal aborts, the deadline passes or the pool is dropped first. */
  async #borrow(pool: Pool, signal: AbortSignal, deadlineMs: number): Promise<QueueConsumer | null> {
    const idle = pool.idle.pop();
    if (idle !== undefined) return idle;
    if (pool.open < pooledConsumersPerSubscriptionMax) {
      pool.open++;
      try {
        let ended = false;
        const consumer: QueueConsumer = await this.#broker.openQueueConsumer({
          topic: pool.topic,
          subscription: pool.subscription,
          // Deleted by any protocol: the pool lets the consumer go (a receive on it fails once).
          ended: () => {
            ended = true;
            if (pool.all.delete(consumer)) this.#letGo(pool, consumer);
          },
        });
        if (!ended) pool.all.add(consumer);
        else pool.open--;
        return consumer;
      } catch (error) {
        pool.open--;
        throw error;
      }
    }
    return new Promise((resolve) => {
      const waiter = (consumer: QueueConsumer | null): void => {
        signal.removeEventListener('abort', giveUp);
        clearTimeout(timer);
        resolve(consumer);
      };
      const giveUp = (): void => {
        signal.removeEventListener('abort', giveUp);
        clearTimeout(timer);
        pool.waiting.splice(pool.waiting.indexOf(waiter), 1);
        resolve(null);
      };
      const timer = setTimeout(giveUp, Math.max(0, deadlineMs - Date.now()));
      signal.addEventListener('abort', giveUp, { once: true });
      pool.waiting.push(waiter);
    });
  }

  #giveBack(pool: Pool, consumer: QueueConsumer): void {
    if (!pool.all.has(consumer)) {
      void consumer.close(); // the pool was dropped meanwhile
      return;
    }
    const waiter = pool.waiting.shift();
    if (waiter !== undefined) waiter(consumer);
    else pool.idle.push(consumer);
  }

  /** A pooled consumer the broker ended leaves the pool. */
  #letGo(pool: Pool, consumer: QueueConsumer): void {
    const idle = pool.idle.indexOf(consumer);
    if (idle >= 0) pool.idle.splice(idle, 1);
    pool.open--;
    pool.waiting.shift()?.(null); // that receive answers empty; the next one finds out what changed
  }

  /** Closes the pooled consumers of a subscription (or of every subscription of a topic). */
  async forget(topic: string, subscription?: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.#pools) {
      if (pool.topic !== topic || (subscription !== undefined && pool.subscription !== subscription)) continue;
      this.#pools.delete(key);
      closing.push(this.#drop(pool));
    }
    await Promise.all(closing);
  }

  async #drop(pool: Pool): Promise<void> {
    for (const waiter of pool.waiting.splice(0)) waiter(null);
    const consumers = [...pool.all];
    pool.all.clear();
    pool.idle.length = 0;
    await Promise.all(consumers.map((c) => c.close().catch(() => {})));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => this.#drop(pool)));
  }
}

/** Each leased message as JSON with its delivery count and receipt. */
export function deliveriesJson(deliveries: readonly QueueDelivery[], encoding: Encoding): MessageJson[] {
  const out: MessageJson[] = [];
  for (const delivery of deliveries) {
    for (const leased of queueDeliveryMessages(delivery)) {
      const { offset, deliveryCount } = leased;
      const record = { offset, timestamp: leased.timestampMs, key: leased.key, value: leased.value, headers: leased.headers };
      const message = recordJson(delivery.partition, record, encoding);
      message.deliveryCount = deliveryCount;
      message.receipt = encodeReceipt({ partition: delivery.partition, offset, deliveryCount, leaseEpoch: delivery.leaseEpoch });
      out.push(message);
    }
  }
  return out;
}
