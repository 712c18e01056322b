/**
 * One accepted native-protocol connection: cuts the byte stream into frames, negotiates the
 * version, runs requests concurrently (responses go out as they finish, matched by correlation
 * id) and owns the connection's push subscriptions.
 *
 * Bounds, and what happens at each:
 *  - frameBytesMax: a longer frame length closes the connection before anything is allocated;
 *  - requestMemory, shared by every connection of both listeners (util/byte-budget.ts): the
 *    frame reader's bytes (a frame's memory grows with the bytes that arrive) and each frame until
 *    its request ends are held there; once it is full reading pauses, unless this connection
 *    holds at most requestMemory.connectionBytesFree or holds the pass (see RequestMemory);
 *  - inFlightRequestsMax: reading from the socket pauses until a request finishes;
 *  - outboundBytesMax: while more output than this waits in the socket, reading pauses, and push
 *    subscriptions wait for 'drain' before fetching more;
 *  - the push subscriptions' reads share a budget of their own like the fetches' below (the
 *    records a subscription keeps for later credits stay counted with it), so a client that
 *    subscribes many times and never reads holds at most about fetchBytesInFlightMax more;
 *    reading requests never waits for it, so credits always get through;
 *  - fetchBytesInFlightMax: fetches count their byte limit while they run (and count the output
 *    waiting in the socket); a fetch that would pass the bound waits, and reading pauses, until
 *    earlier ones finish (one always runs), so a client that pipelines fetches and never reads
 *    holds at most about this much broker memory;
 *  - fetchMemory, shared by every connection of both listeners: fetches hold their byte limit
 *    there too while they run, and their answers hold their size until the kernel has taken them
 *    (a write callback). A fetch that finds it full waits for this connection's earlier fetches and
 *    answers; with none, it runs with its limit shrunk to the room left (at least
 *    fetchMemory.grantBytesMin), so many clients that never read hold about fetchMemory.bytesMax
 *    of broker memory, not fetchBytesInFlightMax each, and cannot stop other clients' fetches;
 *  - the push subscriptions' reads take from fetchMemory the same way (their own connection's
 *    reads and unsent deliveries are what a read waits for), their deliveries hold their size
 *    there until the kernel has taken them, and records kept for later credits hold theirs while
 *    kept, or are dropped (read again later) when fetchMemory has no room for them;
 *  - push queue consumers' credits go to the broker in steps that the room left in fetchMemory
 *    covers (or that fill this connection up to fetchMemory.grantBytesMin, at least one message;
 *    queue-credits.ts); queue deliveries and queueReceive answers hold their size there until the
 *    kernel has taken them, and their release passes on more credits;
 *  - before hello, a frame may be at most helloFrameBytesMax, and hello must come within
 *    helloTimeoutMs, so a connection that never introduces itself holds next to nothing;
 *  - connectionIdleMsMax: a connection with nothing in progress (no request running, no push
 *    subscription, queue consumer or group membership, no output queued, reading not paused by
 *    the server) that has received and written nothing for this long is ended (a FIN), logged at
 *    debug and counted; clients reconnect when they next need the broker. One with output queued
 *    of which the kernel has taken nothing for this long is closed (a warning): its client
 *    stopped reading, and what it holds is let go;
 *  - frameArrivalMsMax: a frame begun must be all there within this long (time the server paused
 *    reading does not count), or the connection is closed and its request bytes let go, so a
 *    client that stalls part-way through a frame cannot keep requestMemory's pass from the others.
 *    Both in util/connection-deadlines.ts;
 *  - subscriptionsMax: a further subscribe is answered with LIMIT_EXCEEDED.
 * A malformed frame (bad length, unknown kind, a body that does not decode exactly) closes this
 * connection with a logged reason; nothing else is affected. A client that ends its side of the
 * connection (a half-close) is answered as at shutdown: long polls at once, running requests when
 * they finish; then the server ends its side.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import type { BrokerApi, QueueConsumer, QueueDelivery } from '../../broker/types.js';
import { WeirError } from '../../util/errors.js';
import { countIdleConnectionClosed, observeRequest } from '../../util/metrics.js';
import { ByteBudget, ConnectionRequestBytes, HeldAnswers, type RequestMemory, type SharedByteBudget } from '../../util/byte-budget.js';
import { readIntoReusedBuffer } from '../../util/reused-read-buffer.js';
import { handlers, parseQueueConfig, settleQuietly, toWireError, type Handler, type RequestContext } from './handlers.js';
import { ConnectionDeadlines } from '../../util/connection-deadlines.js';
import { PushSubscription, type SubscriptionOutput } from './push-subscription.js';
import { QueueCredits } from './queue-credits.js';
import { resolveSubscriptionStart } from './subscription-start.js';
import { FieldValueError, type Codec } from './wire/codec.js';
import { FrameReader, encodeErrorResponse, encodeResponse, encodeSubscriptionEnd, finishFrame, frameKinds, parseFrame, startFrame } from './wire/frame.js';
import {
  apiName,
  apis,
  delivery as deliveryCodec,
  queueDeliveries,
  helloResponse,
  protocolVersionMax,
  protocolVersionMin,
  releaseVersionMin,
  type ApiName,
  type Delivery,
  type RequestOf,
  type TopicPartitionOffset,
} from './wire/messages.js';
import type { Logger } from '../../util/logger.js';

/** Room kept in a fetch response frame for everything but the records. */
const fetchResponseOverheadBytes = 1024 * 1024;
/** The largest frame before hello (a hello request is a few dozen bytes). */
export const helloFrameBytesMax = 64 * 1024;
/**
 * The answer to a hello the server refuses (UNSUPPORTED_VERSION, or LIMIT_EXCEEDED at the
 * connection limit): the error, then the hello response body with version 0 and the server's range.
 */
