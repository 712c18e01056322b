/**
 * A Weir client: one connection to one broker, re-established with backoff and jitter when it
 * drops (a broker restart), and the factory for producers, consumers and the admin API.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { WeirError } from '../util/errors.js';
import type { ApiName, RequestOf, ResponseOf } from '../protocol/native/wire/messages.js';
import { Admin } from './admin.js';
import { backoffDelayMs, sleep } from './backoff.js';
import { Connection } from './connection.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { Producer, type ProducerOptions } from './producer.js';
import { QueueConsumer, type QueueConsumerOptions } from './queue-consumer.js';
import { checkInteger, checkKnownKeys, checkString, timerDelayMsMax } from './options.js';

export const clientDefaults = {
  url: 'weir://127.0.0.1:7400',
  port: 7400,
  clientId: 'weir-client',
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  reconnectBackoffMsMin: 100,
  reconnectBackoffMsMax: 5_000,
  /** Status events kept for a slow reader of `status()`; older ones are dropped. */
  statusQueueMax: 100,
} as const;

export interface ClientOptions {
  clientId?: string;
  /** How long a connection and its hello may take; a server that never answers hello is likely not Weir. */
  connectTimeoutMs?: number;
  /**
   * A request without an answer this long after it was sent fails with TIMEOUT (a fetch or a
   * join adds its own wait), and so does one that waits this long for a connection (the broker
   * is down or restarting).
   */
  requestTimeoutMs?: number;
  reconnectBackoffMsMin?: number;
  reconnectBackoffMsMax?: number;
  frameBytesMax?: number;
  /** TLS options (ca, cert, key, rejectUnauthorized, …); a weirs:// URL uses TLS with defaults. */
  tls?: TlsConnectionOptions;
  /** Offered protocol versions (tests of negotiation). */
  versionMin?: number;
  versionMax?: number;
}

/** Every client option, once (an option added to ClientOptions fails to compile until listed here). */
const clientOptionKeys = Object.keys({
  clientId: true,
  connectTimeoutMs: true,
  requestTimeoutMs: true,
  reconnectBackoffMsMin: true,
  reconnectBackoffMsMax: true,
  frameBytesMax: true,
  tls: true,
  versionMin: true,
  versionMax: true,
} satisfies Record<keyof ClientOptions, true>);

/** What happens to the connection, as a typed event stream. */
export type ClientStatus =
  | { type: 'connected'; address: string; version: number }
  | { type: 'disconnected'; address: string; error: WeirError }
  | { type: 'reconnecting'; address: string; attempt: number; delayMs: number }
  | { type: 'closed' };

export type StatusListener = (status: ClientStatus) => void;

function parseUrl(url: string): { host: string; port: number; tls: boolean } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new WeirError('INVALID_CONFIG', `broker URL ${JSON.stringify(url)} is not a URL such as weir://127.0.0.1:7400`, { cause: error });
  }
  if (parsed.protocol !== 'weir:' && parsed.protocol !== 'weirs:') {
    throw new WeirError('INVALID_CONFIG', `broker URL ${url} must start with weir:// (or weirs:// for TLS)`);
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = parsed.port === '' ? clientDefaults.port : Number(parsed.port);
  return { host, port, tls: parsed.protocol === 'weirs:' };
}

/**
 * Connects to a broker. Resolves once the first connection is up and its version agreed;
 * rejects with UNSUPPORTED_VERSION, LIMIT_EXCEEDED (the broker is at its connection limit) or
 * CONNECTION_CLOSED when that fails. After a first connection, a refusal at the limit is retried
 * like a lost connection.
 */
export async function connect(url: string = clientDefaults.url, options: ClientOptions = {}): Promise<Client> {
  const client = new Client(url, options);
  await client.connection();
  return client;
}

export class Client {
  readonly #host: string;
  readonly #port: number;
  readonly #tls: TlsConnectionOptions | undefined;
  readonly #options: Required<Omit<ClientOptions, 'frameBytesMax' | 'versionMin' | 'versionMax' | 'tls'>> & ClientOptions;
  readonly #listeners = new Set<StatusListener>();
  readonly #closing = new AbortController();
  readonly #closables = new Set<{ close(): Promise<void> }>();
  #current: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  #everConnected = false;
  /** Why the last connection attempt failed or the last connection closed (named by a TIMEOUT). */
  #lastConnectionError: WeirError | null = null;
  /** close()'s work: a second close() waits for it too. */
  #closed: Promise<void> | null = null;

