/**
 * A consumer of a queue subscription: competing consumers share the subscription's messages, each
 * message is leased to one of them and settled one by one with `ack`, `nack`, `reject` or
 * `extend` (docs/queues.md).
 *
 * ```ts
 * const jobs = client.queueConsumer({ topic: 'jobs', subscription: 'workers' });
 * for await (const job of jobs) {
 *   try { await handle(job); job.ack(); } catch { job.nack({ delayMs: 5_000 }); }
 * }
 * ```
 *
 * Push mode (default) holds at most `prefetch` unsettled messages: the broker sends while credits
 * last and each settlement returns one. Pull mode asks with long polls for up to the room left.
 * Settlements are sent in one request per event-loop turn. After a reconnect the consumer
 * subscribes again; messages received on the old connection were released by the broker, so their
 * settlements fail with INVALID_RECEIPT and the messages come again. Closing gives the messages
 * still buffered (never handed to the application) back with the settle action `release`, so
 * their deliveries do not count (protocol version 2 and later).
 */
import { RecordCursor, type RecordHeader } from '../format/record-batch.js';
import { nackBackoffMs, releaseVersionMin, type QueueDelivery, type QueueSettleRequest } from '../protocol/native/wire/messages.js';
import { WeirError, errorCodeFromWire, isWeirError } from '../util/errors.js';
import { rejectReasonKept } from '../util/reject-reason.js';
import { backoffDelayMs, sleep, waitAtMost } from './backoff.js';
import type { Client } from './client.js';
import type { Connection } from './connection.js';
import type { ConsumerMessage } from './message.js';
import { checkInteger, checkKnownKeys, checkOneOf, checkString, uint32Max } from './options.js';

export type RedeliveryBackoff =
  | { kind: 'fixed'; delayMs: number }
  | { kind: 'exponential'; initialMs: number; maxMs: number; multiplier: number; jitter: number };

/** A queue subscription's settings (the broker's defaults apply to what is left out). */
export interface QueueSubscriptionConfig {
  /** How long a consumer holds a message before it is delivered again (default 30 s). */
  ackTimeoutMs: number;
  /** Past this many deliveries a failing message is dead-lettered (default 5). */
  deliveriesMax: number;
  /** Wait before a failed message is offered again (default exponential 1 s … 60 s, ±20 %). */
  backoff: RedeliveryBackoff;
  /** Default `<topic>.<subscription>.dlq`. */
  deadLetterTopic: string;
  /** What happens to expired and overflowed messages (default 'drop'). */
  discard: 'drop' | 'dead-letter';
  backlogMessagesMax: number | null;
  backlogBytesMax: number | null;
  /** Default 'reject': producers get QUEUE_FULL. */
  overflow: 'reject' | 'drop-oldest';
  /** One key at a time, in order (default false). */
  keyOrdered: boolean;
  /** Where a new subscription starts (default 'earliest'). */
  startAt: 'earliest' | 'latest';
}

/**
 * The longest delay of a nack and the longest extension the broker takes (7 days): a longer one
 * is refused by the client before anything changes, so the message stays in hand.
 */
export const settleDelayMsMax = 7 * 24 * 3_600_000;
/** The shortest extension the broker takes: one of 0 ms would end the lease at once. */
export const extendMsMin = 1;
/** How long close() waits for the answers to settlements already sent. */
const closeSettleWaitMs = 5_000;
/**
 * Release requests close() sends at most: the first gives back what is buffered (a release of
 * nothing when the buffer is empty) and stops deliveries to this consumer; the second, what the
 * broker sent before the first reached it.
 */
const closeReleaseRoundsMax = 2;

export const queueConsumerDefaults = {
  mode: 'push' as 'push' | 'pull',
  prefetch: 1_000,
  receiveWaitMs: 1_000,
  retryBackoffMsMin: 100,
  retryBackoffMsMax: 2_000,
  decompressedBytesMax: 64 * 1024 * 1024,
} as const;

