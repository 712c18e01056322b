/**
 * One client connection of the Kafka listener.
 *
 * Frames are cut from the byte stream (wire/frame-reader.ts, bounded by `requestBytesMax`) and
 * decoded at once. The socket reads into the listener's one reused read buffer where Node allows
 * it (util/reused-read-buffer.ts, decision 9), so a read allocates nothing and each frame is
 * copied out once; handlers then run concurrently, but responses leave in request order, as the
 * protocol requires: each request takes a slot in a FIFO and the head is written as soon as it is
 * ready. Produce requests additionally run one after another, so batches a client pipelines for
 * one partition are appended in the order sent.
 *
 * Bounds: at most `requestsInFlightMax` requests per connection are being handled or waiting to
 * be written; at the bound, and while the socket's output buffer is full, the connection stops
 * reading (TCP back-pressure reaches the client). Fetches count the bytes they may return from
 * the moment they start until their response is in the socket, and the socket's queued output
 * counts too: past `fetchBytesInFlightMax` a further fetch waits (one always runs), so a client
 * that pipelines fetches and never reads holds about that much broker memory. Fetches also hold
 * their bytes in `fetchMemory`, shared by every connection of the broker's listeners, and their
 * responses hold their size there until the kernel has taken them (a write callback); a fetch that
 * finds it full waits for this connection's earlier fetches and responses, and with none it runs
 * with its `max_bytes` shrunk to the room left (at least `fetchMemory.grantBytesMin`; the first
 * batch comes whatever the limit), so clients that never read hold about `fetchMemory.bytesMax`
 * together and cannot stop the others' fetches. Request bytes are bounded for the broker as a
 * whole too (`requestMemory`, util/byte-budget.ts): what the frame reader holds (a frame's memory
 * grows with the bytes that arrive) and each frame until its request is handled; once it is full
 * the connection stops reading, unless it holds little or holds the pass (see RequestMemory).
 * An oversized or malformed frame closes this
 * connection only; so does a failed produce with acks 0, after the responses before it are written.
 *
 * Shutdown (`shutdown`): the connection stops reading, long polls answer at once with what they
 * have, running requests (appends among them) finish and are answered in order, then the
 * connection ends with a FIN; all of it bounded by the listener's close timeout, after which the
 * socket is cut. A client therefore sees the acknowledgement of a produce the broker stored rather
 * than a reset (after which a producer without idempotence would send it again).
 *
 * Idle connections: one that has had no request in progress, no output queued and its reading not
 * paused by the server (for request slots, output or request memory) for `idleMsMax` (Kafka's
 * `connections.max.idle.ms`) is closed, as Kafka closes it; clients reconnect when they next need
 * the broker. A long-polling fetch is a request in progress, so a parked
 * consumer is never idle. One with responses queued of which the kernel has taken nothing for
 * `idleMsMax` is closed too (with a warning): its client stopped reading, as a connection on which
 * Kafka sees no read or write complete.
 *
 * Frame arrival: a frame begun (its first byte read) must be all there within `frameArrivalMsMax`,
 * counted from its first byte or from when the connection last resumed reading, whichever is
 * later: time the server held reading up is not the client's, and while reading is paused the
 * clock does not run. Past it the connection is closed (a warning naming the limit) and its
 * request bytes, and the pass, go to the other connections, so a client that stalls part-way
 * through a large request holds them for that long, not until the idle limit (the Java client and
 * kafkajs give up on a request after 30 s by default anyway). Both clocks are the native
 * listener's (util/connection-deadlines.ts): one timer per connection, not re-armed per read.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { BrokerApi } from '../../broker/types.js';
import { countIdleConnectionClosed, observeRequest } from '../../util/metrics.js';
import { ConnectionDeadlines } from '../../util/connection-deadlines.js';
import { ByteBudget, ConnectionRequestBytes, HeldAnswers, type RequestMemory, type SharedByteBudget } from '../../util/byte-budget.js';
import { readIntoReusedBuffer } from '../../util/reused-read-buffer.js';
import type { LogLevel } from '../../util/logger.js';
import { decodeRequest, requestBody } from './wire/codec.js';
import type { RequestOf } from './wire/schema.js';
import { fetchResponseBytesMax } from './handlers/fetch.js';
import { FrameReader } from './wire/frame-reader.js';
import { kafkaMessages } from './wire/messages.js';
import { CloseConnection, type HandlerContext, type KafkaLogger } from './handlers/context.js';
import { dispatchRequest } from './dispatch.js';

export const requestsInFlightMax = 64;
/** Bytes one connection's running and unsent fetches may hold (see the file comment). */
export const fetchBytesInFlightMax = 64 * 1024 * 1024;