export function encodeHelloRefusal(correlationId: number, code: 'UNSUPPORTED_VERSION' | 'LIMIT_EXCEEDED', message: string, server: { serverName: string; frameBytesMax: number }): Buffer[] {
  const body = { version: 0, versionMin: protocolVersionMin, versionMax: protocolVersionMax, ...server };
  return encodeErrorResponse(correlationId, code, message, (w) => helloResponse.write(w, body));
}

/** Room for a delivery frame's header fields around its records (topic name included). */
const deliveryOverheadBytesMax = 70_000 + 64;

export type { Logger };

export interface ConnectionLimits {
  frameBytesMax: number;
  inFlightRequestsMax: number;
  outboundBytesMax: number;
  fetchBytesInFlightMax: number;
  subscriptionsMax: number;
  /** A connection that has not said hello by then is closed. */
  helloTimeoutMs: number;
  /** A connection idle this long is ended (0: never); see the file comment. */
  connectionIdleMsMax: number;
  /** A frame begun must be all there within this long (0: no limit); see the file comment. */
  frameArrivalMsMax: number;
}

export class ServerConnection implements SubscriptionOutput {
  readonly #broker: BrokerApi;
  readonly #socket: Socket;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  readonly #name: string;
  readonly #frames: FrameReader;
  readonly #abort = new AbortController();
  readonly #subscriptions = new Map<number, PushSubscription>();
  /** Queue consumers by the client's id (one id space with push subscriptions). */
  readonly #queueConsumers = new Map<number, QueueConsumer>();
  /** Group memberships this connection joined or heartbeats for, until they end: each stops its watch. */
  readonly #memberships = new Map<string, () => void>();
  readonly #deadlines: ConnectionDeadlines;
  #context: RequestContext;
  #version = 0;
  #inFlight = 0;
  #readingPaused = false;
  #closing = false;
  #drainWaiters: (() => void)[] = [];
  /** The broker-wide budget for fetch memory (see fetchMemory in the file comment). */
  readonly #fetchMemory: SharedByteBudget;
  /** Byte limits of the fetches running now, and the fetches waiting for room (see fetchBytesInFlightMax). */
  readonly #fetchBudget: ByteBudget;
  /** This connection's fetch answers written but not yet all taken by the kernel. */
  readonly #fetchAnswers: HeldAnswers;
  /** The same for the push subscriptions' reads (SubscriptionOutput.readBudget). */
  readonly readBudget: ByteBudget;
  /** This connection's push deliveries written but not yet all taken by the kernel. */
  readonly #pushDeliveries: HeldAnswers;
  /** This connection's queue deliveries and queueReceive answers written but not yet all taken by the kernel. */
  readonly #queueDeliveries: HeldAnswers;
  /** The push queue consumers' credits, passed on to the broker as fetchMemory allows (queue-credits.ts). */
  readonly #queueCredits: QueueCredits;
  /** Bytes the push subscriptions keep for later credits (SubscriptionOutput.keep), held in fetchMemory. */
  #keptBytes = 0;
  /** This connection's request bytes in requestMemory: what the frame reader holds, and frames until handled. */
  readonly #requestBytes: ConnectionRequestBytes;
  /** The length of the frame being handled, which the request `#run` starts for it holds until it ends. */
  #frameBytes = 0;
  #helloTimer: NodeJS.Timeout | undefined;
  #idleWaiters: (() => void)[] = [];
  /** Settles when the socket has closed. */
  readonly closed: Promise<void>;

