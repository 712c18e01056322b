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
  connectTimeoutMs?: number;
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

/** What happens to the connection, as a typed event stream. */
export type ClientStatus =
  | { type: 'connected'; address: string; version: number }
  | { type: 'disconnected'; address: string; error: WeirError }
  | { type: 'reconnecting'; address: string; attempt: number; delayMs: number }
  | { type: 'closed' };

export type StatusListener = (status: ClientStatus) => void;

function parseUrl(url: string): { host: string; port: number; tls: boolean } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'weir:' && parsed.protocol !== 'weirs:') {
    throw new WeirError('INVALID_CONFIG', `broker URL ${url} must start with weir:// (or weirs:// for TLS)`);
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = parsed.port === '' ? clientDefaults.port : Number(parsed.port);
  return { host, port, tls: parsed.protocol === 'weirs:' };
}

/**
 * Connects to a broker. Resolves once the first connection is up and its version agreed;
 * rejects with UNSUPPORTED_VERSION or CONNECTION_CLOSED when that fails.
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

  constructor(url: string, options: ClientOptions = {}) {
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
          if (!this.#closing.signal.aborted) this.#emit({ type: 'disconnected', address: this.address, error });
        });
        this.#emit({ type: 'connected', address: this.address, version: connection.hello?.version ?? 0 });
        return connection;
      } catch (error) {
        // The first connection reports its failure; later ones keep trying until closed.
        if (!this.#everConnected || (error instanceof WeirError && (error.code === 'UNSUPPORTED_VERSION' || error.code === 'CLOSED'))) {
          throw error;
        }
      }
    }
  }

  /** Sends one request on the live (or next) connection. */
  async request<N extends ApiName>(name: N, body: RequestOf<N>, extraWaitMs = 0): Promise<ResponseOf<N>> {
    const connection = await this.connection();
    return connection.request(name, body, extraWaitMs);
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
    return this.#track(new Producer(this, options));
  }

  /** A consumer: a group member (with `groupId` and `topics`) or a reader of explicit partitions. */
  consumer(options: ConsumerOptions): Consumer {
    return this.#track(new Consumer(this, options));
  }

  /** A consumer of a queue subscription (created with `config` when missing). */
  queueConsumer(options: QueueConsumerOptions): QueueConsumer {
    return this.#track(new QueueConsumer(this, options));
  }

  admin(): Admin {
    return new Admin(this);
  }

  #track<T extends { close(): Promise<void> }>(closable: T): T {
    this.#closables.add(closable);
    return closable;
  }

  /** @internal Producers and consumers unregister themselves when closed. */
  untrack(closable: { close(): Promise<void> }): void {
    this.#closables.delete(closable);
  }

  /** Closes producers (flushing them) and consumers (committing), then the connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    await Promise.allSettled([...this.#closables].map((c) => c.close()));
    this.#closing.abort();
    this.#current?.close();
    this.#current = null;
    this.#emit({ type: 'closed' });
  }
}