export interface ConnectionSettings {
  readonly broker: BrokerApi;
  readonly nodeId: number;
  readonly advertisedHost: string;
  readonly advertisedPort: number;
  readonly clusterId: string;
  readonly requestBytesMax: number;
  readonly logger: KafkaLogger;
  /** A buffer the socket reads into, reused for every read (shareable by every connection). */
  readonly readBuffer?: Buffer;
  /** Close the connection after this long without a request in progress or output queued; 0: never. */
  readonly idleMsMax: number;
  /** Close the connection when a frame begun has not all arrived within this long; 0: never (see the file comment). */
  readonly frameArrivalMsMax: number;
  /** The broker-wide budget for fetch memory (see the file comment). */
  readonly fetchMemory: SharedByteBudget;
  /** The broker-wide budget for request bytes read and not yet handled (see the file comment). */
  readonly requestMemory: RequestMemory;
}

interface Slot {
  ready: boolean;
  chunks: Buffer[] | null;
  /** Close the connection once the responses before this slot are written. */
  closeReason?: string;
  /** A fetch's reserved bytes, released when its response is written. */
  fetchBytes: number;
  /** A fetch's: its response is held in fetchMemory until the kernel has taken it. */
  fetch: boolean;
}

export class KafkaConnection {
  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #frames: FrameReader;
  readonly #slots: Slot[] = [];
  readonly #closed = new AbortController();
  /** Aborts when the connection closes or shuts down: long polls (the handlers' signal) answer then. */
  readonly #requestsEnd = new AbortController();
  #closing = false;
  /** Resolved once every request is answered (while shutting down). */
  #idleWaiters: (() => void)[] = [];
  #produceChain: Promise<unknown> = Promise.resolve();
  /** This connection's request bytes in requestMemory: what the frame reader holds, and frames until handled. */
  readonly #requestBytes: ConnectionRequestBytes;
  /** Bytes of the fetches running or unsent, and the fetches waiting for room. */
  readonly #fetchBudget: ByteBudget;
  /** This connection's fetch responses written but not yet all taken by the kernel. */
  readonly #fetchResponses: HeldAnswers;
  #outputBlocked = false;
  #readingPaused = false;
  /** The idle and frame arrival limits (see the file comment). */
  readonly #deadlines: ConnectionDeadlines;

