/**
 * Weir's HTTP front end (docs/http-api.md): REST for produce, consume, settle and administration,
 * WebSocket and SSE subscriptions, /metrics, /openapi.json, the web console and the chat demo.
 * Like the other listeners it translates requests into broker calls and holds no broker logic.
 *
 * Bounds: request bodies and WebSocket frames up to bodyBytesMax (413 beyond), request bodies in
 * memory at once up to bodiesHeldBytesMax (json-body.ts: further ones wait, unread), at most
 * connectionsMax connections: a further one's first request is answered 503 LIMIT_EXCEEDED, never
 * run, and the connection closed; one that sends no request within refusalMsMax, or comes while
 * refusingConnectionsMax such wait, is closed without an answer. Close is graceful: stop
 * accepting, end WebSocket sessions with 1001 and SSE streams, let in-flight requests answer
 * (long polls answer at once with what they have), then close the connections.
 */
import { STATUS_CODES, ServerResponse, createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { WebSocketServer } from 'ws';
import { RefusedConnections, connectionLimitMessage } from '../../util/connection-deadlines.js';
import type { WeirError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { observeRequest, trackConnection } from '../../util/metrics.js';
import { browserRefusal } from './browser-guard.js';
import { demoChatHtml } from './demo-chat.js';
import { HttpStatusError, asWeirError, errorJson, retryAfterSeconds, sendError, sendJson, statusOf } from './http-errors.js';
import type { HttpBroker, HttpContext } from './http-context.js';
import { RequestBodies, bodiesHeldBytesMaxDefault, bodyBytesMaxDefault, bodyIdleMsDefault } from './json-body.js';
import { metricsContentType, metricsText, startProcessMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { HttpProducer } from './produce.js';
import { QueueConsumers, pooledSubscriptionsMax } from './queue-consumers.js';
import { addAdminRoutes } from './routes-admin.js';
import { parseQuery } from './query-string.js';
import { addMessageRoutes, sourceFor, subscribeQuery } from './routes-messages.js';
import { Router, decodePathParameter, type Route, type RouteRequest } from './router.js';
import { SseSession } from './sse-session.js';
import { consoleDirDefault, serveStatic } from './static-files.js';
import { GroupReaders } from './stream-read.js';
import { WebSocketSession, wsFrameBytesMax, type SessionTarget } from './websocket-session.js';

export const httpListenerDefaults = {
  bodyBytesMax: bodyBytesMaxDefault,
  bodiesHeldBytesMax: bodiesHeldBytesMaxDefault,
  bodyIdleMs: bodyIdleMsDefault,
  connectionsMax: 10_000,
  /** How long close() lets requests finish before cutting connections. */
  closeTimeoutMs: 5_000,
  /** Idle keep-alive connections close after this long. */
  keepAliveTimeoutMs: 60_000,
  /** A request's headers must all arrive within this long (431 past it: 408). */
  headersTimeoutMs: 65_000,
  /** A whole request, body included, must arrive within this long (Node's default): 408. */
  requestTimeoutMs: 300_000,
  /** The request line and headers together (Node's default): 431 beyond. */
  headerBytesMax: 16 * 1024,
} as const;

export interface HttpListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger?: Logger;
  bodyBytesMax?: number;
  /** Request body bytes held in memory at once, over all requests (at least bodyBytesMax). */
  bodiesHeldBytesMax?: number;
  /** A body that pauses this long is answered 408; one that waits this long for room, 503. */
  bodyIdleMs?: number;
  connectionsMax?: number;
  /** Queue subscriptions whose long polls have a pool of consumers at once (queue-consumers.ts). */
  pooledSubscriptionsMax?: number;
  closeTimeoutMs?: number;
  /** Directory of the built web console (default dist/console/). */
  consoleDir?: string;
}

export class HttpListener {
  readonly #broker: HttpBroker;
  readonly #options: HttpListenerOptions;
  readonly #log: Logger;
  readonly #context: HttpContext;
  readonly #router = new Router();
  readonly #closing = new AbortController();
  readonly #webSockets = new WebSocketServer({ noServer: true, maxPayload: wsFrameBytesMax });
  readonly #sessions = new Set<WebSocketSession | SseSession>();
  readonly #sockets = new Set<Duplex>();
  /** Connections past connectionsMax, lingering until their refusal is sent (none of #sockets). */
  readonly #refused = new WeakSet<Duplex>();
  readonly #refusedConnections = new RefusedConnections();
  #inFlight = 0;
  #idle: (() => void) | null = null;
  #server: Server | null = null;

  constructor(broker: HttpBroker, options: HttpListenerOptions) {
    this.#broker = broker;
    this.#options = options;
    this.#log = options.logger ?? (() => {});
    this.#context = {
      broker,
      producer: new HttpProducer(broker),
      groups: new GroupReaders(broker),
      queues: new QueueConsumers(broker, { subscriptionsMax: options.pooledSubscriptionsMax ?? pooledSubscriptionsMax }),
      bodies: new RequestBodies({
        bytesMax: options.bodyBytesMax ?? httpListenerDefaults.bodyBytesMax,
        heldBytesMax: options.bodiesHeldBytesMax ?? httpListenerDefaults.bodiesHeldBytesMax,
        idleMs: options.bodyIdleMs ?? httpListenerDefaults.bodyIdleMs,
      }),
      logger: this.#log,
      closing: () => this.#closing.signal.aborted,
    };
    this.#addRoutes();
    // ws's own handshake checks (Sec-WebSocket-Key, -Version) answer like every other error.
    this.#webSockets.on('wsClientError', (error, socket) => {
      endWithError(socket, new HttpStatusError(400, 'INVALID_REQUEST', `WebSocket handshake: ${error.message}`), { headers: { 'sec-websocket-version': '13' } });
    });
  }

  /** Connections open now (HTTP, SSE and WebSocket). */
  get connectionCount(): number {
    return this.#sockets.size;
  }

  /** WebSocket and SSE subscriptions open now. */
  get subscriptionCount(): number {
    return this.#sessions.size;
  }

  /** Output queued in the listener's sockets (HTTP, SSE and WebSocket), not yet handed to the kernel. */
  get outboundBytes(): number {
    let bytes = 0;
    for (const socket of this.#sockets) bytes += socket.writableLength;
    return bytes;
  }

  /** Request body bytes held in memory (or reserved for bodies being read) now. */
  get bodiesHeldBytes(): number {
    return this.#context.bodies.heldBytes;
  }

  /** Every route (method and path pattern), as the OpenAPI description lists them. */
  routes(): Route[] {
    return this.#router.routes();
  }

  #addRoutes(): void {
    const router = this.#router;
    const context = this.#context;
    router.add('GET', '/openapi.json', 'This OpenAPI description', ({ res }) => sendJson(res, 200, openApiDocument));
    router.add('GET', '/metrics', 'Prometheus metrics', (r) => this.#serveMetrics(r));
    // Web pages: a query (a link's tracking parameters, a cache buster) is theirs to ignore.
    const page = { query: 'ignored' } as const;
    router.add('GET', '/', 'Redirect to the web console', ({ res }) => redirect(res, '/console/'), page);
    router.add('GET', '/console', 'Redirect to the web console', ({ res }) => redirect(res, '/console/'), page);
    const consoleDir = this.#options.consoleDir ?? consoleDirDefault;
    router.add('GET', '/console/{path*}', 'The web console', ({ req, res, params }) => serveStatic(res, consoleDir, params.path!, req.method === 'HEAD'), page);
    router.add('GET', '/demo/chat', 'Chat-room demo page', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(demoChatHtml), 'cache-control': 'no-cache' });
      res.end(demoChatHtml);
    }, page);
    addAdminRoutes(router, context);
    addMessageRoutes(router, context);
    // Subscriptions consume (and a stream never ends): HEAD is refused, never run as a GET.
    const subscription = { head: false, query: subscribeQuery };
    router.add('GET', '/v1/topics/{topic}/ws', 'WebSocket subscription', () => {
      throw new HttpStatusError(426, 'INVALID_REQUEST', 'this route is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)');
    }, subscription);
    router.add('GET', '/v1/topics/{topic}/events', 'Server-Sent Events subscription', ({ req, res, params, query }) => {
      const target = targetOf(params.topic!, query);
      const lastEventId = req.headers['last-event-id'];
      const source = sourceFor(context, params.topic!, query, { session: true, resumeAt: Array.isArray(lastEventId) ? lastEventId[0] : lastEventId });
      this.#track(new SseSession(context, res, source, target));
    }, subscription);
  }

  #serveMetrics({ res }: RouteRequest): void {
    const text = metricsText(this.#broker);
    res.writeHead(200, { 'content-type': metricsContentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  #track(session: WebSocketSession | SseSession): void {
    this.#sessions.add(session);
    void session.closed.then(() => this.#sessions.delete(session));
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  start(): Promise<{ port: number }> {
    if (this.#server !== null) throw new Error('HttpListener.start called twice');
    const { headerBytesMax, headersTimeoutMs, requestTimeoutMs } = httpListenerDefaults;
    // Host is checked in #onRequest: Node's own refusal has no body.
    const server = createServer({ noDelay: true, maxHeaderSize: headerBytesMax, requireHostHeader: false }, (req, res) => void this.#onRequest(req, res));
    server.keepAliveTimeout = httpListenerDefaults.keepAliveTimeoutMs;
    const connectionsMax = this.#options.connectionsMax ?? httpListenerDefaults.connectionsMax;
    server.headersTimeout = headersTimeoutMs;
    server.requestTimeout = requestTimeoutMs;
    server.on('connection', (socket: Socket) => {
      if (this.#sockets.size >= connectionsMax) {
        this.#refuse(socket, connectionsMax);
        return;
      }
      this.#sockets.add(socket);
      const untrack = trackConnection('http');
      socket.once('close', () => {
        this.#sockets.delete(socket);
        untrack();
      });
    });
    startProcessMetrics();
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    // Without these Node closes a CONNECT unanswered and answers an unknown Expect with no body.
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      endWithError(socket, new HttpStatusError(405, 'INVALID_REQUEST', 'CONNECT is not supported: Weir is no proxy'), { headers: { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE' } });
    });
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('connection', 'close'); // the body the client may send anyway is not read
      sendError(res, new HttpStatusError(417, 'INVALID_REQUEST', `Expect: ${req.headers.expect} is not supported; the only expectation served is 100-continue`));
    });
    server.on('clientError', (error: Error & { code?: string }, socket) => {
      if (socket.writable && error.code !== 'ECONNRESET') endWithError(socket, clientErrorOf(error));
      else socket.destroy();
      this.#log('info', `HTTP listener: bad request from a client: ${error.message}`);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#log('error', `HTTP listener: ${error.message}`));
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : this.#options.port;
        this.#log('info', `HTTP listening on ${this.#options.host}:${port}`);
        resolve({ port });
      });
    });
  }

  /**
   * A connection past connectionsMax: Node's parser reads its first request, which is answered 503
   * LIMIT_EXCEEDED without being run (#onRequest, #onUpgrade), and the connection closes. Past
   * refusingConnectionsMax such at once, or when no request comes within refusalMsMax, it is
   * closed without an answer.
   */
  #refuse(socket: Socket, connectionsMax: number): void {
    this.#log('warn', `HTTP listener: refusing a connection, ${connectionsMax} are open (connectionsMax)`);
    if (this.#refusedConnections.admit(socket)) this.#refused.add(socket);
  }

  #refusal(): HttpStatusError {
    const connectionsMax = this.#options.connectionsMax ?? httpListenerDefaults.connectionsMax;
    return new HttpStatusError(503, 'LIMIT_EXCEEDED', connectionLimitMessage(connectionsMax));
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#refused.has(req.socket)) {
      res.setHeader('connection', 'close'); // its body, if any, is not read
      sendError(res, this.#refusal());
      return;
    }
    this.#inFlight++;
    const startedNs = process.hrtime.bigint();
    let api = 'unmatched';
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    const signal = AbortSignal.any([abort.signal, this.#closing.signal]);
    try {
      if (this.#closing.signal.aborted) res.setHeader('connection', 'close');
      const refusal = hostRefusal(req) ?? browserRefusal(req, this.#options.host);
      if (refusal !== null) throw refusal;
      const url = new URL(req.url ?? '/', 'http://weir');
      const match = this.#router.match(req.method ?? 'GET', url.pathname);
      if (match.kind === 'none') throw new HttpStatusError(404, 'INVALID_REQUEST', `no route for ${req.method} ${url.pathname} (see /openapi.json)`);
      if (match.kind === 'method-not-allowed') {
        res.setHeader('allow', match.allowed.join(', '));
        throw new HttpStatusError(405, 'INVALID_REQUEST', `${req.method} is not allowed on ${url.pathname}; use ${match.allowed.join(' or ')}`);
      }
      api = `${req.method} ${match.path}`;
      const query = match.query === 'ignored' ? new URLSearchParams() : parseQuery(url.search, match.query);
      await match.handler({ req, res, params: match.params, query, signal });
    } catch (error) {
      const weirError = asWeirError(error);
      if (statusOf(weirError) >= 500 && weirError.code !== 'SHUTTING_DOWN') this.#log('error', `HTTP ${req.method} ${req.url}: ${weirError.message}`);
      if (!req.complete) res.setHeader('connection', 'close'); // the rest of the body is not read
      if (!res.writableEnded) sendError(res, weirError);
    } finally {
      this.#context.bodies.release(req);
      observeRequest('http', api, Number(process.hrtime.bigint() - startedNs) / 1e9);
      this.#inFlight--;
      if (this.#inFlight === 0) this.#idle?.();
    }
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#refused.has(socket)) {
      endWithError(socket, this.#refusal(), { headers: { 'retry-after': String(retryAfterSeconds) }, bodyless: req.method === 'HEAD' });
      return;
    }
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      this.#serveIgnoringUpgrade(req, socket as Socket, head);
      return;
    }
    try {
      if (this.#closing.signal.aborted) throw new HttpStatusError(503, 'SHUTTING_DOWN', 'the HTTP listener is closing');
      const refusal = hostRefusal(req) ?? browserRefusal(req, this.#options.host);
      if (refusal !== null) throw refusal;
      if (req.method !== 'GET') {
        const notGet = new HttpStatusError(405, 'INVALID_REQUEST', `a WebSocket upgrade is a GET, not ${req.method}`);
        endWithError(socket, notGet, { headers: { allow: 'GET' }, bodyless: req.method === 'HEAD' });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://weir');
      const match = /^\/v1\/topics\/([^/]+)\/ws$/.exec(url.pathname);
      if (match === null) throw new HttpStatusError(404, 'INVALID_REQUEST', `no WebSocket endpoint at ${url.pathname}; use /v1/topics/{topic}/ws`);
      const topic = decodePathParameter('topic', match[1]!);
      const query = parseQuery(url.search, subscribeQuery);
      const target = targetOf(topic, query);
      const source = sourceFor(this.#context, topic, query, { session: true });
      this.#webSockets.handleUpgrade(req, socket, head, (webSocket) => this.#track(new WebSocketSession(this.#context, webSocket, source, target)));
    } catch (error) {
      endWithError(socket, asWeirError(error));
    }
  }

  /**
   * A request asking for another protocol (curl --http2 sends `Upgrade: h2c`) is served as plain
   * HTTP/1.1, as a server that does not take the upgrade may (RFC 9110, 7.8). Node hands such a
   * request over without reading its body, so one with a body is refused (400) rather than half read.
   */
  #serveIgnoringUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      res.detachSocket(socket);
      socket.end();
    });
    const bodyDeclared = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (bodyDeclared || head.length > 0) {
      sendError(res, new HttpStatusError(400, 'INVALID_REQUEST', `Upgrade: ${req.headers.upgrade} is not supported on a request with a body; send it without the Upgrade header`));
      return;
    }
    void this.#onRequest(req, res);
  }

  /** Stops accepting, ends subscriptions, lets in-flight requests answer, closes connections. */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    this.#closing.abort();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of this.#sessions) {
      if (session instanceof WebSocketSession) session.close(1001, 'server shutting down');
      else session.close();
    }
    const timeoutMs = this.#options.closeTimeoutMs ?? httpListenerDefaults.closeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    const idle = this.#inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#idle = resolve));
    const sessionsClosed = Promise.all([...this.#sessions].map((s) => s.closed));
    await Promise.race([Promise.all([idle, sessionsClosed]), timedOut]);
    clearTimeout(timer);
    server.closeIdleConnections();
    server.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    this.#webSockets.close();
    await this.#context.queues.close();
    await stopped;
  }
}

function targetOf(topic: string, query: URLSearchParams): SessionTarget {
  const subscription = query.get('subscription');
  const queue = query.get('type') === 'queue' && subscription !== null && subscription !== '' ? { subscription } : null;
  return { topic, queue };
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'content-length': 0 });
  res.end();
}

/**
 * Answers on a socket no ServerResponse serves (a refused WebSocket upgrade, a request Node could
 * not parse or that timed out) with the usual JSON error body, and closes it.
 */
function endWithError(socket: Writable, error: WeirError, options: { headers?: Record<string, string>; bodyless?: boolean } = {}): void {
  const body = JSON.stringify({ error: errorJson(error) });
  const status = statusOf(error);
  const fields = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...options.headers };
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(fields)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${options.bodyless === true ? '' : body}`); // an answer to HEAD has no body
}

/** An HTTP/1.1 request without Host is refused (RFC 9112, 3.2), as Node would, but with the JSON error body. */
function hostRefusal(req: IncomingMessage): HttpStatusError | null {
  if (req.headers.host !== undefined || req.httpVersion === '1.0') return null;
  return new HttpStatusError(400, 'INVALID_REQUEST', 'an HTTP/1.1 request needs a Host header (RFC 9112, 3.2)');
}

/** What a request Node's parser refused gets: 408 when it did not arrive in time, else 431 or 400. */
export function clientErrorOf(error: Error & { code?: string }): HttpStatusError {
  const { headersTimeoutMs, requestTimeoutMs, headerBytesMax } = httpListenerDefaults;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new HttpStatusError(408, 'TIMEOUT', `the request did not arrive whole in time: its headers must arrive within ${headersTimeoutMs} ms, all of it within ${requestTimeoutMs} ms`);
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') return new HttpStatusError(431, 'INVALID_REQUEST', `the request line and headers exceed the limit of ${headerBytesMax} bytes`);
  return new HttpStatusError(400, 'INVALID_REQUEST', `the request is not valid HTTP/1.1 (${error.code ?? error.message})`);
}