export interface QueueConsumerOptions {
  topic: string;
  subscription: string;
  /** Used when this consumer creates the subscription (it exists already: ignored). */
  config?: Partial<QueueSubscriptionConfig>;
  mode?: 'push' | 'pull';
  /** Unsettled messages this consumer holds at most (default 1000). */
  prefetch?: number;
  /** Broker-side cap on messages per second to this consumer (a whole number; 0: none). */
  ratePerSecond?: number;
  /** Pull mode: how long one receive waits for messages (default 1000 ms). */
  receiveWaitMs?: number;
}

export interface QueueMessage extends ConsumerMessage {
  /** 1 on the first delivery. */
  deliveryCount: number;
  /**
   * The subscription's lease epoch at the delivery: drawn anew at each broker start and each
   * creation of the subscription, and a step further for each release of the message, so that a
   * settlement of a delivery from before any of them fails with INVALID_RECEIPT instead of
   * settling the message's newer delivery.
   */
  leaseEpoch: number;
  /** Done: the message is not delivered again. */
  ack(): Promise<void>;
  /**
   * Failed: delivered again after `delayMs` (default: the subscription's backoff). A `delayMs`
   * that is not a whole number from 0 to `settleDelayMsMax` (7 days) rejects with INVALID_REQUEST
   * and changes nothing.
   */
  nack(options?: { delayMs?: number }): Promise<void>;
  /**
   * To the dead-letter topic now, with the reason (its first 1000 characters). A reason that is
   * not a string, or whose first 1000 characters are empty or only white space, rejects with
   * INVALID_REQUEST and changes nothing: the message stays in hand.
   */
  reject(reason: string): Promise<void>;
  /**
   * Keeps the lease `ms` longer from now. An `ms` that is not a whole number from 1 to
   * `settleDelayMsMax` (7 days) rejects with INVALID_REQUEST and changes nothing.
   */
  extend(ms: number): Promise<void>;
}

/** Every queue consumer option, once (an option added to QueueConsumerOptions fails to compile until listed here). */
const queueConsumerOptionKeys = Object.keys({
  topic: true,
  subscription: true,
  config: true,
  mode: true,
  prefetch: true,
  ratePerSecond: true,
  receiveWaitMs: true,
} satisfies Record<keyof QueueConsumerOptions, true>);

type ResolvedOptions = QueueConsumerOptions & Omit<typeof queueConsumerDefaults, 'mode'> & { mode: 'push' | 'pull'; prefetch: number; receiveWaitMs: number };

type SettleAction = 'ack' | 'nack' | 'reject' | 'extend';

interface PendingSettlement {
  message: LeasedMessage;
  action: SettleAction;
  ms: number;
  reason: string;
  resolve: (() => void) | null;
  reject: ((error: WeirError) => void) | null;
}

interface SettleSink {
  settle(message: LeasedMessage, action: SettleAction, ms: number, reason: string, quiet: boolean): Promise<void> | undefined;
}

/**
 * A delivered message; its settle methods go through the consumer that received it. Key and value
 * are views of the delivery's bytes; the offset is kept as the delivery's base and a delta, and
 * made a bigint only when asked for.
 */
class LeasedMessage implements QueueMessage {
  readonly topic: string;
  readonly partition: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeader[];
  readonly deliveryCount: number;
  readonly leaseEpoch: number;
  readonly #baseOffset: bigint;
  readonly #offsetDelta: number;
  /** The offset as a number, for telling runs of adjacent offsets apart when settling. */
  readonly offsetNumber: number;
  readonly #sink: SettleSink;
  #settled = false;

  constructor(sink: SettleSink, delivery: QueueDelivery, baseOffsetNumber: number, cursor: RecordCursor) {
    const records = delivery.records;
    this.#sink = sink;
    this.topic = delivery.topic;
    this.partition = delivery.partition;
    this.#baseOffset = delivery.baseOffset;
    this.#offsetDelta = cursor.offsetDelta;
    this.offsetNumber = baseOffsetNumber + cursor.offsetDelta;
    this.timestamp = delivery.baseTimestampMs + cursor.timestampDelta;
    this.key = cursor.keyLength < 0 ? null : records.subarray(cursor.keyStart, cursor.keyStart + cursor.keyLength);
    this.value = cursor.valueLength < 0 ? null : records.subarray(cursor.valueStart, cursor.valueStart + cursor.valueLength);
    this.headers = cursor.headerCount === 0 ? [] : cursor.headers();
    this.deliveryCount = delivery.deliveryCount;
    this.leaseEpoch = delivery.leaseEpoch;
  }