  constructor(socket: Socket, settings: ConnectionSettings) {
    this.#socket = socket;
    this.#settings = settings;
    this.#fetchBudget = new ByteBudget((held, bytes) => this.#fetchFits(held, bytes), settings.fetchMemory);
    this.#fetchResponses = new HeldAnswers(settings.fetchMemory, () => this.#fetchBudget.startWaiting());
    this.#requestBytes = new ConnectionRequestBytes(settings.requestMemory);
    this.#frames = new FrameReader({ frameBytesMax: settings.requestBytesMax, growing: true });
    this.#deadlines = new ConnectionDeadlines(
      { idleMsMax: settings.idleMsMax, frameArrivalMsMax: settings.frameArrivalMsMax },
      {
        socket,
        // A request in progress (a parked fetch among them) or a response still leaving is activity.
        // Reading paused by the server (request slots, output or request memory full) is not the client's idleness.
        busy: () => this.#slots.length > 0 || this.#socket.writableLength > 0 || this.#readingPaused,
        readingPaused: () => this.#readingPaused,
        expired: (limit, reason) => {
          if (limit !== 'idle') {
            this.#settings.logger('warn', `kafka: closing connection from ${this.#socket.remoteAddress ?? '?'}: ${reason}`);
            this.close(); // its request bytes, and the pass, are let go as the socket closes
            return;
          }
          countIdleConnectionClosed('kafka');
          // Routine (clients reconnect when they need to), as in Kafka: logged at debug, counted in the metrics.
          this.#end(reason, 'debug');
        },
      },
    );
    socket.setNoDelay(true);
    // Every fetch in flight listens to the connection's end: as many as the in-flight bound.
    setMaxListeners(requestsInFlightMax + 1, this.#requestsEnd.signal);
    const reused = settings.readBuffer !== undefined && readIntoReusedBuffer(socket, settings.readBuffer, (bytes) => this.#onData(bytes, true));
    if (!reused) socket.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    socket.on('drain', () => {
      this.#deadlines.active(performance.now());
      this.#outputBlocked = false;
      this.#fetchBudget.startWaiting();
      this.#updateReading();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => {
      this.#deadlines.stop();
      this.#closed.abort();
      this.#requestsEnd.abort();
      this.#requestBytes.close();
      for (const wake of this.#idleWaiters.splice(0)) wake();
      this.#fetchBudget.startWaiting(); // each answers at once (the connection is gone)
    });
  }

  /** Output queued in this connection's socket, not yet handed to the kernel. */
  get outboundBytes(): number {
    return this.#socket.writableLength;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    if (this.#closed.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#closed.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  close(): void {
    this.#deadlines.stop();
    this.#closed.abort();
    this.#requestsEnd.abort();
    this.#socket.destroy();
  }

  /**
   * Stops reading, answers long polls at once, lets running requests answer, then ends with a FIN.
   * Bounded from the start: requests still running or output the client does not read after
   * `timeoutMs` are cut off (logged).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.#closed.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#settings.logger('warn', `kafka: connection from ${this.#socket.remoteAddress ?? '?'} cut: still busy ${timeoutMs} ms after closing began (requests running or output unread)`);
      this.close();
    }, timeoutMs);
    this.#closing = true;
    this.#deadlines.stop();
    this.#socket.pause();
    this.#requestsEnd.abort();
    this.#fetchBudget.startWaiting(); // waiting fetches start, and answer at once
    if (this.#slots.length > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (!this.#closed.signal.aborted) {
      this.#socket.end();
      // Reads again (and drops what comes) to see the client's end.
      this.#socket.resume();
      await this.closed;
    }
    clearTimeout(timer);
  }

  /** Ends the connection cleanly (FIN after any output already queued) and stops taking requests. */
  #end(reason: string, level: LogLevel = 'info'): void {
    this.#deadlines.stop();
    this.#settings.logger(level, `kafka: closing connection from ${this.#socket.remoteAddress ?? '?'}: ${reason}`);
    this.#closed.abort();
    this.#requestsEnd.abort();
    this.#socket.end(() => this.#socket.destroy());
  }

  /** `transient`: the chunk is the reused read buffer, valid only during this call. */
  #onData(chunk: Buffer, transient: boolean): void {
    if (this.#closing) return; // requests sent after shutdown began are not taken
    const nowMs = performance.now();
    this.#deadlines.active(nowMs);
    try {
      this.#frames.push(chunk, this.#frameHandler, transient);
    } catch (error) {
      this.#reject(error);
      return;
    }
    this.#deadlines.framePending(nowMs, this.#frames.bufferedBytes > 0);
    this.#requestBytes.setReader(this.#frames.heldBytes, this.#frames.assembling);
    this.#updateReading();
  }

  /** Takes one frame; false once reading is paused (the rest waits in the reader until resumed). */
  readonly #frameHandler = (frame: Buffer): boolean => {
    if (this.#closed.signal.aborted) return false;
    this.#deadlines.frameRead(); // what follows it is the next frame, whose clock starts at its first byte
    this.#accept(frame);
    return !this.#readingPaused;
  };

  #accept(frame: Buffer): void {
    const startedMs = performance.now();
    let decoded;
    try {
      decoded = decodeRequest(frame);
    } catch (error) {
      this.#reject(error);
      return;
    }
    // Held until the request is handled: a produce's records are views of the frame until appended.
    const frameBytes = frame.length;
    this.#requestBytes.holdFrame(frameBytes);
    const context: HandlerContext = {
      broker: this.#settings.broker,
      nodeId: this.#settings.nodeId,
      advertisedHost: this.#settings.advertisedHost,
      advertisedPort: this.#settings.advertisedPort,
      clusterId: this.#settings.clusterId,
      header: decoded.header,
      clientHost: this.#socket.remoteAddress ?? '',
      signal: this.#requestsEnd.signal,
      logger: this.#settings.logger,
    };
    const slot: Slot = { ready: false, chunks: null, fetchBytes: 0, fetch: false };
    this.#slots.push(slot);
    this.#updateReading();
    const run = (): Promise<Buffer[] | null> => dispatchRequest(context, decoded);
    let handled: Promise<Buffer[] | null>;
    if (decoded.kind === 'request' && decoded.message === kafkaMessages.produce) {
      handled = this.#produceChain.then(run);
      this.#produceChain = handled.catch(() => undefined);
    } else if (decoded.kind === 'request' && decoded.message === kafkaMessages.fetch) {
      const body = requestBody(decoded, kafkaMessages.fetch);
      const bytes = fetchBytesOf(body);
      slot.fetch = true;
      handled = this.#fetchBudget.take(bytes).then((granted) => {
        slot.fetchBytes = granted;
        // Fewer bytes granted when the broker-wide fetch memory is short: the fetch runs smaller.
        if (granted < bytes) body.maxBytes = Math.max(1, granted);
        return run();
      });
    } else {
      handled = run();
    }
    handled.then(
      (chunks) => {
        this.#requestBytes.releaseFrame(frameBytes);
        observeRequest('kafka', decoded.kind === 'request' ? decoded.message.name : 'Unsupported', (performance.now() - startedMs) / 1000);
        slot.chunks = chunks;
        slot.ready = true;
        this.#flush();
      },
      (error: unknown) => {
        this.#requestBytes.releaseFrame(frameBytes);
        if (error instanceof CloseConnection) {
          slot.closeReason = error.message;
          slot.ready = true;
          this.#flush();
          return;
        }
        this.#settings.logger('error', `kafka: request ${decoded.header.apiKey}/v${decoded.header.apiVersion} failed: ${String(error)}`);
        this.close();
      },
    );
  }

  #reject(error: unknown): void {
    this.#settings.logger('warn', `kafka: closing connection from ${this.#socket.remoteAddress ?? '?'}: ${error instanceof Error ? error.message : String(error)}`);
    this.close();
  }

  #flush(): void {
    if (this.#closed.signal.aborted) return;
    this.#socket.cork();
    while (this.#slots.length > 0 && this.#slots[0]!.ready) {
      const { chunks, closeReason, fetchBytes, fetch } = this.#slots.shift()!;
      if (closeReason !== undefined) {
        if (fetchBytes > 0) this.#fetchBudget.release(fetchBytes);
        this.#socket.uncork();
        this.#end(closeReason);
        return;
      }
      if (chunks !== null) {
        const written = fetch ? this.#fetchResponses.hold(chunks) : undefined;
        for (let index = 0; index < chunks.length; index++) {
          if (!this.#socket.write(chunks[index]!, index === chunks.length - 1 ? written : undefined)) this.#outputBlocked = true;
        }
      }
      // Its response is in the socket now, counted there (and held in fetchMemory until the kernel takes it).
      if (fetchBytes > 0) this.#fetchBudget.release(fetchBytes);
    }
    this.#socket.uncork();
    this.#deadlines.active(performance.now()); // the responses just written: idle time counts from here
    if (this.#slots.length === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    this.#updateReading();
  }

  #fetchFits(held: number, bytes: number): boolean {
    if (this.#requestsEnd.signal.aborted) return true; // aborted fetches answer at once
    // With none running and no response of its own unsent, one starts unless output is backed up
    // (then 'drain' comes to start it), however full fetchMemory is: it grants fewer bytes then.
    if (held === 0 && this.#fetchResponses.bytes === 0) return !this.#outputBlocked;
    // Otherwise it waits for room broker-wide, or for this connection's fetches and responses to end.
    if (!this.#settings.fetchMemory.fits(bytes)) return false;
    if (held === 0) return !this.#outputBlocked;
    return held + this.#socket.writableLength + bytes <= fetchBytesInFlightMax;
  }

  /**
   * Pauses or resumes reading as the bounds say; returns false while requestMemory has no room for
   * this connection (it is then woken through `#wakeReading` once there may be).
   */
  #updateReading(): boolean {
    if (this.#closed.signal.aborted || this.#closing) return true;
    const memoryRoom = this.#requestBytes.mayRead(this.#frames.assembling, this.#wakeReading);
    const shouldPause = this.#outputBlocked || this.#slots.length >= requestsInFlightMax || !memoryRoom;
    if (shouldPause === this.#readingPaused) return memoryRoom;
    this.#readingPaused = shouldPause;
    if (shouldPause) {
      this.#socket.pause();
      return memoryRoom;
    }
    this.#socket.resume();
    this.#deadlines.readingResumed();
    try {
      this.#frames.drain(this.#frameHandler);
    } catch (error) {
      this.#reject(error);
      return true;
    }
    this.#deadlines.framePending(performance.now(), this.#frames.bufferedBytes > 0);
    this.#requestBytes.setReader(this.#frames.heldBytes, this.#frames.assembling);
    return this.#updateReading();
  }

  readonly #wakeReading = (): boolean => this.#updateReading();
}

/** The most a fetch may return: its total limit (capped as the handler caps it) or its partitions' limits added up. */
function fetchBytesOf(body: RequestOf<typeof kafkaMessages.fetch>): number {
  let partitions = 0;
  for (const topic of body.topics) for (const partition of topic.partitions) partitions += Math.max(0, partition.partitionMaxBytes);
  return Math.min(Math.max(1, body.maxBytes), fetchResponseBytesMax, partitions);
}
