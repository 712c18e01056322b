/**
 * One client connection to a broker's native listener: connects, negotiates the version, sends
 * requests with correlation ids (many in flight; answers may come in any order) and hands push
 * deliveries to the subscription that asked for them. It does not reconnect: Client does that.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { WeirError, isWeirError, type ErrorCode } from '../util/errors.js';
import type { ByteReader } from '../format/byte-reader.js';
import type { Codec } from '../protocol/native/wire/codec.js';
import {
  FrameReader,
  encodeRequest,
  frameBytesMaxDefault,
  frameKinds,
  parseFrame,
  readErrorPart,
} from '../protocol/native/wire/frame.js';
import {
  apis,
  delivery as deliveryCodec,
  helloResponse,
  protocolVersionMax,
  protocolVersionMin,
  queueDeliveries,
  type ApiName,
  type Delivery,
  type HelloResponse,
  type QueueDelivery,
  type RequestOf,
  type ResponseOf,
} from '../protocol/native/wire/messages.js';


/** Codes of a request that got no answer: the broker was not reached, so it refused nothing. */
const unansweredCodes: readonly ErrorCode[] = ['CONNECTION_CLOSED', 'CLOSED', 'TIMEOUT'];

/** Whether `error` says a request went unanswered (lost connection, closed client, timeout) rather than refused by the broker. */
export function wasUnanswered(error: unknown): boolean {
  return isWeirError(error) && unansweredCodes.includes(error.code);
}
export interface ConnectionOptions {
  host: string;
  port: number;
  clientId: string;
  connectTimeoutMs: number;
  /** Requests without an answer after this long fail with TIMEOUT (a fetch adds its waitMs). */
  requestTimeoutMs: number;
  frameBytesMax?: number;
  /** Connect with TLS (options as for `tls.connect`: ca, cert, key, rejectUnauthorized, …). */
  tls?: TlsConnectionOptions;
  /** Override the offered version range (tests). */
  versionMin?: number;
  versionMax?: number;
}

export type ResponseCallback<T> = (error: WeirError | null, response?: T) => void;

interface Pending {
  codec: Codec<unknown>;
  callback: ResponseCallback<unknown>;
  deadlineMs: number;
}

export interface SubscriptionHandler {
  onDelivery(delivery: Delivery): void;
  /** Queue consumers: leased messages pushed by the broker. */
  onQueueDeliveries?(deliveries: QueueDelivery[]): void;
  onEnd(error: WeirError): void;
}

/**
 * The buffer every plain-TCP connection of this process reads into (Node's `onread`), instead of
 * a new buffer per read; each frame is copied out of it once (decision 9).
 */
let readBuffer: Buffer | undefined;
function sharedReadBuffer(): Buffer {
  readBuffer ??= Buffer.allocUnsafe(256 * 1024);
  return readBuffer;
}

/** How often pending requests are checked for their deadline. */
const deadlineSweepMs = 250;
const correlationIdMax = 0xffff_ffff;

export class Connection {
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #frames: FrameReader;
  readonly #pending = new Map<number, Pending>();
  readonly #subscriptions = new Map<number, SubscriptionHandler>();
  readonly #sweeper: NodeJS.Timeout;
  #nextCorrelationId = 1;
  #nextSubscriptionId = 1;
  #closedError: WeirError | null = null;
  #closeListeners: ((error: WeirError) => void)[] = [];
  /** Until the hello is answered, the peer may not be a Weir native listener at all. */
  #helloAnswered = false;
  /** The first bytes the peer sent, kept until the hello is answered to name a wrong server. */
  #firstBytes: Buffer | null = null;
  hello: HelloResponse | null = null;