  constructor(url: string, options: ClientOptions = {}) {
    checkKnownKeys(options, clientOptionKeys, { owner: 'client' });
    const { host, port, tls } = parseUrl(url);
    this.#host = host;
    this.#port = port;
    this.#tls = options.tls ?? (tls ? {} : undefined);
    this.#options = {
      ...options,
      clientId: options.clientId ?? clientDefaults.clientId,
      connectTimeoutMs: options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? clientDefaults.requestTimeoutMs,
      reconnectBackoffMsMin: options.reconnectBackoffMsMin ?? clientDefaults.reconnectBackoffMsMin,
      reconnectBackoffMsMax: options.reconnectBackoffMsMax ?? clientDefaults.reconnectBackoffMsMax,
    };
    const owner = 'client';
    checkString('clientId', this.#options.clientId, { owner });
    checkInteger('connectTimeoutMs', this.#options.connectTimeoutMs, { owner, min: 1, max: timerDelayMsMax });
    checkInteger('requestTimeoutMs', this.#options.requestTimeoutMs, { owner, min: 1, max: timerDelayMsMax });
    checkInteger('reconnectBackoffMsMin', this.#options.reconnectBackoffMsMin, { owner, min: 0, max: timerDelayMsMax });
    checkInteger('reconnectBackoffMsMax', this.#options.reconnectBackoffMsMax, { owner, min: this.#options.reconnectBackoffMsMin, max: timerDelayMsMax });
  }

  get clientId(): string {
    return this.#options.clientId;
  }

  get address(): string {
    return `${this.#host}:${this.#port}`;
  }

  get isClosed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** The live connection, or the next one (waits through reconnection). */
  connection(): Promise<Connection> {
    if (this.#closing.signal.aborted) return Promise.reject(new WeirError('CLOSED', 'the client is closed'));
    if (this.#current !== null && !this.#current.closed) return Promise.resolve(this.#current);
    this.#connecting ??= this.#reconnect().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  /** The live connection if there is one (no waiting). */
  get currentConnection(): Connection | null {
    return this.#current !== null && !this.#current.closed ? this.#current : null;
  }

  async #reconnect(): Promise<Connection> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 || this.#everConnected) {
        const delayMs = attempt === 0 ? 0 : backoffDelayMs(attempt, {
          backoffMsMin: this.#options.reconnectBackoffMsMin,
          backoffMsMax: this.#options.reconnectBackoffMsMax,
        });
        this.#emit({ type: 'reconnecting', address: this.address, attempt, delayMs });
        await sleep(delayMs, this.#closing.signal);
      }
      if (this.#closing.signal.aborted) throw new WeirError('CLOSED', 'the client is closed');
      try {
        const connection = await Connection.open({
          host: this.#host,
          port: this.#port,
          clientId: this.#options.clientId,
          connectTimeoutMs: this.#options.connectTimeoutMs,
          requestTimeoutMs: this.#options.requestTimeoutMs,
          frameBytesMax: this.#options.frameBytesMax,
          tls: this.#tls,
          versionMin: this.#options.versionMin,
          versionMax: this.#options.versionMax,
        });
        if (this.#closing.signal.aborted) {
          connection.close();
          throw new WeirError('CLOSED', 'the client is closed');
        }
        this.#current = connection;
        this.#everConnected = true;
        connection.onClose((error) => {
          if (this.#current === connection) this.#current = null;
          this.#lastConnectionError = error;
          if (!this.#closing.signal.aborted) this.#emit({ type: 'disconnected', address: this.address, error });
        });
        this.#emit({ type: 'connected', address: this.address, version: connection.hello?.version ?? 0 });
        return connection;
      } catch (error) {
        if (error instanceof WeirError) this.#lastConnectionError = error;
        // The first connection reports its failure; later ones keep trying until closed.
        if (!this.#everConnected || (error instanceof WeirError && (error.code === 'UNSUPPORTED_VERSION' || error.code === 'CLOSED'))) {
          throw error;
        }
      }
    }
  }

  /**
   * Sends one request on the live connection, or on the next one if it comes within
   * requestTimeoutMs (TIMEOUT otherwise, naming why the broker could not be reached).
   */
  async request<N extends ApiName>(name: N, body: RequestOf<N>, extraWaitMs = 0): Promise<ResponseOf<N>> {
    const connection = this.currentConnection ?? (await this.#connectionWithin(this.#options.requestTimeoutMs));
    return connection.request(name, body, extraWaitMs);
  }

  /** The next connection, or TIMEOUT once `waitMs` has passed without one (the broker is down). */
  #connectionWithin(waitMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const cause = this.#lastConnectionError;
        const reason = cause === null ? '' : `: ${cause.message}`;
        reject(new WeirError('TIMEOUT', `no connection to ${this.address} within requestTimeoutMs (${waitMs} ms)${reason}`, { cause: cause ?? undefined }));
      }, waitMs);
      this.connection().then(
        (connection) => {
          clearTimeout(timer);
          resolve(connection);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** Listens to status events; returns a function that stops listening. */
  onStatus(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Status events as an async iterator (bounded: the oldest are dropped for a slow reader). */
  async *status(): AsyncGenerator<ClientStatus> {
    const queue: ClientStatus[] = [];
    let wake: (() => void) | null = null;
    const stop = this.onStatus((status) => {
      if (queue.length >= clientDefaults.statusQueueMax) queue.shift();
      queue.push(status);
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) {
          const status = queue.shift()!;
          yield status;
          if (status.type === 'closed') return;
        }
        if (this.isClosed) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      stop();
    }
  }

  #emit(status: ClientStatus): void {
    for (const listener of this.#listeners) listener(status);
  }

  /** A producer on this client's connection. */
  producer(options: ProducerOptions = {}): Producer {
    return new Producer(this, options);
  }

  /** A consumer: a group member (with `groupId` and `topics`) or a reader of explicit partitions. */
  consumer(options: ConsumerOptions): Consumer {
    return new Consumer(this, options);
  }

  /** A consumer of a queue subscription (created with `config` when missing). */
  queueConsumer(options: QueueConsumerOptions): QueueConsumer {
    return new QueueConsumer(this, options);
  }

  admin(): Admin {
    return new Admin(this);
  }

  /**
   * @internal Producers and consumers register themselves when built, by the factory methods or
   * with `new` (the classes are exported), so that close() closes them all.
   */
  track(closable: { close(): Promise<void> }): void {
    this.#closables.add(closable);
  }

  /** @internal Producers and consumers unregister themselves when closed. */
  untrack(closable: { close(): Promise<void> }): void {
    this.#closables.delete(closable);
  }

  /**
   * Closes producers (flushing them) and consumers (committing, releasing), however they were
   * built, then the connection. A second close() waits for the first; the status stream reports
   * `closed` once.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#closables].map((c) => c.close()));
    this.#closing.abort();
    this.#current?.close();
    this.#current = null;
    this.#emit({ type: 'closed' });
  }
}
