/**
 * The native protocol's TCP listener: accepts connections and hands each to a ServerConnection,
 * which translates frames into `BrokerApi` calls. docs/native-protocol.md is the specification.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { BrokerApi } from '../../broker/types.js';
import { RequestMemory, SharedByteBudget, fetchMemoryDefaults, requestMemoryDefaults } from '../../util/byte-budget.js';
import { RefusedConnections, connectionLimitMessage, frameArrivalMsMaxDefault } from '../../util/connection-deadlines.js';
import { WeirError } from '../../util/errors.js';
import { trackConnection } from '../../util/metrics.js';
import { frameBytesMaxDefault } from './wire/frame.js';
import { ServerConnection, type ConnectionLimits, type Logger } from './server-connection.js';
import { refuseConnection } from './connection-refusal.js';

export type { Logger } from './server-connection.js';

/** The read buffer all plain-TCP connections share: a read takes up to this much at once. */
const readBufferBytes = 1024 * 1024;

export const nativeListenerDefaults = {
  frameBytesMax: frameBytesMaxDefault,
  /** Requests running at once per connection; reading pauses at the bound. */
  inFlightRequestsMax: 1024,
  /** Output waiting in one socket before reading (and pushing) pauses. */
  outboundBytesMax: 16 * 1024 * 1024,
  /**
   * Bytes that one connection's fetches running at once may ask for (each counts its byte limit,
   * at most the largest response); further fetches wait, and reading pauses, until there is room.
   */
  fetchBytesInFlightMax: 64 * 1024 * 1024,
  subscriptionsMax: 256,
  /** Connections at once; a further one's hello is answered with LIMIT_EXCEEDED (connection-refusal.ts). */
  connectionsMax: 10_000,
  /** How long close() lets a connection finish before destroying it. */
  closeTimeoutMs: 5_000,
  /** A connection that has not said hello by then is closed: a handshake is a few dozen bytes. */
  helloTimeoutMs: 10_000,
  /**
   * A connection with nothing in progress, idle this long, is ended, as Kafka's
   * `connections.max.idle.ms`: clients reconnect when they next need the broker.
   */
  connectionIdleMsMax: 600_000,
  /**
   * A frame begun must be all there within this long: the TypeScript client's requestTimeoutMs,
   * after which its sender has given up on the request anyway (64 MiB in 30 s is about 2 MiB/s).
   */
  frameArrivalMsMax: frameArrivalMsMaxDefault,
} as const;

/** The longest delay a Node timer keeps (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
export const timerMsLimit = 2_147_483_647;

export interface NativeListenerOptions {
  host: string;
  port: number;
  frameBytesMax?: number;
  inFlightRequestsMax?: number;
  outboundBytesMax?: number;
  fetchBytesInFlightMax?: number;
  /**
   * Fetch memory of the whole broker, shared with its other listeners: the byte limits of running
   * fetches and the answers not yet taken by the kernel (default: a budget of this listener's own,
   * fetchMemoryDefaults). See fetchMemory in server-connection.ts.
   */
  fetchMemory?: SharedByteBudget;
  /**
   * Request memory of the whole broker, shared with its other listeners: request bytes read and
   * not yet handled (default: a budget of this listener's own, requestMemoryDefaults). See
   * requestMemory in server-connection.ts.
   */
  requestMemory?: RequestMemory;
  subscriptionsMax?: number;
  connectionsMax?: number;
  closeTimeoutMs?: number;
  helloTimeoutMs?: number;
  /** 0 keeps idle connections open (see nativeListenerDefaults and server-connection.ts). */
  connectionIdleMsMax?: number;
  /** 0: a frame may take any time to arrive. */
  frameArrivalMsMax?: number;
  logger?: Logger;
  /** Reported to clients in the hello response. */
  serverName?: string;
  /** Serve TLS (key and certificate, as for `tls.createServer`); clients connect with weirs://. */
  tls?: TlsOptions;
}

export class NativeListener {
  readonly #broker: BrokerApi;
  readonly #options: NativeListenerOptions;
  readonly #limits: ConnectionLimits;
  readonly #fetchMemory: SharedByteBudget;
  readonly #requestMemory: RequestMemory;
  readonly #log: Logger;
  readonly #connections = new Set<ServerConnection>();
  /** Refused connections waiting for their hello's answer (connection-refusal.ts). */
  readonly #refused = new RefusedConnections();
  #server: Server | null = null;