  /** `reads`: where the socket's `onread` callback finds this connection; null to read 'data' events. */
  private constructor(socket: Socket, options: ConnectionOptions, reads: { connection: Connection | null } | null) {
    this.#socket = socket;
    this.#options = options;
    this.#frames = new FrameReader(options.frameBytesMax ?? frameBytesMaxDefault);
    socket.setNoDelay(true);
    if (reads !== null) reads.connection = this;
    else socket.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    socket.on('error', (error) => this.#terminate(new WeirError('CONNECTION_CLOSED', `connection to ${this.address}: ${error.message}`, { cause: error })));
    socket.on('close', () =>
      this.#terminate(
        new WeirError('CONNECTION_CLOSED', this.#helloAnswered ? `connection to ${this.address} closed` : `${this.address} closed the connection before answering hello${notWeirHint}`),
      ),
    );
    this.#sweeper = setInterval(() => this.#sweep(), deadlineSweepMs);
    this.#sweeper.unref();
  }

  /** Connects and says hello; rejects with UNSUPPORTED_VERSION, LIMIT_EXCEEDED (the broker is at its connection limit) or CONNECTION_CLOSED. */
  static async open(options: ConnectionOptions): Promise<Connection> {
    // Which connection a plain-TCP socket's reads go to. It exists before the hello is sent; a
    // server that speaks before that is not a Weir server, and reading stops (the hello times out).
    const reads = { connection: null as Connection | null };
    const onRead = (bytesRead: number): boolean => {
      const connection = reads.connection;
      return connection === null ? false : connection.#onRead(bytesRead);
    };
    const tls = options.tls;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket =
        tls === undefined
          ? netConnect({ host: options.host, port: options.port, onread: { buffer: sharedReadBuffer(), callback: onRead } })
          : tlsConnect({ servername: isIP(options.host) === 0 ? options.host : undefined, ...tls, host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new WeirError('CONNECTION_CLOSED', `connecting to ${options.host}:${options.port} timed out after ${options.connectTimeoutMs} ms`));
      }, options.connectTimeoutMs);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new WeirError('CONNECTION_CLOSED', `cannot connect to ${options.host}:${options.port}: ${error.message}`, { cause: error }));
      });
    });
    const connection = new Connection(socket, options, tls === undefined ? reads : null);
    try {
      connection.hello = await connection.#sayHello();
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  get address(): string {
    return `${this.#options.host}:${this.#options.port}`;
  }

  get closed(): boolean {
    return this.#closedError !== null;
  }

  /** Bytes written but not yet handed to the kernel. */
  get writableBytes(): number {
    return this.#socket.writableLength;
  }

  onClose(listener: (error: WeirError) => void): void {
    if (this.#closedError !== null) listener(this.#closedError);
    else this.#closeListeners.push(listener);
  }

  #sayHello(): Promise<HelloResponse> {
    return new Promise((resolve, reject) => {
      const body = {
        versionMin: this.#options.versionMin ?? protocolVersionMin,
        versionMax: this.#options.versionMax ?? protocolVersionMax,
        clientId: this.#options.clientId,
      };
      // A refused hello still carries the server's range: read it into the error message. A server
      // that never answers is given connectTimeoutMs, not requestTimeoutMs: it is likely not Weir.
      const extraWaitMs = this.#options.connectTimeoutMs - this.#options.requestTimeoutMs;
      this.#send(
        'hello',
        body,
        (error, response) => {
          this.#helloAnswered = true;
          this.#firstBytes = null;
          if (error === null) resolve(response as HelloResponse);
          else if (error.code === 'TIMEOUT') reject(new WeirError('TIMEOUT', `${this.address} did not answer hello within connectTimeoutMs (${this.#options.connectTimeoutMs} ms)${notWeirHint}`));
          else if (error.code === 'LIMIT_EXCEEDED') reject(new WeirError('LIMIT_EXCEEDED', `${this.address} refused the connection: ${error.message}`));
          else reject(error);
        },
        extraWaitMs,
        true,
      );
    });
  }

  /** Sends a request; the promise settles with its answer. */
  request<N extends ApiName>(name: N, body: RequestOf<N>, extraWaitMs = 0): Promise<ResponseOf<N>> {
    return new Promise((resolve, reject) => {
      this.#send(name, body, (error, response) => (error ? reject(error) : resolve(response as ResponseOf<N>)), extraWaitMs);
    });
  }

  /** The callback form (no promise per request), for the producer's hot path. */
  requestCallback<N extends ApiName>(name: N, body: RequestOf<N>, callback: ResponseCallback<ResponseOf<N>>): void {
    this.#send(name, body, callback as ResponseCallback<unknown>, 0);
  }

  /** Sends a request that has no answer (produce with acks 'none'). False when it could not be sent. */
  requestNoResponse<N extends ApiName>(name: N, body: RequestOf<N>): boolean {
    if (this.#closedError !== null) return false;
    this.#write(encodeRequest(this.#takeCorrelationId(), apis[name].key, apis[name].request as Codec<RequestOf<N>>, body));
    return true;
  }

  #takeCorrelationId(): number {
    const id = this.#nextCorrelationId;
    this.#nextCorrelationId = id === correlationIdMax ? 1 : id + 1;
    return id;
  }

  #send(name: ApiName, body: unknown, callback: ResponseCallback<unknown>, extraWaitMs: number, isHello = false): void {
    if (this.#closedError !== null) {
      callback(this.#closedError);
      return;
    }
    const id = this.#takeCorrelationId();
    const spec = apis[name];
    const codec = isHello ? helloWithError : (spec.response as Codec<unknown>);
    this.#pending.set(id, { codec, callback, deadlineMs: Date.now() + this.#options.requestTimeoutMs + extraWaitMs });
    let frame: Buffer[];
    try {
      frame = encodeRequest(id, spec.key, spec.request as Codec<unknown>, body);
    } catch (error) {
      this.#pending.delete(id);
      callback(new WeirError('INVALID_REQUEST', `cannot encode ${name}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    this.#write(frame);
  }

  #write(chunks: Buffer[]): void {
    if (chunks.length === 1) {
      this.#socket.write(chunks[0]!);
      return;
    }
    this.#socket.cork();
    for (const chunk of chunks) this.#socket.write(chunk);
    this.#socket.uncork();
  }

  /** A subscription or queue consumer id not used before on this connection. */
  allocateSubscriptionId(): number {
    return this.#nextSubscriptionId++;
  }

  subscribe(subscriptionId: number, handler: SubscriptionHandler): void {
    this.#subscriptions.set(subscriptionId, handler);
  }

  forgetSubscription(subscriptionId: number): void {
    this.#subscriptions.delete(subscriptionId);
  }

  /** Frames the bytes just read into the shared read buffer (valid only until the next read). */
  #onRead(bytesRead: number): boolean {
    this.#onData(sharedReadBuffer().subarray(0, bytesRead), true);
    return true;
  }

  #onData(chunk: Buffer, transient: boolean): void {
    if (!this.#helloAnswered && this.#firstBytes === null) this.#firstBytes = Buffer.from(chunk.subarray(0, 24));
    try {
      this.#frames.push(chunk, (frame) => this.#onFrame(frame), transient);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const message = this.#helloAnswered
        ? `malformed data from ${this.address}: ${reason}`
        : `${this.address} answered hello with data that is not a Weir frame (${reason}; it began ${JSON.stringify(this.#firstBytes?.toString('latin1') ?? '')})${notWeirHint}`;
      this.#terminate(new WeirError('CONNECTION_CLOSED', message, { cause: error }));
      this.#socket.destroy();
    }
  }

  /**
   * A frame that does not decode whole throws, and #onData closes the connection, failing every
   * request still pending: the one it answered stays pending until its body has been read.
   */
  #onFrame(frame: Buffer): void {
    const { kind, id, reader } = parseFrame(frame);
    if (kind === frameKinds.response) {
      const pending = this.#pending.get(id);
      if (pending === undefined) return; // timed out earlier: the late answer is dropped
      const error = readErrorPart(reader);
      if (error !== undefined && pending.codec !== helloWithError) {
        this.#pending.delete(id);
        callOutside(pending.callback, error);
        return;
      }
      const response = readWhole(reader, pending.codec);
      this.#pending.delete(id);
      if (error !== undefined) callOutside(pending.callback, helloError(error, response as HelloResponse));
      else callOutside(pending.callback, null, response);
    } else if (kind === frameKinds.delivery) {
      const delivery = readWhole(reader, deliveryCodec);
      this.#subscriptions.get(id)?.onDelivery(delivery);
    } else if (kind === frameKinds.queueDelivery) {
      const deliveries = readWhole(reader, queueDeliveries);
      this.#subscriptions.get(id)?.onQueueDeliveries?.(deliveries);
    } else if (kind === frameKinds.subscriptionEnd) {
      const error = readErrorPart(reader) ?? new WeirError('UNKNOWN', 'subscription ended without a reason');
      const handler = this.#subscriptions.get(id);
      this.#subscriptions.delete(id);
      handler?.onEnd(error);
    } else {
      reader.fail(`the server sent a frame of kind ${kind}`);
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, pending] of this.#pending) {
      if (pending.deadlineMs > now) continue;
      this.#pending.delete(id);
      pending.callback(new WeirError('TIMEOUT', `no answer from ${this.address} within requestTimeoutMs (${this.#options.requestTimeoutMs} ms)`));
    }
  }

  #terminate(error: WeirError): void {
    if (this.#closedError !== null) return;
    this.#closedError = error;
    clearInterval(this.#sweeper);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.callback(error);
    const subscriptions = [...this.#subscriptions.values()];
    this.#subscriptions.clear();
    for (const s of subscriptions) s.onEnd(error);
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }

  close(): void {
    this.#terminate(new WeirError('CLOSED', `connection to ${this.address} was closed by the client`));
    this.#socket.destroy();
  }
}

/**
 * Calls a request's callback; if it throws, the exception is rethrown on its own tick, so that a
 * bug in a caller's callback surfaces as an uncaught exception instead of being mistaken for
 * malformed data from the broker (which would close this connection).
 */
/** The body decoded, which must end where the frame ends (docs/native-protocol.md). */
function readWhole<T>(reader: ByteReader, codec: Codec<T>): T {
  const value = codec.read(reader);
  if (reader.remaining !== 0) reader.fail(`${reader.remaining} bytes follow the body`);
  return value;
}

function callOutside<T>(callback: ResponseCallback<T>, error: WeirError | null, response?: T): void {
  try {
    callback(error, response);
  } catch (thrown) {
    process.nextTick(() => {
      throw thrown;
    });
  }
}

/** Appended to errors before the hello is answered: the usual cause is a wrong port. */
const notWeirHint = ': is it a Weir native listener? (its port is 7400 unless --port says otherwise; the HTTP and Kafka listeners do not speak the native protocol)';

/** Marker codec: the hello response is decoded even when it carries an error. */
const helloWithError: Codec<unknown> = helloResponse as Codec<unknown>;

function helloError(error: WeirError, server: HelloResponse): WeirError {
  // The range matters to a version mismatch; a refusal at the connection limit says what it is.
  if (error.code !== 'UNSUPPORTED_VERSION') return error;
  return new WeirError(error.code, `${error.message} (server speaks ${server.versionMin}..${server.versionMax})`);
}
