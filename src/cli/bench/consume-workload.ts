/**
 * The consuming side of `weir bench`: consumers on their own connections, each reading an
 * explicit share of the partitions (no group, so no rebalance delays the start), until the
 * expected number of messages has arrived. In an end-to-end run each value starts with its send
 * time and the latency send-to-receive is recorded.
 */
import type { Client, Consumer, TopicPartition } from '../../client/index.js';
import { CoarseClock, LatencyRecorder } from './latency.js';

export interface ConsumeWorkloadOptions {
  topic: string;
  clients: Client[];
  partitions: number;
  /** Where each partition starts. */
  from: 'earliest' | 'latest';
  /** Values carry their send time (end-to-end run). */
  stampedValues: boolean;
}

export interface ConsumeTally {
  received: number;
  bytes: number;
  latency: LatencyRecorder;
}

export class ConsumerSet {
  readonly #consumers: Consumer[];
  readonly #stamped: boolean;
  readonly tally: ConsumeTally = { received: 0, bytes: 0, latency: new LatencyRecorder() };
  #expected = Number.POSITIVE_INFINITY;
  #reachedExpected: { resolve: () => void; reject: (error: unknown) => void } | null = null;
  #failure: unknown = null;
  #loops: Promise<void>[] = [];

  constructor(options: ConsumeWorkloadOptions) {
    const shares: TopicPartition[][] = options.clients.map(() => []);
    for (let partition = 0; partition < options.partitions; partition++) shares[partition % shares.length]!.push({ topic: options.topic, partition });
    this.#consumers = options.clients
      .map((client, index) => ({ client, share: shares[index]! }))
      .filter(({ share }) => share.length > 0)
      .map(({ client, share }) => client.consumer({ partitions: share, from: options.from, prefetchMessages: 20_000 }));
    this.#stamped = options.stampedValues;
  }

  get size(): number {
    return this.#consumers.length;
  }

  /** Waits until every consumer has its partitions and start offsets. */
  async start(): Promise<void> {
    await Promise.all(this.#consumers.map((consumer) => consumer.start()));
    this.#loops = this.#consumers.map((consumer) =>
      this.#drain(consumer).catch((error: unknown) => {
        this.#failure ??= error;
        this.#reachedExpected?.reject(error);
        this.#reachedExpected = null;
      }),
    );
  }

  /** Resolves once `expected` messages have arrived in all. */
  until(expected: number): Promise<void> {
    this.#expected = expected;
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.tally.received >= expected) return Promise.resolve();
    return new Promise((resolve, reject) => (this.#reachedExpected = { resolve, reject }));
  }

  async close(): Promise<void> {
    await Promise.all(this.#consumers.map((consumer) => consumer.close()));
    await Promise.all(this.#loops);
  }

  async #drain(consumer: Consumer): Promise<void> {
    const tally = this.tally;
    const clock = new CoarseClock();
    for await (const message of consumer) {
      tally.received++;
      const value = message.value;
      if (value !== null) {
        tally.bytes += value.length;
        if (this.#stamped && value.length >= 8) tally.latency.recordMs(clock.nowMs() - value.readDoubleLE(0));
      }
      if (tally.received >= this.#expected) {
        this.#reachedExpected?.resolve();
        this.#reachedExpected = null;
      }
    }
  }
}