  constructor(broker: BrokerApi, options: NativeListenerOptions) {
    this.#broker = broker;
    this.#options = options;
    this.#limits = {
      frameBytesMax: options.frameBytesMax ?? nativeListenerDefaults.frameBytesMax,
      inFlightRequestsMax: options.inFlightRequestsMax ?? nativeListenerDefaults.inFlightRequestsMax,
      outboundBytesMax: options.outboundBytesMax ?? nativeListenerDefaults.outboundBytesMax,
      fetchBytesInFlightMax: options.fetchBytesInFlightMax ?? nativeListenerDefaults.fetchBytesInFlightMax,
      subscriptionsMax: options.subscriptionsMax ?? nativeListenerDefaults.subscriptionsMax,
      helloTimeoutMs: timerOption('helloTimeoutMs', options.helloTimeoutMs ?? nativeListenerDefaults.helloTimeoutMs, 1),
      connectionIdleMsMax: timerOption('connectionIdleMsMax', options.connectionIdleMsMax ?? nativeListenerDefaults.connectionIdleMsMax, 0),
      frameArrivalMsMax: timerOption('frameArrivalMsMax', options.frameArrivalMsMax ?? nativeListenerDefaults.frameArrivalMsMax, 0),
    };
    this.#fetchMemory = options.fetchMemory ?? new SharedByteBudget(fetchMemoryDefaults);
    this.#requestMemory = options.requestMemory ?? new RequestMemory(requestMemoryDefaults);
    this.#log = options.logger ?? (() => {});
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Output queued in all connections' sockets (bounded per connection; see the limits). */
  get outboundBytes(): number {
    let bytes = 0;
    for (const connection of this.#connections) bytes += connection.outboundBytes;
    return bytes;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  start(): Promise<{ port: number }> {
    if (this.#server !== null) throw new Error('NativeListener.start called twice');
    const connectionsMax = this.#options.connectionsMax ?? nativeListenerDefaults.connectionsMax;
    // One read buffer for every plain-TCP connection: each read is framed (and what is kept copied)
    // before the next read starts.
    const readBuffer = this.#options.tls === undefined ? Buffer.allocUnsafe(readBufferBytes) : undefined;
    const onSocket = (socket: Socket): void => {
      if (this.#connections.size >= connectionsMax) {
        this.#refuse(socket, connectionsMax);
        return;
      }
      // Half-open: a client that ends its side after sending requests still gets their answers.
      // (Set here, not on the server: a TLS socket whose handshake fails must close at the peer's end.)
      socket.allowHalfOpen = true;
      const connection = new ServerConnection(this.#broker, socket, {
        limits: this.#limits,
        fetchMemory: this.#fetchMemory,
        requestMemory: this.#requestMemory,
        logger: this.#log,
        serverName: this.#options.serverName ?? 'weir',
        readBuffer,
        closeTimeoutMs: this.#options.closeTimeoutMs ?? nativeListenerDefaults.closeTimeoutMs,
      });
      this.#connections.add(connection);
      const untrack = trackConnection('native');
      void connection.closed.then(() => {
        this.#connections.delete(connection);
        untrack();
      });
    };
    const server = this.#options.tls === undefined ? createServer({ noDelay: true }, onSocket) : createTlsServer(this.#options.tls, onSocket);
    server.on('tlsClientError', (error: Error) => this.#log('info', `native listener: TLS handshake failed: ${error.message}`));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#log('error', `native listener: ${error.message}`));
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : this.#options.port;
        this.#log('info', `native protocol listening on ${this.#options.host}:${port}`);
        resolve({ port });
      });
    });
  }

  /** A connection past connectionsMax: its hello is answered with LIMIT_EXCEEDED, or, past refusingConnectionsMax such at once, it is reset. */
  #refuse(socket: Socket, connectionsMax: number): void {
    this.#log('warn', `native listener: refusing a connection, ${connectionsMax} are open (connectionsMax)`);
    if (!this.#refused.admit(socket)) return;
    refuseConnection(socket, {
      message: connectionLimitMessage(connectionsMax),
      serverName: this.#options.serverName ?? 'weir',
      frameBytesMax: this.#limits.frameBytesMax,
    });
  }

  /** Stops accepting, lets in-flight requests answer, then closes every connection. */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const timeoutMs = this.#options.closeTimeoutMs ?? nativeListenerDefaults.closeTimeoutMs;
    await Promise.all([...this.#connections].map((connection) => connection.shutdown(timeoutMs)));
    await stopped;
  }
}

function timerOption(name: string, ms: number, min: number): number {
  if (!Number.isSafeInteger(ms) || ms < min || ms > timerMsLimit) {
    throw new WeirError('INVALID_CONFIG', `${name} ${ms} is invalid: expected an integer from ${min}${min === 0 ? ' (never)' : ''} to ${timerMsLimit}`);
  }
  return ms;
}