  get offset(): bigint {
    return this.#baseOffset + BigInt(this.#offsetDelta);
  }

  #finish(action: SettleAction, ms: number, reason: string, quiet: boolean): Promise<void> | undefined {
    if (action !== 'extend') {
      if (this.#settled) {
        if (quiet) return undefined;
        return Promise.reject(new WeirError('INVALID_RECEIPT', `message ${this.topic}/${this.partition}@${this.offset} was already settled`));
      }
      this.#settled = true;
    }
    return this.#sink.settle(this, action, ms, reason, quiet);
  }

  ack(): Promise<void> {
    return this.#finish('ack', 0, '', false)!;
  }

  nack(options?: { delayMs?: number }): Promise<void> {
    const delayMs = options?.delayMs;
    if (delayMs === undefined) return this.#finish('nack', nackBackoffMs, '', false)!;
    return settleMsRefusal('nack delayMs', delayMs, 0) ?? this.#finish('nack', delayMs, '', false)!;
  }

  reject(reason: string): Promise<void> {
    // Checked at the call, before the message counts as settled, by the rule the broker enforces.
    let kept: string;
    try {
      if (typeof reason !== 'string') throw new WeirError('INVALID_REQUEST', `a reject's reason must be a string saying why the message is rejected, not ${reason === null ? 'null' : typeof reason}`);
      kept = rejectReasonKept(reason);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#finish('reject', 0, kept, false)!;
  }

  extend(ms: number): Promise<void> {
    return settleMsRefusal('extend ms', ms, extendMsMin) ?? this.#finish('extend', ms, '', false)!;
  }

  /** @internal Settles without a promise (the outcome is not awaited). */
  settleQuietly(action: 'ack' | 'nack'): void {
    this.#finish(action, action === 'nack' ? nackBackoffMs : 0, '', true);
  }
}

/**
 * A refusal of a nack's delay or an extension outside the broker's bounds, or null. Checked at the
 * call, alone and before the message counts as settled: settlements share a request, which one bad
 * value would fail whole, and a refused one leaves the message in hand.
 */
function settleMsRefusal(field: string, ms: number, msMin: number): Promise<never> | null {
  if (Number.isSafeInteger(ms) && ms >= msMin && ms <= settleDelayMsMax) return null;
  return Promise.reject(new WeirError(
    'INVALID_REQUEST',
    `${field} ${String(ms)} is invalid: expected a whole number of milliseconds from ${msMin} to ${settleDelayMsMax} (7 days, the broker's limit)`,
  ));
}

export class QueueConsumer implements AsyncIterable<QueueMessage> {
  readonly #client: Client;
  readonly #options: ResolvedOptions;
  #buffer: QueueMessage[] = [];
  #bufferHead = 0;
  /** Messages handed over or buffered and not yet settled (bounded by `prefetch`). */
  #unsettled = 0;
  #creditsDue = 0;
  readonly #creditBunch: number;
  /** Settlements for the next request; a bare message is a quiet ack (no object made for it). */
  #settlements: (PendingSettlement | LeasedMessage)[] = [];
  /** Of those, the ones somebody waits for (their request asks for an answer). */
  #settlementsAwaited = 0;
  /** Settle requests sent and not yet answered (close waits for them). */
  readonly #settling = new Set<Promise<unknown>>();
  #flushScheduled = false;
  /** Quiet settlements went to the broker since the last answered request. */
  #quietSent = false;
  #dataWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  #active: { connection: Connection; consumerId: number } | null = null;
  #running: Promise<void> | null = null;
  #closing = false;
  /** close()'s work: a second close() waits for it too. */
  #closed: Promise<void> | null = null;
  /** close() has given back what was buffered: deliveries arriving later are dropped. */
  #left = false;
  /** Pull mode: the receive under way, until its messages are buffered. */
  #receiving: Promise<void> | null = null;
  #failure: WeirError | null = null;
  #epoch = 0;

