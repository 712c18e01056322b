/**
 * The producer: batches messages per partition by size (`batchBytesMax`) and time (`lingerMs`),
 * partitions by key with Kafka's murmur2, and sends batches as RecordBatch v2 bytes.
 *
 * Idempotence (on by default): the producer takes a producer id, numbers each partition's
 * records with sequence numbers, and after a lost acknowledgement or a reconnect resends a batch
 * with the same numbers, so the broker recognises it and does not store it twice. At most
 * `inFlightBatchesPerPartitionMax` batches per partition are unacknowledged (the broker
 * remembers that many per producer), and a failed batch is resent together with its successors,
 * in order.
 *
 * Topic changes: a topic is described on its first message, every `metadataMaxAgeMs`, and when
 * the broker's answers show the description is out of date. A batch refused as larger than the
 * topic's messageBytesMax (lowered since) is split to the limit learnt and resent (with
 * idempotence its successors are numbered again after it, as in Kafka); only a message too large
 * alone fails with MESSAGE_TOO_LARGE. A message naming a partition past the known count waits
 * for the topic to be described again (once for all such messages) and fails with
 * UNKNOWN_PARTITION only if the partition still does not exist.
 *
 * Memory is bounded: messages waiting in batches, in flight, or for their topic's description
 * (counted at their keys' and values' size) take at most `bufferBytesMax`;
 * `send` waits for room, `sendNoWait` refuses (returns false) until `ready()` resolves.
 *
 * Hot path: `sendNoWait` appends into the partition's batch builder and keeps no promise or
 * closure per message (a callback only if the caller passes one); promises and timers exist per
 * batch.
 */
import { BatchBufferPool, RecordBatchBuilder, batchHeaderBytes, batchOffsets, decodeBatch, decompressedBytesMax, type RecordHeader, type RecordInput } from '../format/record-batch.js';
import { compressionCodecs, type CompressionName } from '../format/compression.js';
import { crc32c } from '../format/crc32c.js';
import { WeirError, asWeirError } from '../util/errors.js';
import { wasUnanswered } from './connection.js';
import type { Acks, ProduceResponse, TopicDescription } from '../protocol/native/wire/messages.js';
import { backoffDelayMs } from './backoff.js';
import type { Client } from './client.js';
import { toRecordInput, type Bytes, type ProducerMessage, type RecordMetadata } from './message.js';
import { partitionForKey } from '../format/partitioner.js';
import { checkInteger, checkKnownKeys, checkOneOf, timerDelayMsMax } from './options.js';

export const producerDefaults = {
  acks: 'leader' as Acks,
  idempotent: true,
  /**
   * 0: a batch is sealed once the current turn of the event loop is over (or, while the
   * partition's in-flight budget is used up, once a slot frees, so batches still grow under load).
   */
  lingerMs: 0,
  /** Smaller batches pipeline better through fdatasync than 1 MiB ones (measured). */
  batchBytesMax: 256 * 1024,
  bufferBytesMax: 64 * 1024 * 1024,
  compression: 'none' as CompressionName,
  /** At most the broker's producerBatchesRemembered (10), so that retries are recognised. */
  inFlightBatchesPerPartitionMax: 10,
  /**
   * A message not acknowledged this long after it was sent fails with TIMEOUT, also one still
   * waiting for its topic to be described (the broker cannot be reached).
   */
  deliveryTimeoutMs: 120_000,
  retryBackoffMsMin: 50,
  retryBackoffMsMax: 2_000,
  /** Known topics are described again this often, so that partitions added to them are used (Kafka's metadata.max.age.ms). */
  metadataMaxAgeMs: 300_000,
} as const;

export interface ProducerOptions {
  /** 'leader' (default): answered once stored by the topic's flush policy; 'none': not answered. */
  acks?: Acks;
  /** Default true (forced off with acks 'none'). */
  idempotent?: boolean;
  lingerMs?: number;
  batchBytesMax?: number;
  bufferBytesMax?: number;
  compression?: CompressionName;
  inFlightBatchesPerPartitionMax?: number;
  deliveryTimeoutMs?: number;
  retryBackoffMsMin?: number;
  retryBackoffMsMax?: number;
  metadataMaxAgeMs?: number;
}

export type SendCallback = (error: WeirError | null, metadata?: RecordMetadata) => void;

/**
 * How `send(topic, messages)` fails: with the first refusal's code, once every message it handed
 * to the producer is settled, and with what became of each message in `results` (in the order
 * given): where it was stored, why it was not, or undefined when it was never sent (sending stops
 * at the first refusal). Messages to different partitions travel in different batches, so some
 * can be stored while others are refused (say QUEUE_FULL from one partition's subscription);
 * `results` tells which, so that a retry sends only the rest.
 */
export class SendError extends WeirError {
  readonly results: readonly (RecordMetadata | WeirError | undefined)[];

  constructor(first: WeirError, results: (RecordMetadata | WeirError | undefined)[]) {
    const stored = results.filter((r) => r !== undefined && !(r instanceof WeirError)).length;
    super(first.code, `${results.length - stored} of ${results.length} messages not stored (${stored} stored): ${first.message}`, { cause: first, retriable: first.retriable });
    this.name = 'SendError';
    this.results = results;
  }
}

const sequenceModulus = 2 ** 31;
/**
 * The batches per producer and partition the broker remembers (its producerBatchesRemembered): an
 * idempotent producer with more in flight could resend one the broker no longer recognises.
 */
const idempotentInFlightBatchesMax = 10;
/** Buffers of acknowledged batches kept for reuse (at most this many batches' worth of memory). */
const batchBuffersKept = 16;

interface Batch {
  serial: number;
  state: PartitionState;
  builder: RecordBatchBuilder;
  bytes: Buffer | null;
  /** The producer id the bytes were stamped with … */
  producerId: bigint;
  /** … and the partition's numbering generation (see #renumberAfter). */
  generation: number;
  count: number;
  baseSequence: number;
  callbacks: CallbackRuns;
  accountedBytes: number;
  createdMs: number;
  attempts: number;
  /** Refused as larger than the topic's messageBytesMax: split before it goes again (see #split). */
  tooLarge: boolean;
}

