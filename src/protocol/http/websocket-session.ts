/**
 * One WebSocket subscription (GET /v1/topics/{topic}/ws). Flow control by credits: the client
 * grants credits with `{"type":"credit","credits":N}` and the server sends at most that many
 * messages (it starts with none). Outstanding credits are capped at wsCreditsMax (more are
 * ignored); a frame is sent only once the previous one left the process, so one session holds at
 * most one frame of output. Client frames (at most wsFrameBytesMax each) run one at a time in
 * arrival order, and a frame is done only once its answer has left the process; past
 * wsPendingFramesMax queued frames the server stops reading the socket until they are done. So a
 * client that sends frames and never reads the answers holds at most one answer and
 * wsPendingFramesMax frames of broker memory.
 *
 * Client → server: credit; ack | nack | reject | extend | release (queues; as the HTTP bodies);
 * produce (as the HTTP body). A frame may carry an `id`, echoed in the answer:
 *   {"type":"produced","id","results":[...]}  {"type":"settled","id","results":[...]}
 *   {"type":"error","id","error":{"code","message","retriable"}}
 * A failure of the subscription itself ends the session with close code 4000 + HTTP status.
 */
import type { WebSocket, RawData } from 'ws';
import { WeirError } from '../../util/errors.js';
import { asWeirError, errorJson, statusOf, toJson } from './http-errors.js';
import type { HttpContext } from './http-context.js';
import { parseJson } from './json-body.js';
import { parseProduceBody } from './produce.js';
import { parseSettlements, settleActions, settleJson, type SettleAction } from './routes-messages.js';
import { integerIn, objectWith, oneOf } from './schema.js';
import type { MessageSource } from './stream-read.js';

export const wsCreditsMax = 10_000;
/** Messages in one `messages` frame. */
export const wsFrameMessagesMax = 500;
/** Client frames waiting to be handled before reading pauses (with wsFrameBytesMax: ≤ 16 MiB held). */
export const wsPendingFramesMax = 16;
/** Largest client frame; a larger one closes the session with 1009. */
export const wsFrameBytesMax = 1024 * 1024;
/** Each read of the source waits this long for data, then the loop checks its state and reads again. */
const wsReadWaitMs = 10_000;

export interface SessionTarget {
  topic: string;
  /** Set for queue subscriptions: where acknowledgements go. */
  queue: { subscription: string } | null;
}

export class WebSocketSession {
  readonly #context: HttpContext;
  readonly #socket: WebSocket;
  readonly #source: MessageSource;
  readonly #target: SessionTarget;
  readonly #abort = new AbortController();
  #credits = 0;
  #wakeUp: (() => void) | null = null;
  #pendingFrames = 0;
  #frameTail: Promise<void> = Promise.resolve();
  readonly closed: Promise<void>;

  constructor(context: HttpContext, socket: WebSocket, source: MessageSource, target: SessionTarget) {
    this.#context = context;
    this.#socket = socket;
    this.#source = source;
    this.#target = target;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    socket.on('error', () => socket.terminate());
    void this.closed.then(() => this.#stop());
    // Without credits the pump does not read, so a subscription deleted meanwhile is learnt here.
    source.open?.((error) => this.#fail(error));
    void this.#pump();
  }

  /** Ends the session (1001 when the server shuts down). */
  close(code: number, reason: string): void {
    this.#stop();
    if (this.#socket.readyState === this.#socket.OPEN || this.#socket.readyState === this.#socket.CONNECTING) this.#socket.close(code, reason);
  }

  #stop(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    this.#wakeUp?.();
    void this.#source.close();
  }

  async #pump(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      while (!signal.aborted) {
        if (this.#credits === 0) {
          await new Promise<void>((resolve) => (this.#wakeUp = resolve));
          this.#wakeUp = null;
          continue;
        }
        const max = Math.min(this.#credits, wsFrameMessagesMax);
        const messages = await this.#source.read(max, wsReadWaitMs, signal);
        if (signal.aborted || messages.length === 0) continue;
        this.#credits -= messages.length;
        await this.#send({ type: 'messages', messages });
      }
    } catch (error) {
      this.#fail(asWeirError(error));
    }
  }

  /** The subscription failed (deleted, say): an `error` frame, then close code 4000 + the HTTP status. */
  #fail(error: WeirError): void {
    if (this.#abort.signal.aborted) return;
    this.#sendQuietly({ type: 'error', error: errorJson(error) });
    this.close(4000 + statusOf(error), error.code);
  }

  #send(frame: unknown): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.send(toJson(frame), (error) => (error ? reject(error) : resolve())));
  }

  #sendQuietly(frame: unknown): void {
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(toJson(frame), () => {});
  }

  /** Sends the answer to a client frame; resolves once it has left the process, or could not. */
  #answer(frame: unknown): Promise<void> {
    if (this.#socket.readyState !== this.#socket.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.#socket.send(toJson(frame), () => resolve()));
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    this.#pendingFrames++;
    if (this.#pendingFrames >= wsPendingFramesMax) this.#socket.pause();
    this.#frameTail = this.#frameTail.then(async () => {
      let id: unknown;
      try {
        if (isBinary) throw new WeirError('INVALID_REQUEST', 'frames are JSON text, not binary');
        const frame = objectWith(parseJson(data.toString()), 'frame', ['type', 'id', 'credits', 'receipts', 'delayMs', 'reason', 'extendMs', 'messages', 'encoding']);
        id = frame.id;
        await this.#handle(frame);
      } catch (error) {
        await this.#answer({ type: 'error', ...(id === undefined ? {} : { id }), error: errorJson(asWeirError(error)) });
      } finally {
        this.#pendingFrames--;
        if (this.#pendingFrames === wsPendingFramesMax - 1) this.#socket.resume();
      }
    });
  }

  async #handle(frame: Record<string, unknown>): Promise<void> {
    const type = oneOf(frame.type, 'frame.type', ['credit', ...settleActions, 'produce'] as const);
    const { type: _type, id, ...body } = frame;
    const echo = id === undefined ? {} : { id };
    if (type === 'credit') {
      const credits = integerIn(frame.credits, 'credits', 1, Number.MAX_SAFE_INTEGER);
      this.#credits = Math.min(this.#credits + credits, wsCreditsMax);
      this.#wakeUp?.();
      return;
    }
    if (type === 'produce') {
      const outcome = await this.#context.producer.produce(this.#target.topic, parseProduceBody(body));
      if (outcome.error !== null) await this.#answer({ type: 'error', ...echo, error: errorJson(outcome.error), results: outcome.results });
      else await this.#answer({ type: 'produced', ...echo, results: outcome.results });
      return;
    }
    const queue = this.#target.queue;
    if (queue === null) throw new WeirError('INVALID_REQUEST', `${type} applies to queue subscriptions (type=queue); this is a stream subscription`);
    const settlements = parseSettlements(type as SettleAction, body);
    const results = await settleJson(this.#context, this.#target.topic, queue.subscription, settlements);
    await this.#answer({ type: 'settled', ...echo, results });
  }
}
