/**
 * The Kafka-compatible listener: a TCP server whose connections speak the Kafka protocol
 * (wire/) and translate every request into `BrokerApi` calls (handlers/). It holds no broker
 * logic. One node: every partition is led by `nodeId`, reachable at `advertisedHost` and the
 * port the listener is bound to.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { BrokerApi } from '../../broker/types.js';
import { RequestMemory, SharedByteBudget, fetchMemoryDefaults, requestMemoryDefaults } from '../../util/byte-budget.js';
import { frameArrivalMsMaxDefault } from '../../util/connection-deadlines.js';
import { WeirError } from '../../util/errors.js';
import { trackConnection } from '../../util/metrics.js';
import { requestBytesMaxDefault } from './wire/frame-reader.js';
import type { KafkaLogger } from './handlers/context.js';
import { KafkaConnection } from './kafka-connection.js';

export interface KafkaListenerOptions {
  host: string;
  /** 0 picks a free port; `start` reports the one bound. */
  port: number;
  /** Host clients are told to connect to (default: `host`, or 127.0.0.1 when bound to all interfaces). */
  advertisedHost?: string;
  /** Node id in Metadata and FindCoordinator (default 1). */
  nodeId?: number;
  /** Largest request frame accepted (default 100 MiB, as Kafka's socket.request.max.bytes). */
  requestBytesMax?: number;
  /** Cluster id reported in Metadata (default 'weir'). */
  clusterId?: string;
  /** Most connections at once; more are closed on accept (default 10,000). */
  connectionsMax?: number;
  /**
   * A connection with no request in progress and no output queued for this long is closed
   * (default 10 minutes, as Kafka's `connections.max.idle.ms`); 0 keeps idle connections open.
   */
  connectionIdleMsMax?: number;
  /**
   * A connection whose begun frame has not all arrived within this long (time the listener paused
   * reading it not counted) is closed, letting go of its request memory (default 30 s, Kafka
   * clients' default request timeout); 0: a frame may take any time. See kafka-connection.ts.
   */
  frameArrivalMsMax?: number;
  /**
   * Fetch memory of the whole broker, shared with its other listeners: the byte limits of running
   * fetches and the answers not yet taken by the kernel (default: a budget of this listener's own,
   * fetchMemoryDefaults). See kafka-connection.ts.
   */
  fetchMemory?: SharedByteBudget;
  /**
   * Request memory of the whole broker, shared with its other listeners: request bytes read and
   * not yet handled (default: a budget of this listener's own, requestMemoryDefaults). See
   * kafka-connection.ts.
   */
  requestMemory?: RequestMemory;
  /** At close, how long connections may take to answer what they run and end before they are cut (default 5 s). */
  closeTimeoutMs?: number;
  logger?: KafkaLogger;
}

export const connectionsMaxDefault = 10_000;
export const closeTimeoutMsDefault = 5_000;
/** Kafka's `connections.max.idle.ms` default: clients reconnect transparently when they need the broker again. */
export const connectionIdleMsMaxDefault = 600_000;
/** The longest delay a Node timer keeps (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
export const connectionIdleMsMaxLimit = 2_147_483_647;
/** The read buffer every connection of a listener shares (see kafka-connection.ts). */
const readBufferBytes = 1024 * 1024;

export class KafkaListener {
  readonly #broker: BrokerApi;
  readonly #options: KafkaListenerOptions;
  readonly #connections = new Set<KafkaConnection>();
  readonly #logger: KafkaLogger;
  readonly #fetchMemory: SharedByteBudget;
  readonly #requestMemory: RequestMemory;
  #server: Server | null = null;
  #port = 0;
  /** One buffer for every connection's reads: each read is framed (and what is kept copied) before the next starts. */
  readonly #readBuffer = Buffer.allocUnsafe(readBufferBytes);

  constructor(broker: BrokerApi, options: KafkaListenerOptions) {
    checkTimerMs('connectionIdleMsMax', options.connectionIdleMsMax ?? connectionIdleMsMaxDefault);
    checkTimerMs('frameArrivalMsMax', options.frameArrivalMsMax ?? frameArrivalMsMaxDefault);
    this.#broker = broker;
    this.#options = options;
    this.#logger = options.logger ?? (() => {});
    this.#fetchMemory = options.fetchMemory ?? new SharedByteBudget(fetchMemoryDefaults);
    this.#requestMemory = options.requestMemory ?? new RequestMemory(requestMemoryDefaults);
  }

  /** Output queued in the sockets of all connections. */
  get outboundBytes(): number {
    let bytes = 0;
    for (const connection of this.#connections) bytes += connection.outboundBytes;
    return bytes;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<{ port: number }> {
    if (this.#server !== null) throw new Error('KafkaListener.start called twice');
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as { port: number }).port;
    this.#logger('info', `Kafka listening on ${this.#options.host}:${this.#port}`);
    return { port: this.#port };
  }

  #advertisedHost(): string {
    if (this.#options.advertisedHost !== undefined) return this.#options.advertisedHost;
    const host = this.#options.host;
    return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  }

  #accept(socket: Socket): void {
    if (this.#connections.size >= (this.#options.connectionsMax ?? connectionsMaxDefault)) {
      this.#logger('warn', 'kafka: connection limit reached; closing a new connection');
      socket.destroy();
      return;
    }
    const connection = new KafkaConnection(socket, {
      broker: this.#broker,
      nodeId: this.#options.nodeId ?? 1,
      advertisedHost: this.#advertisedHost(),
      advertisedPort: this.#port,
      clusterId: this.#options.clusterId ?? 'weir',
      requestBytesMax: this.#options.requestBytesMax ?? requestBytesMaxDefault,
      logger: this.#logger,
      readBuffer: this.#readBuffer,
      fetchMemory: this.#fetchMemory,
      requestMemory: this.#requestMemory,
      idleMsMax: this.#options.connectionIdleMsMax ?? connectionIdleMsMaxDefault,
      frameArrivalMsMax: this.#options.frameArrivalMsMax ?? frameArrivalMsMaxDefault,
    });
    this.#connections.add(connection);
    const untrack = trackConnection('kafka');
    void connection.closed.then(() => {
      this.#connections.delete(connection);
      untrack();
    });
  }

  /**
   * Stops accepting, lets every connection answer what it is running (long polls at once) and end
   * (at most `closeTimeoutMs`), and waits for the server.
   */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const timeoutMs = this.#options.closeTimeoutMs ?? closeTimeoutMsDefault;
    await Promise.all([...this.#connections].map((connection) => connection.shutdown(timeoutMs)));
    await closed;
  }
}

/** A timer limit: 0 (never) up to the longest delay a Node timer keeps. */
function checkTimerMs(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > connectionIdleMsMaxLimit) {
    throw new WeirError('INVALID_CONFIG', `${name} ${ms} is invalid: expected an integer from 0 (never close) to ${connectionIdleMsMaxLimit}`);
  }
}