  /**
   * `readBuffer`: a buffer the socket reads into, reused for every read (and shareable by every
   * connection); without it, or where Node does not allow it, each read comes in a new buffer.
   */
  constructor(
    broker: BrokerApi,
    socket: Socket,
    options: {
      limits: ConnectionLimits;
      fetchMemory: SharedByteBudget;
      requestMemory: RequestMemory;
      logger: Logger;
      serverName: string;
      readBuffer?: Buffer;
      closeTimeoutMs: number;
    },
  ) {
    this.#broker = broker;
    this.#fetchMemory = options.fetchMemory;
    this.#fetchAnswers = new HeldAnswers(options.fetchMemory, () => this.#startWaitingFetches());
    this.#fetchBudget = new ByteBudget((held, bytes) => this.#fetchFits(held, bytes), options.fetchMemory);
    this.#pushDeliveries = new HeldAnswers(options.fetchMemory, () => this.#startWaitingFetches());
    this.readBudget = new ByteBudget((held, bytes) => this.#pushReadFits(held, bytes), options.fetchMemory);
    this.#queueDeliveries = new HeldAnswers(options.fetchMemory, () => {
      this.#startWaitingFetches();
      this.#queueCredits.passSoon();
    });
    this.#queueCredits = new QueueCredits(options.fetchMemory, {
      bytesMax: options.limits.fetchBytesInFlightMax,
      deliveryBytes: () => this.#queueDeliveries.bytes,
      writable: () => !this.#closing && !this.#socket.destroyed && this.#socket.writableLength <= this.#limits.outboundBytesMax,
    });
    this.#socket = socket;
    this.#limits = options.limits;
    this.#log = options.logger;
    this.#name = options.serverName;
    this.#requestBytes = new ConnectionRequestBytes(options.requestMemory);
    const frameBytesMax = (): number => (this.#version === 0 ? Math.min(helloFrameBytesMax, options.limits.frameBytesMax) : options.limits.frameBytesMax);
    this.#frames = new FrameReader(frameBytesMax, { growing: true });
    const { helloTimeoutMs } = options.limits;
    this.#helloTimer = setTimeout(() => this.#fail(`no hello within ${helloTimeoutMs} ms (hello limit)`), helloTimeoutMs);
    this.#helloTimer.unref();
    this.#deadlines = new ConnectionDeadlines(
      { idleMsMax: options.limits.connectionIdleMsMax, frameArrivalMsMax: options.limits.frameArrivalMsMax },
      {
        socket,
        busy: () => this.#busy(),
        readingPaused: () => this.#readingPaused,
        expired: (limit, reason) => (limit === 'idle' ? this.#endIdle(reason) : this.#fail(reason)),
      },
    );
    // Every long poll in flight listens to the connection's end: as many as the in-flight bound.
    setMaxListeners(options.limits.inFlightRequestsMax + 1, this.#abort.signal);
    this.#context = {
      clientId: '',
      clientHost: socket.remoteAddress ?? '',
      signal: this.#abort.signal,
      // Room for the per-partition fields around the records (bounded by the request's own size).
      fetchBytesMax: options.limits.frameBytesMax - Math.min(fetchResponseOverheadBytes, Math.floor(options.limits.frameBytesMax / 4)),
    };
    socket.setNoDelay(true);
    const reused = options.readBuffer !== undefined && readIntoReusedBuffer(socket, options.readBuffer, (bytes) => this.#onData(bytes, true));
    if (!reused) socket.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    socket.on('drain', () => this.#onDrain());
    // The client has sent all it will (a half-close): what it sent is answered, then this side ends.
    socket.on('end', () => void this.shutdown(options.closeTimeoutMs));
    socket.on('error', (error) => this.#log('info', `native connection ${this.#describe()}: ${error.message}`));
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.#onClose();
      resolve();
    }));
  }

  /** Output queued in this connection's socket, not yet handed to the kernel. */
  get outboundBytes(): number {
    return this.#socket.writableLength;
  }

  #describe(): string {
    return `${this.#socket.remoteAddress}:${this.#socket.remotePort}${this.#context.clientId ? ` (${this.#context.clientId})` : ''}`;
  }

  /** Stops reading, cancels long polls and subscriptions, lets running requests answer, closes. */
  async shutdown(timeoutMs: number): Promise<void> {
    // Bounded from the start: a request that does not finish in time (a join waiting on a
    // rebalance), or output a client never reads, is cut off.
    const timer = setTimeout(() => this.#fail(`still busy ${timeoutMs} ms after closing began (requests running or output unread)`), timeoutMs);
    this.#closing = true;
    this.#socket.pause();
    this.#abort.abort();
    clearTimeout(this.#helloTimer);
    this.#deadlines.stop();
    this.#startWaitingFetches(); // aborted: each answers at once
    // Push subscriptions waiting for a socket the client does not read to drain stop now.
    for (const wake of this.#drainWaiters.splice(0)) wake();
    await Promise.all([...this.#subscriptions.values()].map((s) => s.stop()));
    this.#subscriptions.clear();
    await this.#closeQueueConsumers();
    if (this.#inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => this.#idleWaiters.push(resolve)), this.closed]);
    }
    this.#socket.end();
    // Reads again (and drops what comes) to see the client's end: a socket reading into the
    // reused buffer reads nothing at all while paused.
    this.#socket.resume();
    await this.closed;
    clearTimeout(timer);
  }

  #fail(reason: string): void {
    if (this.#socket.destroyed) return;
    this.#log('warn', `native connection ${this.#describe()} closed: ${reason}`);
    this.#socket.destroy();
  }

  /** Whether something is in progress, so that the connection is not idle however quiet it is. */
  #busy(): boolean {
    return (
      this.#inFlight > 0 ||
      this.#subscriptions.size > 0 ||
      this.#queueConsumers.size > 0 ||
      this.#memberships.size > 0 ||
      this.#socket.writableLength > 0 ||
      this.#readingPaused // the server holds the client up (memory, requests running, unread output)
    );
  }

  /**
   * Ends an idle connection cleanly: a FIN (nothing is pending on it), then the socket goes. Routine
   * (clients reconnect when they need to), as in Kafka: logged at debug, counted in the metrics.
   */
  #endIdle(reason: string): void {
    if (this.#closing || this.#socket.destroyed) return;
    this.#closing = true;
    countIdleConnectionClosed('native');
    this.#log('debug', `native connection ${this.#describe()} closed: ${reason}`);
    this.#socket.end(() => this.#socket.destroy());
  }

  /** `transient`: the chunk is the reused read buffer, valid only during this call. */
  #onData(chunk: Buffer, transient: boolean): void {
    if (this.#closing) return;
    try {
      this.#frames.push(chunk, this.#frameHandler, transient);
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      return;
    }
    this.#afterReading();
  }

  /** Counts what the frame reader holds in requestMemory, and pauses reading when it has no room. */
  #afterReading(): void {
    this.#deadlines.read(performance.now(), this.#frames.bufferedBytes > 0);
    this.#requestBytes.setReader(this.#frames.heldBytes, this.#frames.assembling);
    if (!this.#memoryRoom()) this.#pauseReading();
  }

  /** Whether requestMemory lets this connection read; when not, `#wakeReading` runs once it may. */
  #memoryRoom(): boolean {
    return this.#requestBytes.mayRead(this.#frames.assembling, this.#wakeReading);
  }

  readonly #wakeReading = (): boolean => {
    this.#maybeResumeReading();
    return this.#closing || !this.#readingPaused || this.#memoryRoom();
  };

  /** Handles one frame; false once reading is paused (the rest of the chunk waits in the reader). */
  readonly #frameHandler = (frame: Buffer): boolean => {
    this.#deadlines.frameRead();
    this.#frameBytes = frame.length;
    try {
      this.#onFrame(frame);
    } finally {
      this.#frameBytes = 0;
    }
    return !this.#readingPaused;
  };

  #onFrame(frame: Buffer): void {
    if (this.#socket.destroyed) return;
    const { kind, id: correlationId, reader } = parseFrame(frame);
    if (kind !== frameKinds.request) reader.fail(`a client sent a frame of kind ${kind}; only requests (1) are allowed`);
    const key = reader.uint16('api');
    const name = apiName(key);
    if (this.#version === 0 && name !== 'hello') reader.fail(`the first request must be hello, not api ${key}`);
    if (name === undefined) {
      // The frame is intact, so the connection can go on: answer as for any bad request.
      this.#send(encodeErrorResponse(correlationId, 'INVALID_REQUEST', `api ${key} is not supported by this server`));
      return;
    }
    let request: unknown;
    try {
      request = apis[name].request.read(reader);
    } catch (error) {
      if (!(error instanceof FieldValueError)) throw error;
      // A value out of range in an intact frame: this request fails, the connection goes on.
      this.#send(encodeErrorResponse(correlationId, error.code, `${name} request: ${error.message}`));
      return;
    }
    if (reader.remaining !== 0) reader.fail(`${reader.remaining} bytes follow the ${name} request body`);
    if (this.#closing) {
      this.#send(encodeErrorResponse(correlationId, 'SHUTTING_DOWN', 'the server is shutting down'));
      return;
    }
    this.#dispatch(name, correlationId, request);
  }

  #dispatch(name: ApiName, correlationId: number, request: unknown): void {
    switch (name) {
      case 'hello':
        this.#hello(correlationId, request as RequestOf<'hello'>);
        return;
      case 'subscribe':
        this.#run(correlationId, name, () => this.#subscribe(request as RequestOf<'subscribe'>), false, () =>
          this.#subscriptions.get((request as RequestOf<'subscribe'>).subscriptionId)?.start(),
        );
        return;
      case 'credit':
        this.#run(correlationId, name, async () => this.#credit(request as RequestOf<'credit'>));
        return;
      case 'unsubscribe':
        this.#run(correlationId, name, () => this.#unsubscribe(request as RequestOf<'unsubscribe'>));
        return;
      case 'queueSubscribe':
        this.#run(correlationId, name, () => this.#queueSubscribe(request as RequestOf<'queueSubscribe'>));
        return;
      case 'queueReceive': {
        const { consumerId, max, waitMs } = request as RequestOf<'queueReceive'>;
        this.#run(correlationId, name, () => this.#queueConsumer(consumerId).receive(max, waitMs, this.#abort.signal));
        return;
      }
      case 'queueCredit': {
        const { consumerId, credits } = request as RequestOf<'queueCredit'>;
        this.#run(correlationId, name, async () => {
          this.#grantQueueCredits(consumerId, this.#queueConsumer(consumerId), credits);
          return {};
        });
        return;
      }
      case 'queueSettle':
      case 'queueSettleQuiet': {
        const settle = request as RequestOf<'queueSettle'>;
        const refusal = this.#settleVersionRefusal(settle);
        if (refusal !== null) {
          // Nothing of the request is settled; a quiet one has no answer to carry the refusal.
          if (name === 'queueSettle') this.#send(encodeErrorResponse(correlationId, refusal.code, refusal.message));
          else this.#log('warn', `native connection ${this.#describe()}: queueSettleQuiet dropped: ${refusal.message}`);
          return;
        }
        const run = () => {
          // Credits for a consumer that has gone (closed, or unsubscribed) are dropped.
          const consumer = this.#queueConsumers.get(settle.consumerId);
          if (consumer !== undefined && settle.credits > 0) this.#grantQueueCredits(settle.consumerId, consumer, settle.credits);
          // A consumer giving back what it holds unseen is closing: before the release, so that
          // the released messages do not go straight back to it.
          if (consumer !== undefined && settle.settlements.some((s) => s.action === 'release')) {
            this.#queueCredits.stop(settle.consumerId);
            consumer.stopDeliveries();
          }
          return name === 'queueSettleQuiet' ? settleQuietly(this.#broker, settle) : handlers.queueSettle(this.#broker, settle, this.#context);
        };
        this.#run(correlationId, name, run, name === 'queueSettleQuiet');
        return;
      }
      case 'joinGroup': {
        const { groupId } = request as RequestOf<'joinGroup'>;
        this.#run(correlationId, name, async () => {
          const joined = await handlers.joinGroup(this.#broker, request as RequestOf<'joinGroup'>, this.#context);
          this.#watchMembership(groupId, joined.memberId);
          return joined;
        });
        return;
      }
      case 'heartbeat': {
        const { groupId, memberId } = request as RequestOf<'heartbeat'>;
        this.#run(correlationId, name, () => handlers.heartbeat(this.#broker, request as RequestOf<'heartbeat'>, this.#context), false, () =>
          this.#watchMembership(groupId, memberId),
        );
        return;
      }
      case 'queueUnsubscribe':
        this.#run(correlationId, name, async () => {
          const { consumerId } = request as RequestOf<'queueUnsubscribe'>;
          const consumer = this.#queueConsumer(consumerId);
          this.#queueConsumers.delete(consumerId);
          this.#queueCredits.remove(consumerId);
          await consumer.close();
          return {};
        });
        return;
      case 'fetch': {
        const fetch = request as RequestOf<'fetch'>;
        const partitionBytes = fetch.partitions.reduce((sum, p) => sum + Math.max(0, p.bytesMax), 0);
        const bytes = Math.min(Math.max(0, fetch.bytesMaxTotal), partitionBytes, this.#context.fetchBytesMax);
        this.#run(correlationId, name, async () => {
          const room = this.#fetchBudget.take(bytes);
          if (this.#fetchBudget.waiting > 0) this.#pauseReading(); // until the waiting fetches start
          const granted = await room;
          try {
            // Fewer bytes granted when the broker-wide fetch memory is short: the fetch runs smaller.
            return await handlers.fetch(this.#broker, granted < bytes ? { ...fetch, bytesMaxTotal: granted } : fetch, this.#context);
          } finally {
            // Released once the answer is in the socket (counted there from then on).
            setImmediate(() => {
              this.#fetchBudget.release(granted);
              this.#maybeResumeReading();
            });
          }
        });
        return;
      }
      default: {
        const handler = handlers[name] as Handler<typeof name>;
        const silent = name === 'produce' && (request as RequestOf<'produce'>).acks === 'none';
        this.#run(correlationId, name, () => handler(this.#broker, request as never, this.#context), silent);
      }
    }
  }

  /**
   * Runs one request; answers with its result or its error unless `silent` (acks none, quiet
   * settlements), then calls `afterSuccess` (after the response was queued on the socket).
   */
  #run(correlationId: number, name: ApiName, work: () => Promise<unknown>, silent = false, afterSuccess?: () => void): void {
    const startedMs = performance.now();
    // The request's frame is held until it ends (a produce's batches are a view of it until appended).
    const frameBytes = this.#frameBytes;
    this.#frameBytes = 0;
    this.#requestBytes.holdFrame(frameBytes);
    this.#inFlight++;
    if (this.#inFlight >= this.#limits.inFlightRequestsMax || !this.#memoryRoom()) this.#pauseReading();
    let running: Promise<unknown>;
    try {
      running = work();
    } catch (error) {
      running = Promise.reject(error); // a handler that threw before its first await
    }
    running
      .then(
        (response) => {
          if (!silent) this.#send(this.#encodeAnswer(correlationId, name, response), this.#answersOf(name));
          afterSuccess?.();
        },
        (error: unknown) => {
          const { error: failure, unexpected } = toWireError(error);
          if (unexpected) this.#log('error', `native ${name} request failed unexpectedly: ${failure.message}`);
          if (!silent) this.#send(encodeErrorResponse(correlationId, failure.code, failure.message), this.#answersOf(name));
        },
      )
      .finally(() => {
        observeRequest('native', name, (performance.now() - startedMs) / 1000);
        this.#requestBytes.releaseFrame(frameBytes);
        this.#inFlight--;
        this.#maybeResumeReading();
        if (this.#inFlight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
      });
  }

  /** Where an answer to `name` is held in fetchMemory until the kernel has taken it, if anywhere. */
  #answersOf(name: ApiName): HeldAnswers | undefined {
    if (name === 'fetch') return this.#fetchAnswers;
    if (name === 'queueReceive') return this.#queueDeliveries;
    return undefined;
  }

  /**
   * A settle action newer than the version this connection agreed on is refused, whole request
   * and all: the client would not send it knowingly, so settling the rest could part its view
   * from the broker's.
   */
  #settleVersionRefusal(settle: RequestOf<'queueSettle'>): WeirError | null {
    if (this.#version >= releaseVersionMin) return null;
    const index = settle.settlements.findIndex((s) => s.action === 'release');
    if (index < 0) return null;
    return new WeirError(
      'UNSUPPORTED_VERSION',
      `queueSettle request, settlement ${index}: the settle action release (tag 4) needs native protocol version ${releaseVersionMin}; this connection agreed on version ${this.#version}; nothing in the request was settled`,
    );
  }

  /** The response frame, or an UNKNOWN error when the value does not encode (a bug, logged). */
  #encodeAnswer(correlationId: number, name: ApiName, response: unknown): Buffer[] {
    try {
      return encodeResponse(correlationId, apis[name].response as Codec<unknown>, response);
    } catch (error) {
      const message = `cannot encode the ${name} response: ${error instanceof Error ? error.message : String(error)}`;
      this.#log('error', `native connection ${this.#describe()}: ${message}`);
      return encodeErrorResponse(correlationId, 'UNKNOWN', message);
    }
  }

  #hello(correlationId: number, request: RequestOf<'hello'>): void {
    const version = Math.min(request.versionMax, protocolVersionMax);
    const server = { serverName: this.#name, frameBytesMax: this.#limits.frameBytesMax };
    if (version < Math.max(request.versionMin, protocolVersionMin)) {
      const message = `client versions ${request.versionMin}..${request.versionMax} and server versions ${protocolVersionMin}..${protocolVersionMax} do not overlap`;
      this.#send(encodeHelloRefusal(correlationId, 'UNSUPPORTED_VERSION', message, server));
      return;
    }
    this.#version = version;
    clearTimeout(this.#helloTimer);
    this.#context = { ...this.#context, clientId: request.clientId };
    this.#send(encodeResponse(correlationId, helloResponse, { versionMin: protocolVersionMin, versionMax: protocolVersionMax, ...server, version }));
  }

  async #subscribe(request: RequestOf<'subscribe'>): Promise<TopicPartitionOffset[]> {
    const id = request.subscriptionId;
    this.#checkFreeId(id);
    const positions = await resolveSubscriptionStart(this.#broker, request.source);
    if (this.#closing || this.#socket.destroyed) throw new WeirError('SHUTTING_DOWN', 'the connection is closing');
    this.#checkFreeId(id); // again: pipelined subscribes passed the first check together
    // Registered now, started once the response is on its way (deliveries follow the response).
    const subscription = new PushSubscription(this.#broker, {
      id,
      positions,
      creditMessages: request.creditMessages,
      creditBytes: request.creditBytes,
      deliveryBytesMax: Math.min(request.deliveryBytesMax, this.#limits.frameBytesMax - deliveryOverheadBytesMax),
      output: this,
    });
    const source = request.source;
    // A member's assignment is its own only while it is a member (its partitions go to others).
    if (source.kind === 'group') subscription.endWhen((end) => this.#broker.watchGroupMember(source.groupId, source.memberId, end));
    this.#subscriptions.set(id, subscription);
    return positions;
  }

  async #queueSubscribe(request: RequestOf<'queueSubscribe'>): Promise<Record<string, never>> {
    const id = request.consumerId;
    this.#checkFreeId(id);
    let registered = false;
    let endedEarly: WeirError | null = null;
    const consumer = await this.#broker.openQueueConsumer({
      topic: request.topic,
      subscription: request.subscription,
      ...(request.configJson !== null ? { config: parseQueueConfig(request.configJson)! } : {}),
      ratePerSecond: request.ratePerSecond === 0 ? null : request.ratePerSecond,
      ...(request.push ? { deliver: (deliveries: QueueDelivery[]) => this.#deliverQueue(id, deliveries) } : {}),
      ended: (error: WeirError) => {
        if (registered) this.#queueConsumerEnded(id, error);
        else endedEarly = error;
      },
    });
    if (endedEarly !== null) throw endedEarly;
    try {
      if (this.#closing || this.#socket.destroyed) throw new WeirError('SHUTTING_DOWN', 'the connection is closing');
      this.#checkFreeId(id); // again: pipelined subscribes passed the first check together
    } catch (error) {
      await consumer.close();
      throw error;
    }
    this.#queueConsumers.set(id, consumer);
    registered = true;
    if (request.push) {
      this.#queueCredits.add(id, consumer);
      this.#queueCredits.grant(id, request.credits);
    }
    return {};
  }

  /**
   * A group member that joined or heartbeats on this connection keeps it from being idle while it
   * is a member (its session timeout may be longer than the idle limit); leaving, expiring or
   * being removed ends that.
   */
  #watchMembership(groupId: string, memberId: string): void {
    const key = `${groupId}\u0000${memberId}`;
    if (this.#memberships.has(key) || this.#closing || this.#socket.destroyed) return;
    let unwatch: () => void;
    try {
      unwatch = this.#broker.watchGroupMember(groupId, memberId, () => this.#memberships.delete(key));
    } catch (error) {
      if (error instanceof WeirError) return; // no longer a member (it left, or was removed, meanwhile)
      throw error;
    }
    this.#memberships.set(key, unwatch);
  }

  #checkFreeId(id: number): void {
    if (this.#subscriptions.has(id) || this.#queueConsumers.has(id)) {
      throw new WeirError('INVALID_REQUEST', `subscription or consumer ${id} already exists on this connection`);
    }
    if (this.#subscriptions.size + this.#queueConsumers.size >= this.#limits.subscriptionsMax) {
      throw new WeirError('LIMIT_EXCEEDED', `a connection may hold at most ${this.#limits.subscriptionsMax} subscriptions and queue consumers`);
    }
  }

  #queueConsumer(id: number): QueueConsumer {
    const consumer = this.#queueConsumers.get(id);
    if (consumer === undefined) throw new WeirError('UNKNOWN_SUBSCRIPTION', `no queue consumer ${id} on this connection`);
    return consumer;
  }

  /** The broker ended a consumer (its subscription was deleted): the client hears it in a subscription end frame. */
  #queueConsumerEnded(id: number, error: WeirError): void {
    this.#queueConsumers.delete(id);
    this.#queueCredits.remove(id);
    this.#send(encodeSubscriptionEnd(id, error.code, error.message));
  }

  /** Credits the client granted: a push consumer's go to the broker as fetchMemory allows; a pull consumer's are refused by the broker. */
  #grantQueueCredits(consumerId: number, consumer: QueueConsumer, credits: number): void {
    if (!this.#queueCredits.grant(consumerId, credits)) consumer.grant(credits);
  }

  /** Held in fetchMemory until the kernel has taken the frame; its release passes on more credits. */
  #deliverQueue(consumerId: number, deliveries: QueueDelivery[]): void {
    const writer = startFrame(frameKinds.queueDelivery, consumerId);
    queueDeliveries.write(writer, deliveries);
    const chunks = finishFrame(writer);
    let frameBytes = 0;
    for (const chunk of chunks) frameBytes += chunk.length;
    this.#queueCredits.delivered(consumerId, deliveries, frameBytes);
    this.#send(chunks, this.#queueDeliveries);
  }

  async #closeQueueConsumers(): Promise<void> {
    const consumers = [...this.#queueConsumers.values()];
    this.#queueConsumers.clear();
    this.#queueCredits.clear();
    await Promise.all(consumers.map((c) => c.close()));
  }

  #credit(request: RequestOf<'credit'>): Record<string, never> {
    const subscription = this.#subscriptions.get(request.subscriptionId);
    if (subscription === undefined) throw new WeirError('UNKNOWN_SUBSCRIPTION', `no subscription ${request.subscriptionId} on this connection`);
    subscription.credit(request.messages, request.bytes);
    return {};
  }

  async #unsubscribe(request: RequestOf<'unsubscribe'>): Promise<Record<string, never>> {
    const subscription = this.#subscriptions.get(request.subscriptionId);
    if (subscription === undefined) throw new WeirError('UNKNOWN_SUBSCRIPTION', `no subscription ${request.subscriptionId} on this connection`);
    this.#subscriptions.delete(request.subscriptionId);
    await subscription.stop();
    return {};
  }

  // --- SubscriptionOutput ----------------------------------------------------------------------

  deliver(subscriptionId: number, delivery: Delivery): void {
    const writer = startFrame(frameKinds.delivery, subscriptionId);
    deliveryCodec.write(writer, delivery);
    this.#send(finishFrame(writer), this.#pushDeliveries);
  }

  keep(bytes: number): boolean {
    if (this.#keptBytes + bytes > this.#limits.fetchBytesInFlightMax) return false;
    // The connection's running reads are left out: what they keep came out of their own limits,
    // released right after.
    if (this.#fetchMemory.held - this.readBudget.held + bytes > this.#fetchMemory.bytesMax) return false;
    this.#fetchMemory.hold(bytes);
    this.#keptBytes += bytes;
    return true;
  }

  unkeep(bytes: number): void {
    this.#fetchMemory.release(bytes);
    this.#keptBytes -= bytes;
    this.readBudget.startWaiting();
  }

  writableNow(): boolean {
    return !this.#socket.writableNeedDrain && !this.#socket.destroyed && this.#socket.writable;
  }

  writable(): Promise<void> {
    if (!this.#socket.writableNeedDrain || this.#socket.destroyed || this.#closing) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  ended(subscriptionId: number, error: WeirError): void {
    this.#subscriptions.delete(subscriptionId);
    this.#send(encodeSubscriptionEnd(subscriptionId, error.code, error.message));
  }

  // --- output and flow control -----------------------------------------------------------------

  /** `answers`: where the chunks (a fetch answer, a push delivery) are held in fetchMemory until the kernel has taken them. */
  #send(chunks: Buffer[], answers?: HeldAnswers): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    this.#deadlines.active(performance.now());
    const written = answers?.hold(chunks);
    if (chunks.length === 1) socket.write(chunks[0]!, written);
    else {
      socket.cork();
      for (let index = 0; index < chunks.length; index++) socket.write(chunks[index]!, index === chunks.length - 1 ? written : undefined);
      socket.uncork();
    }
    if (socket.writableLength > this.#limits.outboundBytesMax) this.#pauseReading();
  }

  #pauseReading(): void {
    if (this.#readingPaused) return;
    this.#readingPaused = true;
    this.#socket.pause();
  }

  #fetchFits(held: number, bytes: number): boolean {
    if (this.#closing || this.#socket.destroyed) return true; // aborted fetches answer at once
    // With none running and no answer of its own unsent, one starts unless output is backed up
    // (then 'drain' comes to start it), however full fetchMemory is: it grants fewer bytes then.
    if (held === 0 && this.#fetchAnswers.bytes === 0) return this.#socket.writableLength <= this.#limits.outboundBytesMax;
    // Otherwise it waits for room broker-wide, or for this connection's fetches and answers to end.
    return this.#fetchMemory.fits(bytes) && this.#connectionFits(held, bytes);
  }

  /** The same for a push subscription's read, with the deliveries in the socket as its answers. */
  #pushReadFits(held: number, bytes: number): boolean {
    if (this.#closing || this.#socket.destroyed) return true; // aborted reads end at once
    // Records kept for later credits do not stop it: they may wait for credits for ever.
    if (held === 0 && this.#pushDeliveries.bytes === 0) return this.#socket.writableLength <= this.#limits.outboundBytesMax;
    return this.#fetchMemory.fits(bytes) && this.#connectionFits(held + this.#keptBytes, bytes);
  }

  /** Room on this connection for a read (a fetch, a push subscription's read) while `held` are held by its kind. */
  #connectionFits(held: number, bytes: number): boolean {
    if (this.#closing || this.#socket.destroyed) return true; // aborted reads end at once
    const waiting = this.#socket.writableLength;
    // With none running, one starts unless output is backed up (then 'drain' comes to start it).
    if (held === 0) return waiting <= this.#limits.outboundBytesMax;
    return held + waiting + bytes <= this.#limits.fetchBytesInFlightMax;
  }

  #startWaitingFetches(): void {
    this.#fetchBudget.startWaiting();
    this.readBudget.startWaiting();
    this.#maybeResumeReading();
  }

  #maybeResumeReading(): void {
    if (!this.#readingPaused || this.#closing) return;
    if (this.#inFlight >= this.#limits.inFlightRequestsMax) return;
    if (this.#fetchBudget.waiting > 0) return;
    if (this.#socket.writableLength > this.#limits.outboundBytesMax) return;
    if (!this.#memoryRoom()) return;
    this.#readingPaused = false;
    this.#deadlines.readingResumed();
    this.#socket.resume();
    try {
      this.#frames.drain(this.#frameHandler);
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      return;
    }
    this.#afterReading();
  }

  #onDrain(): void {
    this.#deadlines.active(performance.now());
    this.#startWaitingFetches();
    this.#queueCredits.pass();
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  #onClose(): void {
    this.#closing = true;
    this.#requestBytes.close();
    this.#abort.abort();
    for (const subscription of this.#subscriptions.values()) void subscription.stop();
    this.#subscriptions.clear();
    void this.#closeQueueConsumers();
    clearTimeout(this.#helloTimer);
    this.#deadlines.stop();
    for (const unwatch of this.#memberships.values()) unwatch();
    this.#memberships.clear();
    for (const wake of this.#drainWaiters.splice(0)) wake();
    this.#startWaitingFetches(); // each answers at once (the connection is gone)
  }
}
