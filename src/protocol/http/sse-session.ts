/**
 * One Server-Sent Events subscription (GET /v1/topics/{topic}/events). Each message is an
 * `event: message` whose data is the message's JSON. Flow control by TCP backpressure: the server
 * reads at most sseWindowMessages at a time and, while the socket's write buffer is full
 * (`res.write` returned false), reads nothing until it drains. SSE is one-way, so queue
 * deliveries are acknowledged as they are written (at most once). A comment line goes out every
 * sseIdleMs without messages so proxies keep the stream open. A stream without a subscription
 * keeps its place in event ids (LatestSource.positionsText), which a reconnecting client sends
 * back as Last-Event-ID.
 */
import type { ServerResponse } from 'node:http';
import { asWeirError, errorJson, toJson } from './http-errors.js';
import type { HttpContext } from './http-context.js';
import { decodeReceipt } from './message-json.js';
import type { SessionTarget } from './websocket-session.js';
import { LatestSource, type MessageSource } from './stream-read.js';

export const sseWindowMessages = 100;
const sseIdleMs = 15_000;
const sseRetryMs = 3_000;

export class SseSession {
  readonly #context: HttpContext;
  readonly #res: ServerResponse;
  readonly #source: MessageSource;
  readonly #target: SessionTarget;
  readonly #abort = new AbortController();
  readonly closed: Promise<void>;

  constructor(context: HttpContext, res: ServerResponse, source: MessageSource, target: SessionTarget) {
    this.#context = context;
    this.#res = res;
    this.#source = source;
    this.#target = target;
    this.closed = new Promise((resolve) => res.once('close', () => resolve()));
    void this.closed.then(() => this.#stop());
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${sseRetryMs}\n: weir subscription to ${target.topic}\n\n`);
    void this.#pump();
  }

  /** Ends the stream (the server is shutting down). */
  close(): void {
    this.#stop();
    this.#res.end();
  }

  #stop(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    void this.#source.close();
  }

  async #pump(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      while (!signal.aborted) {
        const messages = await this.#source.read(sseWindowMessages, sseIdleMs, signal);
        if (signal.aborted) break;
        if (messages.length === 0) {
          if (!this.#res.write(': idle\n\n')) await this.#drained();
          continue;
        }
        let text = '';
        const source = this.#source;
        if (source instanceof LatestSource) {
          // No subscription keeps this stream's place: the last event of each write carries every
          // partition's next offset as its id, which a reconnecting EventSource sends back.
          for (let i = 0; i < messages.length - 1; i++) text += `event: message\ndata: ${toJson(messages[i])}\n\n`;
          text += `event: message\nid: ${source.positionsText}\ndata: ${toJson(messages[messages.length - 1])}\n\n`;
        } else {
          for (const message of messages) text += `event: message\nid: ${message.partition}-${message.offset}\ndata: ${toJson(message)}\n\n`;
        }
        const flowing = this.#res.write(text);
        const queue = this.#target.queue;
        if (queue !== null) {
          const settlements = messages.map((m) => ({ action: 'ack' as const, receipt: decodeReceipt(m.receipt, 'receipt') }));
          await this.#context.queues.settle(this.#target.topic, queue.subscription, settlements);
        }
        if (!flowing) await this.#drained();
      }
    } catch (error) {
      if (signal.aborted) return;
      this.#res.write(`event: error\ndata: ${toJson({ error: errorJson(asWeirError(error)) })}\n\n`);
      this.close();
    }
  }

  /** Resolves when the socket drains (at once if it did meanwhile) or the stream ends. */
  #drained(): Promise<void> {
    if (!this.#res.writableNeedDrain || this.#res.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#res.off('drain', done);
        this.#res.off('close', done);
        resolve();
      };
      this.#res.once('drain', done);
      this.#res.once('close', done);
    });
  }
}