  constructor(client: Client, options: QueueConsumerOptions) {
    // Here rather than in client.queueConsumer(): the class is exported, and may be built directly.
    checkKnownKeys(options, queueConsumerOptionKeys, { owner: 'queue consumer' });
    this.#client = client;
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#options = { ...queueConsumerDefaults, ...defined } as ResolvedOptions;
    const { prefetch } = this.#options;
    if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 100_000) {
      throw new WeirError('INVALID_CONFIG', `prefetch ${prefetch} is invalid: expected 1 to 100000`);
    }
    const owner = 'queue consumer';
    checkString('topic', this.#options.topic, { owner, nonEmpty: true });
    checkString('subscription', this.#options.subscription, { owner, nonEmpty: true });
    checkOneOf('mode', this.#options.mode, { owner, values: ['push', 'pull'] });
    checkInteger('receiveWaitMs', this.#options.receiveWaitMs, { owner, min: 0, max: uint32Max });
    // Whole messages per second (the broker's field); 0 is no cap, as leaving it out.
    if (this.#options.ratePerSecond !== undefined) checkInteger('ratePerSecond', this.#options.ratePerSecond, { owner, min: 0, max: uint32Max });
    this.#creditBunch = Math.max(1, Math.floor(prefetch / 2));
    client.track(this); // last: a consumer refused above is not kept
  }

  /** Subscribes (iteration does this too). */
  start(): void {
    this.#running ??= this.#run();
  }

  /**
   * The messages, until the consumer is closed. Leaving the loop early (`break`, `return`, or an
   * exception thrown in its body, which all call the iterator's `return()`) closes the consumer,
   * as close() does: settlements already made are sent and answered, and every message it holds
   * unsettled (the one in hand among them) goes back to the subscription for another consumer.
   * A later close() returns the same outcome; iterating a closed consumer yields nothing.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<QueueMessage> {
    this.start();
    /** True while the application holds a message: the loop can only be left there, not ended by the consumer (closed, failed). */
    let handedOut = false;
    try {
      for (;;) {
        const message = await this.#next();
        if (message === null) return;
        handedOut = true;
        yield message;
        handedOut = false;
      }
    } finally {
      if (handedOut) await this.close();
    }
  }

  /**
   * Calls `eachMessage` for every message: a message is acknowledged when the handler returns,
   * and nacked (delivered again after the backoff) when it throws.
   */
  async run(handlers: { eachMessage: (message: QueueMessage) => Promise<void> | void }): Promise<void> {
    this.start();
    for (;;) {
      let message = this.#takeBuffered();
      if (message === undefined) message = await this.#next();
      if (message === null) return;
      try {
        const result = handlers.eachMessage(message);
        if (result !== undefined) await result; // a synchronous handler costs no promise
      } catch {
        (message as LeasedMessage).settleQuietly('nack');
        continue;
      }
      (message as LeasedMessage).settleQuietly('ack');
    }
  }

  /** The next message without waiting: null when closed, undefined when none is buffered. */
  #takeBuffered(): QueueMessage | null | undefined {
    if (this.#failure !== null) throw this.#failure;
    if (this.#closing) return null;
    if (this.#bufferHead >= this.#buffer.length) return undefined;
    const message = this.#buffer[this.#bufferHead]!;
    this.#buffer[this.#bufferHead++] = undefined as never;
    if (this.#bufferHead > 1024 && this.#bufferHead * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#bufferHead);
      this.#bufferHead = 0;
    }
    if (this.#bufferHead === this.#buffer.length && this.#roomWaiters.length > 0) this.#wake(this.#roomWaiters);
    return message;
  }

  async #next(): Promise<QueueMessage | null> {
    for (;;) {
      const message = this.#takeBuffered();
      if (message !== undefined) return message;
      await new Promise<void>((resolve) => this.#dataWaiters.push(resolve));
    }
  }

  #wake(waiters: (() => void)[]): void {
    for (const wake of waiters.splice(0)) wake();
  }

  // --- the loop ----------------------------------------------------------------------------------

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closing) {
      /** Why the broker ended this consumer (its subscription was deleted), or the connection was lost. */
      let endedBy: WeirError | null = null;
      try {
        const connection = await this.#client.connection();
        const epoch = ++this.#epoch;
        const consumerId = connection.allocateSubscriptionId();
        const ended = new Promise<WeirError>((resolve) => {
          connection.subscribe(consumerId, {
            onDelivery: () => {},
            onQueueDeliveries: (deliveries) => this.#accept(deliveries, epoch),
            onEnd: (error) => {
              endedBy = error;
              resolve(error);
            },
          });
        });
        const push = this.#options.mode === 'push';
        // Active before the answer: deliveries may arrive first, and their settlements must
        // return credits on this consumer.
        this.#active = { connection, consumerId };
        this.#creditsDue = 0;
        await connection.request('queueSubscribe', {
          consumerId,
          topic: this.#options.topic,
          subscription: this.#options.subscription,
          configJson: this.#options.config === undefined ? null : JSON.stringify(this.#options.config),
          push,
          credits: push ? this.#options.prefetch : 0,
          ratePerSecond: Math.round(this.#options.ratePerSecond ?? 0),
        });
        attempt = 0;
        const error = push ? await ended : await this.#pullLoop(connection, consumerId, ended);
        this.#active = null;
        if (this.#closing) return;
        throw error;
      } catch (error) {
        this.#active = null;
        if (this.#closing) return;
        // A subscription missing when the consumer subscribes is created again on the next try;
        // one the broker ended (deleted while consuming) ends this consumer with that reason.
        const failure = endedBy ?? (isWeirError(error) ? error : new WeirError('UNKNOWN', String(error), { cause: error }));
        if (!failure.retriable && (endedBy !== null || failure.code !== 'UNKNOWN_SUBSCRIPTION')) {
          this.#failure = failure;
          this.#wake(this.#dataWaiters);
          return;
        }
        // Leases of the old connection are gone: forget what it delivered.
        this.#dropBuffered();
        await sleep(backoffDelayMs(attempt++, { backoffMsMin: this.#options.retryBackoffMsMin, backoffMsMax: this.#options.retryBackoffMsMax }));
      }
    }
  }

  async #pullLoop(connection: Connection, consumerId: number, ended: Promise<WeirError>): Promise<WeirError> {
    let stop: WeirError | null = null;
    void ended.then((error) => {
      stop = error;
      this.#wake(this.#roomWaiters);
    });
    while (!this.#closing && stop === null) {
      const room = this.#options.prefetch - this.#unsettled;
      // While messages wait in the buffer, ask again only for a good share of the prefetch.
      if (room <= 0 || (room < this.#options.prefetch / 2 && this.#bufferHead < this.#buffer.length)) {
        await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
        continue;
      }
      const epoch = this.#epoch;
      const receiving = connection
        .request('queueReceive', { consumerId, max: room, waitMs: this.#options.receiveWaitMs }, this.#options.receiveWaitMs)
        .then((deliveries) => this.#accept(deliveries, epoch));
      this.#receiving = receiving;
      await receiving;
    }
    return stop ?? new WeirError('CLOSED', 'the queue consumer was closed');
  }

  /** Buffers deliveries; while closing too, until close() has given the buffered ones back. */
  #accept(deliveries: QueueDelivery[], epoch: number): void {
    if (epoch !== this.#epoch || this.#left) return;
    for (const delivery of deliveries) {
      const cursor = new RecordCursor(delivery.records);
      const baseOffsetNumber = Number(delivery.baseOffset);
      while (cursor.next()) {
        this.#buffer.push(new LeasedMessage(this.#sink, delivery, baseOffsetNumber, cursor));
        this.#unsettled++;
      }
    }
    this.#wake(this.#dataWaiters);
  }

  // --- settling ----------------------------------------------------------------------------------

  /** What leased messages call to settle (one object per consumer, not a closure per message). */
  readonly #sink: SettleSink = {
    settle: (message, action, ms, reason, quiet) => this.#settle(message, action, ms, reason, quiet),
  };

  /**
   * Queues a settlement for the next request (one per event-loop turn). `quiet`: nobody waits for
   * the outcome, so no promise is made (run() acknowledges this way).
   */
  #settle(message: LeasedMessage, action: SettleAction, ms: number, reason: string, quiet: boolean): Promise<void> | undefined {
    const settlement: PendingSettlement | LeasedMessage = quiet && action === 'ack' ? message : { message, action, ms, reason, resolve: null, reject: null };
    this.#settlements.push(settlement);
    if (action !== 'extend') {
      this.#unsettled--;
      this.#creditsDue++;
      if (this.#roomWaiters.length > 0) this.#wake(this.#roomWaiters);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushNow);
    }
    if (quiet || settlement instanceof LeasedMessage) return undefined;
    this.#settlementsAwaited++;
    const settled = new Promise<void>((resolve, reject) => {
      settlement.resolve = resolve;
      settlement.reject = reject;
    });
    settled.catch(() => {}); // may be ignored (fire and forget) without an unhandled rejection
    return settled;
  }

  readonly #flushNow = (): void => this.#flush();

  /**
   * Sends the queued settlements in one request, consecutive offsets of one partition with the
   * same action and delivery count as one settlement; the credits they return (push) ride along.
   */
  #flush(closing = false): void {
    this.#flushScheduled = false;
    const settlements = this.#settlements;
    const awaited = this.#settlementsAwaited;
    this.#settlements = [];
    this.#settlementsAwaited = 0;
    const active = this.#active;
    let credits = 0;
    // Credits go back in bunches of half the prefetch (or all once nothing is held), so that the
    // broker sends big deliveries rather than one per settled handful.
    // A closing consumer asks for nothing more.
    if (active !== null && !closing && this.#options.mode === 'push' && (this.#creditsDue >= this.#creditBunch || this.#unsettled === 0)) {
      credits = this.#creditsDue;
      this.#creditsDue = 0;
    }
    // Closing sends an answered request even with nothing left to settle when quiet ones went
    // before it: its answer comes once everything the connection settled before is durable.
    if (settlements.length === 0 && !(closing && this.#quietSent && active !== null)) return;
    const items: QueueSettleRequest['settlements'] = [];
    /** Per item: the index of its first settlement, and the offset after its last (as a number). */
    const firsts: number[] = [];
    let nextOffset = -1;
    for (let i = 0; i < settlements.length; i++) {
      const settlement = settlements[i]!;
      let message: LeasedMessage;
      let action: SettleAction = 'ack';
      let ms = 0;
      let reason = '';
      if (settlement instanceof LeasedMessage) message = settlement;
      else ({ message, action, ms, reason } = settlement);
      const offset = message.offsetNumber;
      const last = items[items.length - 1];
      if (
        last !== undefined && offset === nextOffset && action === last.action && (action === 'ack' || action === 'nack')
        && ms === last.ms && message.partition === last.partition && message.deliveryCount === last.deliveryCount
        && message.leaseEpoch === last.leaseEpoch
      ) {
        last.count++;
        nextOffset++;
        continue;
      }
      items.push({ action, partition: message.partition, offset: message.offset, count: 1, deliveryCount: message.deliveryCount, leaseEpoch: message.leaseEpoch, ms, reason });
      firsts.push(i);
      nextOffset = offset + 1;
    }
    const request = {
      topic: this.#options.topic,
      subscription: this.#options.subscription,
      consumerId: active?.consumerId ?? 0,
      credits,
      settlements: items,
    };
    // Nobody waits for the outcome of quiet settlements (run() acknowledging): they go without an
    // answer, which spares both sides a frame per request.
    if (active !== null && !closing && awaited === 0) {
      this.#quietSent = active.connection.requestNoResponse('queueSettleQuiet', request);
      return;
    }
    if (active !== null) this.#quietSent = false;
    const sending = active !== null ? active.connection.request('queueSettle', request) : this.#client.request('queueSettle', request);
    this.#settling.add(sending);
    void sending.finally(() => this.#settling.delete(sending)).catch(() => {});
    sending.then(
      (failures) => {
        for (const failure of failures) {
          const item = items[failure.index];
          const settlement = item === undefined ? undefined : settlements[firsts[failure.index]! + Number(failure.offset - item.offset)];
          if (settlement === undefined || settlement instanceof LeasedMessage) continue;
          settlement.reject?.(new WeirError(errorCodeFromWire(failure.errorCode), failure.errorMessage));
          settlement.reject = null;
        }
        for (const settlement of settlements) if (!(settlement instanceof LeasedMessage)) settlement.resolve?.();
      },
      (error: unknown) => {
        const failure = isWeirError(error) ? error : new WeirError('UNKNOWN', String(error));
        for (const settlement of settlements) if (!(settlement instanceof LeasedMessage)) settlement.reject?.(failure);
      },
    );
  }

  #dropBuffered(): void {
    this.#unsettled -= this.#buffer.length - this.#bufferHead;
    this.#buffer = [];
    this.#bufferHead = 0;
    this.#unsettled = Math.max(0, this.#unsettled);
  }

  /**
   * Sends pending settlements and waits for their answers (up to `closeSettleWaitMs`), gives back
   * the buffered messages the application never got (their deliveries do not count), then leaves
   * the subscription: the messages the application holds unsettled go to other consumers as
   * failed deliveries, among them one whose run() handler is still running (it is delivered
   * again). Leaving a `for await` loop early calls it. Idempotent: every call returns the first
   * one's outcome.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#flush(true);
    this.#closing = true;
    if (this.#settling.size > 0) await waitAtMost(Promise.allSettled([...this.#settling]), closeSettleWaitMs);
    this.#wake(this.#dataWaiters);
    this.#wake(this.#roomWaiters);
    const active = this.#active;
    this.#active = null;
    if (active !== null && !active.connection.closed) {
      await this.#releaseBuffered(active);
      this.#left = true;
      active.connection.forgetSubscription(active.consumerId);
      await active.connection.request('queueUnsubscribe', { consumerId: active.consumerId }).catch(() => {});
    }
    this.#left = true;
    this.#dropBuffered();
    this.#client.untrack(this);
  }

  /**
   * Gives the buffered messages back with `release` (a broker before protocol version 2 does not
   * know it: there they count as before, failed when the consumer leaves). Each answer comes
   * after the deliveries the broker sent before the request; the first request stops deliveries
   * to this consumer, so the messages that crossed it go back in a second one. The first is sent
   * with an empty buffer too, as a release of nothing: a delivery may be on its way all the same.
   */
  async #releaseBuffered(active: { connection: Connection; consumerId: number }): Promise<void> {
    if ((active.connection.hello?.version ?? 0) < releaseVersionMin) return;
    for (let round = 0; round < closeReleaseRoundsMax; round++) {
      const messages = this.#buffer.slice(this.#bufferHead) as LeasedMessage[];
      this.#dropBuffered();
      if (messages.length === 0 && round > 0) return;
      const settlements = messages.length === 0 ? [stopDeliveries] : releaseRuns(messages);
      const request = { topic: this.#options.topic, subscription: this.#options.subscription, consumerId: active.consumerId, credits: 0, settlements };
      // A failure (the connection lost) leaves them to the broker, as the unsubscribe does.
      await active.connection.request('queueSettle', request).catch(() => {});
      await this.#receiving?.catch(() => {}); // a receive the release crossed: its messages are buffered
    }
  }
}

/**
 * A release of nothing (count 0): it only stops deliveries to the consumer. A broker from before
 * it was allowed refuses the request with INVALID_REQUEST, after stopping them all the same.
 */
const stopDeliveries: QueueSettleRequest['settlements'][number] = { action: 'release', partition: 0, offset: 0n, count: 0, deliveryCount: 0, leaseEpoch: 0, ms: 0, reason: '' };

/** `release` settlements for messages, a run of adjacent offsets with one delivery as one settlement. */
function releaseRuns(messages: LeasedMessage[]): QueueSettleRequest['settlements'] {
  const items: QueueSettleRequest['settlements'] = [];
  let nextOffset = -1;
  for (const message of messages) {
    const last = items[items.length - 1];
    if (
      last !== undefined && message.offsetNumber === nextOffset && message.partition === last.partition
      && message.deliveryCount === last.deliveryCount && message.leaseEpoch === last.leaseEpoch
    ) {
      last.count++;
    } else {
      items.push({ action: 'release', partition: message.partition, offset: message.offset, count: 1, deliveryCount: message.deliveryCount, leaseEpoch: message.leaseEpoch, ms: 0, reason: '' });
    }
    nextOffset = message.offsetNumber + 1;
  }
  return items;
}