interface PartitionState {
  topic: string;
  partition: number;
  builder: RecordBatchBuilder | null;
  /** A built batch's builder, reset, for the next batch. */
  spareBuilder: RecordBatchBuilder | null;
  callbacks: CallbackRuns;
  nextSequence: number;
  queue: Batch[];
  retrying: Batch[];
  inFlight: number;
  /** Waiting for a retry: nothing new is sent until the failed batches have gone again. */
  blocked: boolean;
  retryScheduled: boolean;
  /** The linger time of the open batch is over; it is sealed as soon as it can be sent. */
  sealWhenFree: boolean;
  /** Raised when sequence numbers are reassigned after a refused batch. */
  generation: number;
  /** The retry is held until the topic has been described again, to split a batch to its limit. */
  awaitingDescription: boolean;
  /** The retriable refusal that the partition's batches are waiting out, named if they time out. */
  lastRefusal: WeirError | null;
}

interface TopicMetadata {
  partitionCount: number;
  batchBytesMax: number;
  /** The topic's messageBytesMax: a batch larger than this is refused. */
  messageBytesMax: number;
  /** Indexed by partition; may run past partitionCount after the topic came back smaller. */
  partitions: PartitionState[];
  sticky: number;
  /** The broker answered UNKNOWN_TOPIC or UNKNOWN_PARTITION: described again before the next message. */
  stale: boolean;
}

interface Waiting {
  message: ProducerMessage;
  callback: SendCallback | undefined;
  /** When it began to wait: it fails with TIMEOUT after deliveryTimeoutMs. */
  sinceMs: number;
  /** What it is counted as in the buffer (heldBytesOf). */
  bytes: number;
}

export class Producer {
  readonly #client: Client;
  readonly #options: Required<ProducerOptions>;
  readonly #topics = new Map<string, TopicMetadata>();
  readonly #waitingForMetadata = new Map<string, Waiting[]>();
  /** Messages in #waitingForMetadata (an empty list there marks a describe under way). */
  #waitingCount = 0;
  /** Why the last describe of a topic failed, named when its waiting messages time out. */
  readonly #describeFailures = new Map<string, WeirError>();
  /** Buffers of acknowledged batches, for new batches to be built in. */
  readonly #batchBuffers = new BatchBufferPool(batchBuffersKept);
  #bufferedBytes = 0;
  #unsettledBatches = 0;
  #openBuilders = 0;
  #capacityWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #lingerTimer: NodeJS.Timeout | null = null;
  #lingerImmediate: NodeJS.Immediate | null = null;
  #expiryTimer: NodeJS.Timeout | null = null;
  #metadataTimer: NodeJS.Timeout | null = null;
  #producerId = -1n;
  #producerEpoch = -1;
  #producerIdStale: boolean;
  #producerIdLoading = false;
  #connectionWaiting = false;
  #serial = 0;
  #closed = false;

  constructor(client: Client, options: ProducerOptions = {}) {
    this.#client = client;
    checkKnownKeys(options, producerOptionKeys, { owner: 'producer' });
    const acks = options.acks ?? producerDefaults.acks;
    this.#options = {
      acks,
      idempotent: acks === 'none' ? false : (options.idempotent ?? producerDefaults.idempotent),
      lingerMs: options.lingerMs ?? producerDefaults.lingerMs,
      batchBytesMax: options.batchBytesMax ?? producerDefaults.batchBytesMax,
      bufferBytesMax: options.bufferBytesMax ?? producerDefaults.bufferBytesMax,
      compression: options.compression ?? producerDefaults.compression,
      inFlightBatchesPerPartitionMax: options.inFlightBatchesPerPartitionMax ?? producerDefaults.inFlightBatchesPerPartitionMax,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? producerDefaults.deliveryTimeoutMs,
      retryBackoffMsMin: options.retryBackoffMsMin ?? producerDefaults.retryBackoffMsMin,
      retryBackoffMsMax: options.retryBackoffMsMax ?? producerDefaults.retryBackoffMsMax,
      metadataMaxAgeMs: options.metadataMaxAgeMs ?? producerDefaults.metadataMaxAgeMs,
    };
    if (!(this.#options.compression in compressionCodecs)) {
      throw new WeirError('INVALID_CONFIG', `compression ${this.#options.compression} is not one of ${Object.keys(compressionCodecs).join(', ')}`);
    }
    checkProducerOptions(this.#options);
    this.#producerIdStale = this.#options.idempotent;
    client.track(this); // last: a producer refused above is not kept
  }

  /** Bytes of messages batched or in flight (at most about bufferBytesMax). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /**
   * A retriable refusal (say DISK_FREE_LOW) that unsettled messages are being retried through, or
   * null: why sends are slow to be acknowledged. They fail with TIMEOUT, naming it, once
   * deliveryTimeoutMs has passed.
   */
  get retryingAfter(): WeirError | null {
    for (const metadata of this.#topics.values()) {
      for (const state of metadata.partitions) {
        if (state?.lastRefusal && state.retrying.length + state.inFlight > 0) return state.lastRefusal;
      }
    }
    return null;
  }

  /**
   * Sends one message or several; resolves when the broker has stored them (per `acks`), with
   * where each went. Waits for buffer room first when `bufferBytesMax` is reached.
   */
  send(topic: string, message: ProducerMessage): Promise<RecordMetadata>;
  send(topic: string, messages: readonly ProducerMessage[]): Promise<RecordMetadata[]>;
  send(topic: string, input: ProducerMessage | readonly ProducerMessage[]): Promise<RecordMetadata | RecordMetadata[]> {
    if (!Array.isArray(input)) {
      return new Promise((resolve, reject) => {
        const callback: SendCallback = (error, metadata) => (error ? reject(error) : resolve(metadata!));
        if (!this.sendNoWait(topic, input as ProducerMessage, callback)) void this.#offerWhenReady(topic, input as ProducerMessage, callback);
      });
    }
    const messages = input as readonly ProducerMessage[];
    return new Promise((resolve, reject) => {
      const results: (RecordMetadata | WeirError | undefined)[] = new Array(messages.length);
      let offered = 0;
      let settled = 0;
      let offering = true;
      let failure: WeirError | null = null;
      const finish = (): void => {
        if (offering || settled < offered) return;
        if (failure === null) resolve(results as RecordMetadata[]);
        else reject(new SendError(failure, results));
      };
      void (async () => {
        for (let i = 0; i < messages.length && failure === null; i++) {
          const callback: SendCallback = (error, metadata) => {
            results[i] = error ?? metadata!;
            failure ??= error;
            settled++;
            finish();
          };
          offered++;
          try {
            if (!this.sendNoWait(topic, messages[i]!, callback)) await this.#offerWhenReady(topic, messages[i]!, callback);
          } catch (error) {
            callback(asWeirError(error));
          }
        }
        offering = false;
        finish();
      })();
    });
  }

  async #offerWhenReady(topic: string, message: ProducerMessage, callback: SendCallback): Promise<void> {
    while (!this.#closed) {
      await this.ready();
      if (this.sendNoWait(topic, message, callback)) return;
    }
    callback(new WeirError('CLOSED', 'the producer is closed'));
  }

