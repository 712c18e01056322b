/**
 * One push subscription on one connection: the broker sends delivery frames while the client's
 * credits (messages and bytes) last and stops at zero, so a slow consumer is never flooded.
 *
 * The loop long-polls the broker for every partition of the subscription at once. Each delivery
 * carries stored batches unchanged plus the window [offsetFirst, offsetEnd) of offsets the client
 * hands over; the window never holds more offsets than the message credit, so a client granting
 * 10 credits receives exactly 10 messages (a batch that straddles the limit is sent again later
 * with the next window). Before each fetch the loop waits for the socket's write buffer to drain.
 */
import type { BrokerApi } from '../../broker/types.js';
import { batchOffsets, batchPositions } from '../../format/record-batch.js';
import { WeirError } from '../../util/errors.js';
import type { Delivery, TopicPartitionOffset } from './wire/messages.js';

/** How long one broker fetch of the loop parks when there is nothing new. */
export const pushWaitMs = 1_000;
/** Credits add up to at most this (uint32 on the wire; kept well inside safe arithmetic). */
export const creditMax = 0xffff_ffff;

/** A partition's place in the subscription, with fetched records not yet sent (bounded by one fetch). */
interface Position extends TopicPartitionOffset {
  rest: Buffer | null;
  restHighWatermark: bigint;
}

export interface SubscriptionOutput {
  /** Sends one delivery frame. */
  deliver(subscriptionId: number, delivery: Delivery): void;
  /** Resolves when the connection can take more output (at once when it can now). */
  writable(): Promise<void>;
  /** The subscription ended by itself (an error on a partition); sent as a subscription-end frame. */
  ended(subscriptionId: number, error: WeirError): void;
}

export class PushSubscription {
  readonly id: number;
  readonly #broker: BrokerApi;
  readonly #positions: Position[];
  readonly #deliveryBytesMax: number;
  readonly #output: SubscriptionOutput;
  readonly #abort = new AbortController();
  #creditMessages: number;
  #creditBytes: number;
  #wakeCredit: (() => void) | null = null;
  #stopped = false;
  #rotation = 0;
  /** Settles when the loop has finished (at once before `start`). */
  done: Promise<void> = Promise.resolve();

  constructor(
    broker: BrokerApi,
    options: { id: number; positions: TopicPartitionOffset[]; creditMessages: number; creditBytes: number; deliveryBytesMax: number; output: SubscriptionOutput },
  ) {
    this.id = options.id;
    this.#broker = broker;
    this.#positions = options.positions.map((p) => ({ ...p, rest: null, restHighWatermark: 0n }));
    this.#creditMessages = options.creditMessages;
    this.#creditBytes = options.creditBytes;
    this.#deliveryBytesMax = Math.max(1, options.deliveryBytesMax);
    this.#output = options.output;
  }

  /** Starts the delivery loop (once). */
  start(): void {
    if (this.#stopped) return;
    this.done = this.#run();
  }

  credit(messages: number, bytes: number): void {
    this.#creditMessages = Math.min(creditMax, this.#creditMessages + messages);
    this.#creditBytes = Math.min(creditMax, this.#creditBytes + bytes);
    this.#wake();
  }

  /** Stops the loop; no delivery frame is sent after this returns. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#wake();
    return this.done;
  }

  #wake(): void {
    const wake = this.#wakeCredit;
    this.#wakeCredit = null;
    wake?.();
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopped) {
        if (this.#creditMessages <= 0 || this.#creditBytes <= 0 || this.#positions.length === 0) {
          await new Promise<void>((resolve) => (this.#wakeCredit = resolve));
          continue;
        }
        await this.#output.writable();
        if (this.#stopped) return;
        await this.#fetchOnce();
      }
    } catch (error) {
      if (this.#stopped) return;
      this.#stopped = true;
      const failure = error instanceof WeirError ? error : new WeirError('UNKNOWN', String(error), { cause: error });
      this.#output.ended(this.id, failure);
    }
  }

  async #fetchOnce(): Promise<void> {
    // Records fetched earlier but not yet covered by credits go first, without another read.
    const waiting = this.#positions.filter((p) => p.rest !== null);
    if (waiting.length > 0) {
      for (const position of waiting) {
        const rest = position.rest!;
        position.rest = null;
        this.#deliverFrom(position, rest, position.restHighWatermark);
        if (this.#creditMessages <= 0 || this.#creditBytes <= 0) return;
      }
      return;
    }
    const bytesMax = Math.min(this.#deliveryBytesMax, this.#creditBytes);
    // Rotated each time, so that a busy partition early in the list cannot starve the others.
    const start = this.#rotation++ % this.#positions.length;
    const ordered = [...this.#positions.slice(start), ...this.#positions.slice(0, start)];
    const results = await this.#broker.fetch(
      {
        partitions: ordered.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, bytesMax })),
        waitMs: pushWaitMs,
        bytesMaxTotal: bytesMax,
      },
      this.#abort.signal,
    );
    if (this.#stopped) return;
    for (const result of results) {
      if (result.error !== undefined) throw result.error;
      if (result.records.length === 0) continue;
      const position = this.#positions.find((p) => p.topic === result.topic && p.partition === result.partition);
      if (position === undefined) continue;
      if (this.#creditMessages <= 0 || this.#creditBytes <= 0) {
        position.rest = result.records; // credits ran out on an earlier partition: keep it for later
        position.restHighWatermark = result.highWatermark;
        continue;
      }
      this.#deliverFrom(position, result.records, result.highWatermark);
    }
  }

  /**
   * Sends the part of `records` that the credits allow, from the position's offset on, and keeps
   * the rest (from the first batch not wholly sent) for when more credits arrive.
   */
  #deliverFrom(position: Position, records: Buffer, highWatermark: bigint): void {
    const offsetFirst = position.offset;
    const offsetLimit = offsetFirst + BigInt(this.#creditMessages);
    let offsetEnd = offsetFirst;
    let bytesStart = -1;
    let bytesEnd = 0;
    let restAt = records.length;
    for (const { position: at, bytes } of batchPositions(records)) {
      const base = records.readBigInt64BE(at + batchOffsets.baseOffset);
      const last = base + BigInt(records.readInt32BE(at + batchOffsets.lastOffsetDelta));
      if (last < offsetFirst) continue;
      if (base >= offsetLimit) {
        restAt = at;
        break;
      }
      if (bytesStart < 0) bytesStart = at;
      bytesEnd = at + bytes;
      if (last + 1n > offsetLimit) {
        offsetEnd = offsetLimit; // this batch straddles the credit: it is sent again with the rest
        restAt = at;
        break;
      }
      offsetEnd = last + 1n;
      restAt = bytesEnd;
      if (offsetEnd === offsetLimit) break;
    }
    position.rest = restAt < records.length ? records.subarray(restAt) : null;
    position.restHighWatermark = highWatermark;
    if (bytesStart < 0 || offsetEnd <= offsetFirst) return;
    const slice = records.subarray(bytesStart, bytesEnd);
    this.#output.deliver(this.id, {
      topic: position.topic,
      partition: position.partition,
      offsetFirst,
      offsetEnd,
      highWatermark,
      records: slice,
    });
    this.#creditMessages -= Number(offsetEnd - offsetFirst);
    this.#creditBytes -= slice.length;
    position.offset = offsetEnd;
  }
}
