/**
 * One push subscription on one connection: the broker sends delivery frames while the client's
 * credits (messages and bytes) last and stops at zero, so a slow consumer is never flooded.
 *
 * The loop reads every partition of the subscription at once (without waiting). When none has
 * anything new it parks on all of them: the append that makes records readable calls back
 * synchronously, and the records, still in the log's in-memory tail, go out in a delivery frame
 * right then, before the producer's answer (the publish-to-consume latency holds no event-loop
 * turn, timer or thread-pool read). Each delivery carries stored batches unchanged plus the
 * window [offsetFirst, offsetEnd) of offsets the client hands over; the window never holds more
 * offsets than the message credit, so a client granting 10 credits receives exactly 10 messages
 * (a batch that straddles the limit is sent again later with the next window). Before each read
 * the loop waits for the socket's write buffer to drain.
 *
 * Memory: every read, from the log or from its in-memory tail, first takes its byte limit from
 * the connection's read budget (its share of the broker-wide fetch memory; a smaller limit when
 * that is short), and the records it keeps for later credits stay held there, or, when there is
 * no room for them, are dropped and read again once credits come.
 */
import type { BrokerApi } from '../../broker/types.js';
import { batchOffsets, batchPositions } from '../../format/record-batch.js';
import type { ByteBudget } from '../../util/byte-budget.js';
import { WeirError, asWeirError } from '../../util/errors.js';
import type { Delivery, TopicPartitionOffset } from './wire/messages.js';

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
  /**
   * The byte limits of the connection's running subscription reads: a read takes its limit first
   * (waiting for room), and gets a smaller one when the broker-wide fetch memory is short.
   */
  readonly readBudget: ByteBudget;
  /**
   * Holds `bytes` more of records read and kept for later credits, when there is room for them;
   * false: they are not kept (the subscription reads them again).
   */
  keep(bytes: number): boolean;
  /** Releases bytes that `keep` held. */
  unkeep(bytes: number): void;
  /** Resolves when the connection can take more output (at once when it can now). */
  writable(): Promise<void>;
  /** Whether the connection can take more output now. */
  writableNow(): boolean;
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
  /** Ends the current park (see #park), if the loop is parked. */
  #unpark: (() => void) | null = null;
  #stopped = false;
  #rotation = 0;
  #unwatch: (() => void) | null = null;
  /** Bytes of the positions' rests, held by the output's `keep`. */
  #restBytes = 0;
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

  /**
   * Ends the subscription when `watch` says its source went away (a group member's session
   * ended): no delivery follows, and the client hears the error in a subscription-end frame.
   * `watch` returns its cancel, called when the subscription stops for any reason.
   */
  endWhen(watch: (end: (error: WeirError) => void) => () => void): void {
    this.#unwatch = watch((error) => {
      if (this.#stopped) return;
      void this.stop();
      this.#output.ended(this.id, error);
    });
  }

  credit(messages: number, bytes: number): void {
    this.#creditMessages = Math.min(creditMax, this.#creditMessages + messages);
    this.#creditBytes = Math.min(creditMax, this.#creditBytes + bytes);
    this.#wake();
  }

  /** Stops the loop; no delivery frame is sent after this returns. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#stopWatching();
    this.#abort.abort();
    this.#wake();
    this.#unpark?.();
    return this.done.finally(() => {
      for (const position of this.#positions) this.#keepRest(position, null, 0n);
    });
  }

  #stopWatching(): void {
    this.#unwatch?.();
    this.#unwatch = null;
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
        if (this.#restBytes > 0) {
          this.#deliverRests();
          continue;
        }
        const budget = this.#output.readBudget;
        // Fewer bytes granted when the broker-wide fetch memory is short: the read runs smaller.
        const granted = await budget.take(Math.min(this.#deliveryBytesMax, this.#creditBytes));
        let found: boolean;
        try {
          found = this.#stopped || (await this.#fetchOnce(granted));
        } finally {
          budget.release(granted); // what was sent is in the socket now, and the rests are held apart
        }
        if (!found) await this.#park();
      }
    } catch (error) {
      if (this.#stopped) return;
      this.#stopped = true;
      this.#stopWatching();
      const failure = asWeirError(error);
      this.#output.ended(this.id, failure);
    }
  }

  /** Records fetched earlier but not yet covered by credits go first, without another read. */
  #deliverRests(): void {
    for (const position of this.#positions.filter((p) => p.rest !== null)) {
      this.#deliverFrom(position, position.rest!, position.restHighWatermark);
      if (this.#creditMessages <= 0 || this.#creditBytes <= 0) break;
    }
  }

  /** Reads up to `bytesMax` from the partitions and sends what the credits allow; false when there was nothing to read. */
  async #fetchOnce(bytesMax: number): Promise<boolean> {
    // Rotated each time, so that a busy partition early in the list cannot starve the others.
    const start = this.#rotation++ % this.#positions.length;
    const ordered = [...this.#positions.slice(start), ...this.#positions.slice(0, start)];
    const results = await this.#broker.fetch(
      {
        partitions: ordered.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, bytesMax })),
        waitMs: 0,
        bytesMaxTotal: bytesMax,
      },
      this.#abort.signal,
    );
    if (this.#stopped) return true;
    let found = false;
    for (const result of results) {
      if (result.error !== undefined) throw result.error;
      if (result.records.length === 0) continue;
      found = true;
      const position = this.#positions.find((p) => p.topic === result.topic && p.partition === result.partition);
      if (position === undefined) continue;
      if (this.#creditMessages <= 0 || this.#creditBytes <= 0) {
        this.#keepRest(position, result.records, result.highWatermark); // credits ran out on an earlier partition
        continue;
      }
      this.#deliverFrom(position, result.records, result.highWatermark);
    }
    return found;
  }

  /**
   * Keeps `rest` (or nothing) for the position until credits arrive, held by the output's `keep`;
   * without room for it nothing is kept, and the next read fetches it again from the position.
   */
  #keepRest(position: Position, rest: Buffer | null, highWatermark: bigint): void {
    const bytesBefore = position.rest?.length ?? 0;
    let bytesAfter = rest?.length ?? 0;
    if (bytesAfter > bytesBefore && !this.#output.keep(bytesAfter - bytesBefore)) {
      rest = null;
      bytesAfter = 0;
    }
    if (bytesAfter < bytesBefore) this.#output.unkeep(bytesBefore - bytesAfter);
    position.rest = rest;
    position.restHighWatermark = highWatermark;
    this.#restBytes += bytesAfter - bytesBefore;
  }

  /**
   * Waits until any partition of the subscription has records past its position (or the
   * subscription stops, or a partition closes). The partition that gets them first is served from
   * inside the append that made them readable.
   */
  #park(): Promise<void> {
    if (this.#stopped) return Promise.resolve(); // stopped since the read: nothing would unpark it
    return new Promise((resolve, reject) => {
      const cancels: (() => void)[] = [];
      let parked = true;
      const unpark = (): void => {
        if (!parked) return;
        parked = false;
        this.#unpark = null;
        for (const cancel of cancels) cancel();
        resolve();
      };
      this.#unpark = unpark;
      try {
        for (const position of this.#positions) {
          const cancel = this.#broker.watchHighWatermark(position.topic, position.partition, position.offset + 1n, () => {
            this.#deliverTail(position);
            unpark();
          });
          if (cancel === null) return unpark(); // readable already: the loop reads it
          cancels.push(cancel);
        }
      } catch (error) {
        reject(error); // first: unpark's resolve would win otherwise
        unpark();
      }
    });
  }

  /**
   * Sends a partition's new records at once when credits, the connection and its read budget
   * allow and they are in memory (otherwise the loop, woken next, reads them).
   */
  #deliverTail(position: Position): void {
    if (this.#stopped || position.rest !== null || this.#creditMessages <= 0 || this.#creditBytes <= 0 || !this.#output.writableNow()) return;
    const budget = this.#output.readBudget;
    const granted = budget.takeNow(Math.min(this.#deliveryBytesMax, this.#creditBytes));
    if (granted === null) return;
    try {
      const tail = this.#broker.readTail(position.topic, position.partition, position.offset, granted);
      if (tail !== null) this.#deliverFrom(position, tail.records, tail.highWatermark);
    } catch {
      // The loop reads the partition again and reports what is wrong.
    } finally {
      budget.release(granted);
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
    this.#keepRest(position, restAt < records.length ? records.subarray(restAt) : null, highWatermark);
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