  /**
   * Queues a message without a promise: `callback` (optional) is called once it is stored or has
   * failed. Returns false, taking nothing, only when the buffer is full: await `ready()` and retry.
   * Otherwise returns true, also for a message refused at once (after `close()` the callback gets
   * CLOSED, for a malformed message INVALID_REQUEST): there is nothing to retry, and the outcome
   * is the callback's. Once the topic's partitions are known (after its first message), the bytes
   * are copied into the batch at once, so the caller may reuse its buffers; a message naming a
   * partition past the known ones waits (uncopied) for the topic to be described again.
   */
  sendNoWait(topic: string, message: ProducerMessage, callback?: SendCallback): boolean {
    if (this.#closed) {
      callback?.(new WeirError('CLOSED', 'the producer is closed'));
      return true;
    }
    if (typeof topic !== 'string' || typeof message !== 'object' || message === null) {
      callback?.(new WeirError('INVALID_REQUEST', typeof topic !== 'string' ? 'the topic must be a string' : 'a message must be an object with a value'));
      return true;
    }
    if (this.#bufferedBytes >= this.#options.bufferBytesMax) return false;
    const metadata = this.#topics.get(topic);
    if (metadata === undefined || metadata.stale) {
      this.#waitForMetadata(topic, message, callback);
      return true;
    }
    this.#append(topic, metadata, message, callback);
    return true;
  }

  /** Resolves when the buffer has room again (at once when it has). */
  ready(): Promise<void> {
    if (this.#bufferedBytes < this.#options.bufferBytesMax || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  #waitForMetadata(topic: string, message: ProducerMessage, callback: SendCallback | undefined): void {
    // Counted against the buffer at the memory it holds, so that a flood for a topic not described
    // yet (the broker is down, say) is bounded as batched messages are.
    const waiting: Waiting = { message, callback, sinceMs: Date.now(), bytes: heldBytesOf(message) };
    this.#bufferedBytes += waiting.bytes;
    this.#waitingCount++;
    this.#armExpiry();
    const list = this.#waitingForMetadata.get(topic);
    if (list !== undefined) {
      list.push(waiting);
      return;
    }
    this.#waitingForMetadata.set(topic, [waiting]);
    this.#loadMetadata(topic, 0);
  }

  #loadMetadata(topic: string, attempt: number): void {
    // The partition of the first waiting message, when it names one: the broker then creates a
    // missing topic only when its defaults give that partition.
    const partition = this.#waitingForMetadata.get(topic)?.[0]?.message.partition ?? -1;
    this.#client.request('describeTopic', { name: topic, ensure: true, partition }).then(
      (description) => {
        this.#describeFailures.delete(topic);
        this.#applyDescription(topic, description);
        this.#releaseWaiting(topic, null);
      },
      (error: WeirError) => {
        if (error.code === 'UNKNOWN_PARTITION' && partition >= 0) {
          // That partition and every higher one are refused; the other messages ask again.
          this.#releaseWaitingFrom(topic, partition, error);
          if (this.#waitingForMetadata.has(topic)) this.#loadMetadata(topic, attempt);
          return;
        }
        if (!error.retriable || this.#client.isClosed || attempt >= metadataAttemptsMax) {
          this.#describeFailures.delete(topic);
          this.#releaseWaiting(topic, error);
          return;
        }
        this.#describeFailures.set(topic, error);
        const delayMs = backoffDelayMs(attempt, { backoffMsMin: this.#options.retryBackoffMsMin, backoffMsMax: this.#options.retryBackoffMsMax });
        setTimeout(() => {
          // Every waiting message may have expired meanwhile: then nobody needs the answer, unless
          // a partition holds a batch refused as too large for it (#resend).
          const awaited = this.#topics.get(topic)?.partitions.some((state) => state?.awaitingDescription) ?? false;
          if (this.#waitingForMetadata.get(topic)?.length === 0 && !awaited) {
            this.#waitingForMetadata.delete(topic);
            this.#describeFailures.delete(topic);
          } else {
            this.#loadMetadata(topic, attempt + 1);
          }
        }, delayMs);
      },
    );
  }

  #applyDescription(topic: string, description: TopicDescription): void {
    const partitionCount = description.partitions.length;
    const batchBytesMax = Math.min(this.#options.batchBytesMax, description.config.messageBytesMax);
    const known = this.#topics.get(topic);
    if (known === undefined) {
      const sticky = Math.floor(Math.random() * partitionCount);
      this.#topics.set(topic, { partitionCount, batchBytesMax, messageBytesMax: description.config.messageBytesMax, partitions: new Array(partitionCount), sticky, stale: false });
      this.#armMetadataRefresh();
      return;
    }
    // Partitions were added, or the topic was deleted and created again with another count. The
    // partition states stay (batches of theirs may still be queued or in flight); sequence numbers
    // need no reset: the broker starts a producer it does not know at any sequence.
    known.partitionCount = partitionCount;
    known.batchBytesMax = batchBytesMax;
    known.messageBytesMax = description.config.messageBytesMax;
    if (known.partitions.length < partitionCount) known.partitions.length = partitionCount;
    if (known.sticky >= partitionCount) known.sticky = 0;
    known.stale = false;
  }

  /** Every metadataMaxAgeMs, describes the known topics again (in the background; sends go on). */
  #armMetadataRefresh(): void {
    if (this.#metadataTimer !== null) return;
    this.#metadataTimer = setInterval(() => {
      for (const [topic, metadata] of this.#topics) {
        if (metadata.stale || this.#waitingForMetadata.has(topic)) continue;
        this.#client.request('describeTopic', { name: topic, ensure: false, partition: -1 }).then(
          (description) => {
            if (!this.#waitingForMetadata.has(topic)) this.#applyDescription(topic, description);
          },
          (error: WeirError) => {
            if (error.code === 'UNKNOWN_TOPIC') metadata.stale = true;
          },
        );
      }
    }, this.#options.metadataMaxAgeMs);
    this.#metadataTimer.unref();
  }

  /** Fails the waiting messages of `topic` that name `partition` or a higher one. */
  #releaseWaitingFrom(topic: string, partition: number, error: WeirError): void {
    const list = this.#waitingForMetadata.get(topic) ?? [];
    const refused = list.filter(({ message }) => message.partition !== undefined && message.partition >= partition);
    const left = list.filter((waiting) => !refused.includes(waiting));
    if (left.length > 0) this.#waitingForMetadata.set(topic, left);
    else this.#waitingForMetadata.delete(topic);
    this.#bufferedBytes -= bytesOf(refused);
    this.#waitingCount -= refused.length;
    for (const { callback } of refused) callback?.(error);
    this.#wakeWaiters();
  }

  #releaseWaiting(topic: string, error: WeirError | null): void {
    const list = this.#waitingForMetadata.get(topic) ?? [];
    this.#waitingForMetadata.delete(topic);
    this.#bufferedBytes -= bytesOf(list);
    this.#waitingCount -= list.length;
    const metadata = this.#topics.get(topic);
    for (const { message, callback } of list) {
      if (error !== null || metadata === undefined) callback?.(error ?? new WeirError('UNKNOWN_TOPIC', `topic ${topic} is unknown`));
      else if (message.partition !== undefined && message.partition >= metadata.partitionCount) {
        // Described just now: the partition does not exist (not waited for again).
        callback?.(new WeirError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${message.partition} (it has ${metadata.partitionCount})`));
      } else this.#append(topic, metadata, message, callback);
    }
    // Retries held for this description (#resend) go now, with the limits learnt or, if the
    // describe failed, the old ones.
    for (const state of metadata?.partitions ?? []) if (state?.awaitingDescription) this.#resend(state);
    this.#wakeWaiters();
  }

  /** Describes a known topic again (one request, however many ask for it); sends go on meanwhile. */
  #describeAgain(topic: string): void {
    if (this.#waitingForMetadata.has(topic)) return;
    this.#waitingForMetadata.set(topic, []);
    this.#loadMetadata(topic, 0);
  }

  #append(topic: string, metadata: TopicMetadata, message: ProducerMessage, callback: SendCallback | undefined): void {
    const plain = isPlainRecord(message);
    let record: RecordInput;
    try {
      record = plain ? message : toRecordInput(message);
    } catch (error) {
      callback?.(asWeirError(error)); // nothing of it was added
      return;
    }
    const payloadBytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
    // The record's exact size (alone in a batch, with zero deltas), worked out once and only where
    // needed: with headers or not plain, and near the limit. Otherwise a cheap bound serves.
    const exact = !plain || record.headers !== undefined || payloadBytes + batchHeaderBytes + plainRecordOverheadBytesMax > metadata.messageBytesMax;
    const recordBytes = exact ? RecordBatchBuilder.recordSizeBytes(record) : plainRecordOverheadBytesMax + payloadBytes;
    if (exact && recordBytes + batchHeaderBytes > metadata.messageBytesMax) {
      // Refused here rather than sent: the broker would refuse its batch, and past 64 MiB it is no frame at all.
      callback?.(
        new WeirError(
          'MESSAGE_TOO_LARGE',
          `a message of ${payloadBytes} bytes (key and value; ${recordBytes} as a record) does not fit in a batch of topic ${topic}'s messageBytesMax ${metadata.messageBytesMax} (a batch's header takes ${batchHeaderBytes})`,
        ),
      );
      return;
    }
    let partition = message.partition;
    if (partition === undefined) partition = record.key != null ? partitionForKey(record.key, metadata.partitionCount) : metadata.sticky;
    else if (!Number.isInteger(partition) || partition < 0) {
      callback?.(new WeirError('INVALID_REQUEST', `partition must be a non-negative integer, not ${JSON.stringify(partition)}`));
      return;
    }
    if (partition >= metadata.partitionCount) {
      // Named explicitly, and perhaps added since the topic was described: ask the broker (one
      // request for all the messages waiting) before refusing it (#releaseWaiting).
      this.#waitForMetadata(topic, message, callback);
      return;
    }
    const state = (metadata.partitions[partition] ??= newPartitionState(topic, partition));
    let builder = state.builder;
    // Real deltas take a few bytes more than the zero deltas of an exact size.
    if (builder !== null && builder.sizeBytes + recordBytes + (exact ? recordSlackBytes : 0) > metadata.batchBytesMax) {
      this.#seal(state, metadata);
      builder = null;
    }
    if (builder === null) {
      builder = state.builder = state.spareBuilder ?? new RecordBatchBuilder(this.#batchBuffers);
      state.spareBuilder = null;
      this.#openBuilders++;
      this.#armLinger();
    }
    // A new batch's header counts too: the batch gives back its whole size when it settles.
    const before = builder.count === 0 ? 0 : builder.sizeBytes;
    builder.add(record);
    if (callback !== undefined) addCallback(state.callbacks, callback, builder.count - 1);
    this.#bufferedBytes += builder.sizeBytes - before;
  }

  #armLinger(): void {
    if (this.#lingerTimer !== null || this.#lingerImmediate !== null) return;
    // While a flush (or close) waits, a message batched now (one that waited for its topic's
    // description, or for room in the buffer) goes without lingering too, as Kafka's flush does.
    if (this.#options.lingerMs <= 0 || this.#idleWaiters.length > 0) {
      // No linger: seal once the caller's synchronous run of sends is over (timers cost ≥ 1 ms).
      this.#lingerImmediate = setImmediate(() => {
        this.#lingerImmediate = null;
        this.#sealAll();
      });
      return;
    }
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = null;
      this.#sealAll();
    }, this.#options.lingerMs);
  }

  /**
   * The linger time is over: seal the open batches. A partition that cannot send right now (its
   * in-flight budget is used up, a retry is pending) keeps filling its batch and seals it when a
   * slot frees, so batches grow under load and stay small (fast) when the producer is idle.
   * `force` (flush) seals everything.
   */
  #sealAll(force = false): void {
    for (const metadata of this.#topics.values()) {
      for (const state of metadata.partitions) {
        if (state === undefined || state.builder === null) continue;
        if (force || !this.#holdOpen(state)) this.#seal(state, metadata);
        else state.sealWhenFree = true;
      }
    }
  }

  /**
   * Whether the partition's open batch should keep filling: its in-flight budget is used up, a
   * retry is pending or sealed batches are still queued (a wait on the connection or the producer
   * id does not count: those batches are sealed, so that deliveryTimeoutMs applies to them).
   */
  #holdOpen(state: PartitionState): boolean {
    if (state.blocked || state.queue.length > 0) return true;
    const inFlightMax = this.#options.inFlightBatchesPerPartitionMax;
    if (state.inFlight >= inFlightMax) return true;
    // Past half the budget only big batches go out: small ones keep filling, since many small
    // requests cost more than they pipeline (100 B messages), while big ones gain (1 KiB).
    return state.inFlight >= Math.ceil(inFlightMax / 2) && (state.builder?.sizeBytes ?? 0) < this.#options.batchBytesMax / 2;
  }

  #seal(state: PartitionState, metadata: TopicMetadata): void {
    state.sealWhenFree = false;
    const builder = state.builder;
    if (builder === null) return;
    state.builder = null;
    this.#openBuilders--;
    if (builder.count === 0) {
      state.spareBuilder ??= builder;
      return;
    }
    const batch: Batch = {
      serial: this.#serial++,
      state,
      builder,
      bytes: null,
      producerId: -1n,
      generation: -1,
      count: builder.count,
      baseSequence: -1,
      callbacks: state.callbacks,
      accountedBytes: builder.sizeBytes,
      createdMs: Date.now(),
      attempts: 0,
      tooLarge: false,
    };
    state.callbacks = newCallbackRuns();
    // Built now when the sequence numbers can be assigned in order; the builder then serves the
    // partition's next batch, starting at the size this one reached (no regrowth per batch).
    const last = state.queue[state.queue.length - 1];
    if (!this.#producerIdStale && state.retrying.length === 0 && (last === undefined || (last.producerId === this.#producerId && last.generation === state.generation))) {
      this.#stamp(batch);
      state.spareBuilder = builder;
    }
    state.queue.push(batch);
    this.#unsettledBatches++;
    this.#armExpiry();
    if (metadata.sticky === state.partition) metadata.sticky = (state.partition + 1) % metadata.partitionCount;
    this.#pump(state);
  }

  /**
   * While batches are unsettled or messages wait for their topic's description, fails those that
   * waited past deliveryTimeoutMs.
   */
  #armExpiry(): void {
    if (this.#expiryTimer !== null) return;
    this.#expiryTimer = setInterval(() => {
      if (this.#unsettledBatches === 0 && this.#waitingCount === 0) {
        clearInterval(this.#expiryTimer!);
        this.#expiryTimer = null;
        return;
      }
      this.#expire(Date.now() - this.#options.deliveryTimeoutMs);
      this.#pumpAll(); // open batches held back behind expired ones are sealed now
    }, expirySweepMs);
    this.#expiryTimer.unref();
  }

  get #timeoutText(): string {
    return `not acknowledged within deliveryTimeoutMs (${this.#options.deliveryTimeoutMs} ms)`;
  }

  #expire(createdBeforeMs: number): void {
    const timeout = this.#timeoutText;
    this.#expireWaiting(createdBeforeMs, timeout);
    for (const metadata of this.#topics.values()) {
      for (const state of metadata.partitions) {
        if (!state) continue;
        for (const list of [state.queue, state.retrying]) {
          const expired = list.filter((batch) => batch.createdMs < createdBeforeMs);
          if (expired.length === 0) continue;
          list.splice(0, list.length, ...list.filter((batch) => batch.createdMs >= createdBeforeMs));
          // Retried until the time ran out: the broker's last refusal is the reason.
          const error = timeoutError(timeout, state.lastRefusal);
          for (const batch of expired) this.#complete(batch, -1n, error);
          // The broker never saw these sequence numbers: later batches would leave a gap.
          if (this.#options.idempotent) this.#markProducerIdStale();
        }
      }
    }
  }

  /** Fails the messages that waited for their topic's description past deliveryTimeoutMs. */
  #expireWaiting(sinceBeforeMs: number, timeout: string): void {
    if (this.#waitingCount === 0) return;
    for (const [topic, list] of this.#waitingForMetadata) {
      const expired = list.filter((waiting) => waiting.sinceMs < sinceBeforeMs);
      if (expired.length === 0) continue;
      // The list stays, emptied or not: it marks the describe still under way.
      list.splice(0, list.length, ...list.filter((waiting) => waiting.sinceMs >= sinceBeforeMs));
      this.#bufferedBytes -= bytesOf(expired);
      this.#waitingCount -= expired.length;
      const error = timeoutError(`${timeout} (topic ${topic} could not be described)`, this.#describeFailures.get(topic) ?? null);
      for (const { callback } of expired) callback?.(error);
    }
    this.#wakeWaiters();
  }

  #pump(state: PartitionState): void {
    if (state.sealWhenFree && !this.#holdOpen(state)) {
      this.#seal(state, this.#topics.get(state.topic)!); // seals and comes back here
      return;
    }
    if (state.blocked || state.queue.length === 0) return;
    if (this.#producerIdStale) {
      this.#loadProducerId();
      return;
    }
    const connection = this.#client.currentConnection;
    if (connection === null) {
      this.#awaitConnection();
      return;
    }
    const acks = this.#options.acks;
    while (state.queue.length > 0 && state.inFlight < this.#options.inFlightBatchesPerPartitionMax) {
      const batch = state.queue.shift()!;
      const bytes = this.#stamp(batch);
      state.inFlight++;
      const request = { topic: state.topic, partition: state.partition, acks, batches: bytes };
      if (acks === 'none') {
        if (connection.requestNoResponse('produce', request)) this.#onProduced(batch, null, undefined);
        else this.#onProduced(batch, new WeirError('CONNECTION_CLOSED', 'the connection closed before the batch was sent'), undefined);
      } else {
        connection.requestCallback('produce', request, (error, response) => this.#onProduced(batch, error, response));
      }
    }
  }

  /** The batch's bytes with the current producer id and its sequence numbers. */
  #stamp(batch: Batch): Buffer {
    const state = batch.state;
    if (batch.bytes !== null && batch.producerId === this.#producerId && batch.generation === state.generation) return batch.bytes;
    const idempotent = this.#options.idempotent;
    batch.producerId = this.#producerId;
    batch.generation = state.generation;
    batch.baseSequence = idempotent ? state.nextSequence : -1;
    if (idempotent) state.nextSequence = (state.nextSequence + batch.count) % sequenceModulus;
    if (batch.bytes === null) {
      batch.bytes = batch.builder.build({
        compression: compressionCodecs[this.#options.compression],
        producerId: idempotent ? this.#producerId : -1n,
        producerEpoch: idempotent ? this.#producerEpoch : -1,
        baseSequence: batch.baseSequence,
      });
    } else {
      // Re-stamped under a new producer id: these fields are covered by the CRC.
      batch.bytes.writeBigInt64BE(this.#producerId, batchOffsets.producerId);
      batch.bytes.writeInt16BE(this.#producerEpoch, batchOffsets.producerEpoch);
      batch.bytes.writeInt32BE(batch.baseSequence, batchOffsets.baseSequence);
      batch.bytes.writeUInt32BE(crc32c(batch.bytes.subarray(batchOffsets.attributes)), batchOffsets.crc);
    }
    return batch.bytes;
  }

  #onProduced(batch: Batch, error: WeirError | null, response: ProduceResponse | undefined): void {
    const state = batch.state;
    state.inFlight--;
    if (error === null) {
      state.lastRefusal = null;
      this.#complete(batch, response === undefined ? -1n : response.baseOffset, null);
      // Answered: the broker has read all of it, so nothing refers to the bytes any more (with
      // acks 'none' the socket may still be writing them).
      if (response !== undefined && batch.bytes !== null) {
        this.#batchBuffers.give(batch.bytes);
        batch.bytes = null;
      }
    } else if (this.#isResendable(batch, error) && Date.now() - batch.createdMs < this.#options.deliveryTimeoutMs && !this.#client.isClosed) {
      batch.attempts++;
      state.lastRefusal = error;
      if (error.code === 'MESSAGE_TOO_LARGE') {
        // The topic's messageBytesMax was lowered since it was described (as in Kafka): the batch
        // goes again in parts built to the limit learnt; the broker stored none of it, so it and
        // the batches after it are numbered again from its first sequence number.
        batch.tooLarge = true;
        this.#renumberAfter(batch);
        this.#describeAgain(state.topic);
      } else {
        // Out of order after this partition renumbered: the batch followed a refused one and was
        // not stored; it goes again with its new number. Otherwise the broker lost track of us.
        const renumbered = batch.generation !== state.generation;
        if ((error.code === 'OUT_OF_ORDER_SEQUENCE' && !renumbered) || error.code === 'UNKNOWN_PRODUCER') this.#markProducerIdStale();
      }
      state.retrying.push(batch);
      state.blocked = true;
    } else if (this.#isResendable(batch, error) && !this.#client.isClosed) {
      // Out of time: failed as the expiry sweep fails a waiting batch (whichever comes first),
      // with a TIMEOUT naming the refusal rather than the bare refusal.
      this.#complete(batch, -1n, timeoutError(this.#timeoutText, error));
      // It may have been stored: later batches cannot take its sequence numbers.
      if (this.#options.idempotent) this.#markProducerIdStale();
    } else {
      this.#complete(batch, -1n, error);
      this.#renumberAfter(batch);
      // A message alone too large: the limit may have changed, and later batches are built to it.
      if (error.code === 'MESSAGE_TOO_LARGE') this.#describeAgain(state.topic);
      if (error.code === 'UNKNOWN_TOPIC' || error.code === 'UNKNOWN_PARTITION') this.#topics.get(state.topic)!.stale = true;
    }
    if (state.inFlight > 0) {
      this.#pump(state); // a freed slot (nothing goes out while the partition is blocked)
      return;
    }
    if (state.retrying.length > 0) this.#scheduleRetry(state);
    else {
      if (!state.retryScheduled) state.blocked = false;
      this.#pump(state);
    }
  }

  /**
   * The broker refused `failed` (too large, corrupt, …) and stored nothing: the partition's later
   * batches, none of which can have been stored behind the gap, take its sequence numbers instead.
   * Batches still in flight come back OUT_OF_ORDER_SEQUENCE and are resent renumbered, so nothing
   * new is sent until they have.
   */
  #renumberAfter(failed: Batch): void {
    const state = failed.state;
    // Numbered under another producer id or before the partition last renumbered: its numbers
    // were given up already (it followed an earlier refused batch).
    if (!this.#options.idempotent || failed.baseSequence < 0 || failed.producerId !== this.#producerId || failed.generation !== state.generation) return;
    state.nextSequence = failed.baseSequence;
    state.generation++;
    if (state.inFlight > 0) state.blocked = true;
  }

  /**
   * QUEUE_FULL is retriable for the application (later, when the backlog drained) but not retried
   * here: the producer fails fast, so a full queue pushes back to the caller at once.
   * MESSAGE_TOO_LARGE is resent split while the batch holds more than one message.
   */
  #isResendable(batch: Batch, error: WeirError): boolean {
    if (error.code === 'QUEUE_FULL') return false;
    if (error.code === 'MESSAGE_TOO_LARGE') return batch.count > 1;
    return error.retriable || error.code === 'OUT_OF_ORDER_SEQUENCE' || error.code === 'UNKNOWN_PRODUCER';
  }

  #scheduleRetry(state: PartitionState): void {
    if (state.retryScheduled) return;
    state.retryScheduled = true;
    const attempts = Math.max(...state.retrying.map((b) => b.attempts));
    const delayMs = backoffDelayMs(attempts, { backoffMsMin: this.#options.retryBackoffMsMin, backoffMsMax: this.#options.retryBackoffMsMax });
    setTimeout(() => {
      state.retryScheduled = false;
      this.#resend(state);
    }, delayMs);
  }

  /** Puts the partition's failed batches back at the head of its queue, in order, and sends. */
  #resend(state: PartitionState): void {
    // A batch too large is split to the topic's current limit: held while the topic is being
    // described (#releaseWaiting comes back here).
    state.awaitingDescription = this.#waitingForMetadata.has(state.topic) && state.retrying.some((batch) => batch.tooLarge);
    if (state.awaitingDescription) return;
    // Parts of a split batch keep its serial: the sort is stable, and they were pushed in order.
    const retrying = state.retrying.sort((a, b) => a.serial - b.serial);
    state.retrying = [];
    state.queue.unshift(...retrying.flatMap((batch) => (batch.tooLarge ? this.#split(batch) : [batch])));
    state.blocked = false;
    this.#pump(state);
  }

  /**
   * The batches that replace `batch`, refused as too large: parts within the topic's batch limit,
   * or halves when that limit is not smaller than the batch (the topic could not be described).
   * Parts of one message that alone is too large are refused again, and fail. The parts keep the
   * batch's serial, creation time and callbacks, and take sequence numbers when they are sent.
   */
  #split(batch: Batch): Batch[] {
    const metadata = this.#topics.get(batch.state.topic)!;
    const bytes = batch.bytes!;
    const { records } = decodeBatch(bytes, 0, { decompressedBytesMax, crcVerified: true });
    const partBytesMax = batch.accountedBytes > metadata.batchBytesMax ? metadata.batchBytesMax : Math.ceil(batch.accountedBytes / 2);
    const parts: Batch[] = [];
    let builder = new RecordBatchBuilder(this.#batchBuffers);
    let start = 0; // the index in `batch` of the part's first message
    const addPart = (): void => {
      const callbacks = sliceCallbackRuns(batch.callbacks, start, start + builder.count);
      parts.push({ ...batch, builder, bytes: null, producerId: -1n, generation: -1, count: builder.count, baseSequence: -1, callbacks, accountedBytes: builder.sizeBytes, tooLarge: false });
      start += builder.count;
    };
    for (const { key, value, headers, timestamp } of records) {
      const record: RecordInput = { key, value, headers, timestamp };
      if (builder.count > 0 && builder.sizeBytes + RecordBatchBuilder.recordSizeBytes(record) + recordSlackBytes > partBytesMax) {
        addPart();
        builder = new RecordBatchBuilder(this.#batchBuffers);
      }
      builder.add(record); // copies: the refused batch's buffer can go back to the pool
    }
    addPart();
    this.#batchBuffers.give(bytes);
    batch.bytes = null;
    this.#bufferedBytes += parts.reduce((sum, part) => sum + part.accountedBytes, 0) - batch.accountedBytes;
    this.#unsettledBatches += parts.length - 1;
    return parts;
  }

  #complete(batch: Batch, baseOffset: bigint, error: WeirError | null): void {
    const { topic, partition } = batch.state;
    const runs = batch.callbacks;
    for (let run = 0; run < runs.callbacks.length; run++) {
      const callback = runs.callbacks[run]!;
      const start = runs.starts[run]!;
      const end = runs.ends[run]!;
      if (error !== null) {
        for (let i = start; i < end; i++) callback(error);
        continue;
      }
      let offset = baseOffset < 0n ? -1n : baseOffset + BigInt(start);
      for (let i = start; i < end; i++) {
        callback(null, { topic, partition, offset });
        if (offset >= 0n) offset++;
      }
    }
    this.#bufferedBytes -= batch.accountedBytes;
    this.#unsettledBatches--;
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    if (this.#bufferedBytes < this.#options.bufferBytesMax) for (const wake of this.#capacityWaiters.splice(0)) wake();
    if (this.#isIdle()) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Nothing to send or to answer (a describe may still be under way, with no message waiting for it). */
  #isIdle(): boolean {
    return this.#unsettledBatches === 0 && this.#openBuilders === 0 && this.#waitingCount === 0;
  }

  #markProducerIdStale(): void {
    this.#producerIdStale = true;
  }

  #loadProducerId(): void {
    if (this.#producerIdLoading) return;
    this.#producerIdLoading = true;
    this.#client.request('initProducerId', {}).then(
      ({ producerId, producerEpoch }) => {
        this.#producerIdLoading = false;
        this.#producerId = producerId;
        this.#producerEpoch = producerEpoch;
        this.#producerIdStale = false;
        for (const metadata of this.#topics.values()) for (const state of metadata.partitions) if (state) state.nextSequence = 0;
        this.#pumpAll();
      },
      () => {
        this.#producerIdLoading = false;
        if (this.#client.isClosed) this.#failAll(new WeirError('CLOSED', 'the client is closed'));
        else setTimeout(() => this.#pumpAll(), this.#options.retryBackoffMsMin);
      },
    );
  }

  #awaitConnection(): void {
    if (this.#connectionWaiting) return;
    this.#connectionWaiting = true;
    this.#client.connection().then(
      () => {
        this.#connectionWaiting = false;
        this.#pumpAll();
      },
      (error: WeirError) => {
        this.#connectionWaiting = false;
        this.#failAll(error);
      },
    );
  }

  #pumpAll(): void {
    for (const metadata of this.#topics.values()) for (const state of metadata.partitions) if (state) this.#pump(state);
  }

  #failAll(error: WeirError): void {
    for (const metadata of this.#topics.values()) {
      for (const state of metadata.partitions) {
        if (!state) continue;
        for (const batch of state.queue.splice(0)) this.#complete(batch, -1n, error);
      }
    }
  }

  /**
   * Sends everything batched so far and resolves when all of it is acknowledged (or failed).
   * Messages batched while it waits (those that waited for their topic's description included)
   * are sent without lingering too.
   */
  flush(): Promise<void> {
    if (this.#lingerTimer !== null) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = null;
    }
    if (this.#lingerImmediate !== null) {
      clearImmediate(this.#lingerImmediate);
      this.#lingerImmediate = null;
    }
    this.#sealAll(true);
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Flushes, then refuses further messages. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#metadataTimer !== null) clearInterval(this.#metadataTimer);
    for (const wake of this.#capacityWaiters.splice(0)) wake();
    this.#client.untrack(this);
  }
}

/** A TIMEOUT after deliveryTimeoutMs, naming what the broker kept answering, if anything. */
function timeoutError(timeout: string, refusal: WeirError | null): WeirError {
  if (refusal === null) return new WeirError('TIMEOUT', timeout);
  // No answer at all (the connection was lost, a request timed out) is no refusal.
  const reason = wasUnanswered(refusal) ? 'the broker could not be reached:' : 'the broker kept refusing it with';
  return new WeirError('TIMEOUT', `${timeout}; ${reason} ${refusal.code}: ${refusal.message}`, { cause: refusal });
}

/** Every producer option, once (an option added to ProducerOptions fails to compile until listed here). */
const producerOptionKeys = Object.keys({
  acks: true,
  idempotent: true,
  lingerMs: true,
  batchBytesMax: true,
  bufferBytesMax: true,
  compression: true,
  inFlightBatchesPerPartitionMax: true,
  deliveryTimeoutMs: true,
  retryBackoffMsMin: true,
  retryBackoffMsMax: true,
  metadataMaxAgeMs: true,
} satisfies Record<keyof ProducerOptions, true>);

/** Refuses options that would hang the producer, fire its timers at once or break idempotence (INVALID_CONFIG). */
function checkProducerOptions(options: Required<ProducerOptions>): void {
  const owner = 'producer';
  checkOneOf('acks', options.acks, { owner, values: ['leader', 'none'] });
  checkOneOf('idempotent', options.idempotent, { owner, values: [true, false] });
  checkInteger('lingerMs', options.lingerMs, { owner, min: 0, max: timerDelayMsMax });
  checkInteger('batchBytesMax', options.batchBytesMax, { owner, min: 1, max: Number.MAX_SAFE_INTEGER });
  checkInteger('bufferBytesMax', options.bufferBytesMax, { owner, min: 1, max: Number.MAX_SAFE_INTEGER });
  const inFlightMax = options.idempotent ? idempotentInFlightBatchesMax : Number.MAX_SAFE_INTEGER;
  checkInteger('inFlightBatchesPerPartitionMax', options.inFlightBatchesPerPartitionMax, { owner, min: 1, max: inFlightMax });
  checkInteger('deliveryTimeoutMs', options.deliveryTimeoutMs, { owner, min: 1, max: Number.MAX_SAFE_INTEGER });
  checkInteger('retryBackoffMsMin', options.retryBackoffMsMin, { owner, min: 0, max: timerDelayMsMax });
  checkInteger('retryBackoffMsMax', options.retryBackoffMsMax, { owner, min: options.retryBackoffMsMin, max: timerDelayMsMax });
  checkInteger('metadataMaxAgeMs', options.metadataMaxAgeMs, { owner, min: 1, max: timerDelayMsMax });
}

/** How often waiting batches are checked against deliveryTimeoutMs. */
const expirySweepMs = 1_000;
/** Tries at a topic's metadata (with backoff) before its waiting messages fail. */
const metadataAttemptsMax = 20;
/** Buffer bytes charged for a message waiting for its topic's metadata, besides its keys and values. */
const waitingBytesNominal = 128;

/** About the memory a waiting message holds: its keys and values (a string's at two bytes a character) and a little more. */
function heldBytesOf(message: ProducerMessage): number {
  const sizeOf = (bytes: Bytes | null | undefined): number => (bytes == null ? 0 : typeof bytes === 'string' ? 2 * bytes.length : bytes.length);
  let held = waitingBytesNominal + sizeOf(message.key) + sizeOf(message.value);
  const headers = message.headers;
  if (Array.isArray(headers)) for (const header of headers as readonly RecordHeader[]) held += sizeOf(header.key) + sizeOf(header.value);
  else if (headers != null) for (const [key, value] of Object.entries(headers)) held += sizeOf(key) + sizeOf(value as Bytes | null);
  return held;
}

function bytesOf(waiting: readonly Waiting[]): number {
  let bytes = 0;
  for (const one of waiting) bytes += one.bytes;
  return bytes;
}
/** recordSizeBytes is computed with zero deltas; real deltas take a few bytes more. */
const recordSlackBytes = 16;
/** A record without headers takes at most this much besides its key and value (varints at their widest). */
const plainRecordOverheadBytesMax = 32;

/** A message that already is a RecordInput (Buffer key and value, no headers, integer time): no copy needed. */
function isPlainRecord(message: ProducerMessage): message is ProducerMessage & RecordInput {
  const { value, key, timestamp } = message;
  return (
    (value === null || Buffer.isBuffer(value)) &&
    (key == null || Buffer.isBuffer(key)) &&
    message.headers === undefined &&
    (timestamp === undefined || Number.isInteger(timestamp)) &&
    message.delayMs === undefined &&
    message.deliverAt === undefined &&
    message.ttlMs === undefined
  );
}

/**
 * The callbacks of a batch's messages as runs: consecutive messages sent with the same callback
 * (a benchmark's shared one) take one entry, not one per message.
 */
interface CallbackRuns {
  callbacks: SendCallback[];
  /** Index in the batch of each run's first message … */
  starts: number[];
  /** … and one past its last. */
  ends: number[];
}

function newCallbackRuns(): CallbackRuns {
  return { callbacks: [], starts: [], ends: [] };
}

function addCallback(runs: CallbackRuns, callback: SendCallback, index: number): void {
  const last = runs.callbacks.length - 1;
  if (last >= 0 && runs.callbacks[last] === callback && runs.ends[last] === index) {
    runs.ends[last] = index + 1;
    return;
  }
  runs.callbacks.push(callback);
  runs.starts.push(index);
  runs.ends.push(index + 1);
}

/** The runs of messages `start` to `end` (exclusive) of a batch, as indexes of a batch starting at `start`. */
function sliceCallbackRuns(runs: CallbackRuns, start: number, end: number): CallbackRuns {
  const slice = newCallbackRuns();
  for (let run = 0; run < runs.callbacks.length; run++) {
    const runStart = Math.max(runs.starts[run]!, start);
    const runEnd = Math.min(runs.ends[run]!, end);
    if (runStart >= runEnd) continue;
    slice.callbacks.push(runs.callbacks[run]!);
    slice.starts.push(runStart - start);
    slice.ends.push(runEnd - start);
  }
  return slice;
}

function newPartitionState(topic: string, partition: number): PartitionState {
  return {
    topic,
    partition,
    builder: null,
    spareBuilder: null,
    callbacks: newCallbackRuns(),
    nextSequence: 0,
    queue: [],
    retrying: [],
    inFlight: 0,
    blocked: false,
    retryScheduled: false,
    sealWhenFree: false,
    generation: 0,
    awaitingDescription: false,
    lastRefusal: null,
  };
}
