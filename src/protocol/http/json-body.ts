/**
 * Reading request bodies into memory under three bounds:
 *  - bytesMax per body, checked against content-length before anything is read, and again while
 *    chunks arrive (chunked bodies): 413.
 *  - heldBytesMax over all bodies at once, as Kafka's queued.max.request.bytes: a body is read
 *    only once its bytes (content-length; bytesMax for a chunked one, until its size is known)
 *    fit in the budget. Until then the request waits and its socket is not read, so TCP holds
 *    the sender back; room comes back when a request's answer is done. Waiting, rather than
 *    refusing at once, keeps bursts of large produces working at a bounded cost; a request still
 *    without room after idleMs is refused (503, retriable).
 *  - idleMs between chunks: a body that stalls is answered 408 and its connection closed, so a
 *    stalled client holds its share of the budget for at most that long.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { ByteBudget } from '../../util/byte-budget.js';
import { WeirError } from '../../util/errors.js';
import { HttpStatusError } from './http-errors.js';

/** Largest request body (and WebSocket frame) accepted. */
export const bodyBytesMaxDefault = 16 * 1024 * 1024;
/** Request body bytes held in memory at once, over all requests. */
export const bodiesHeldBytesMaxDefault = 128 * 1024 * 1024;
/** Longest pause within a body, and longest wait for room in the budget. */
export const bodyIdleMsDefault = 60_000;

export function tooLarge(bytes: number | string, bytesMax: number): WeirError {
  return new WeirError('MESSAGE_TOO_LARGE', `request body of ${bytes} bytes exceeds the limit of ${bytesMax} bytes (16 MiB by default)`);
}

export interface BodyLimits {
  bytesMax: number;
  heldBytesMax: number;
  idleMs: number;
}

/** What reading a body needs of its request: the request, and a signal aborted when it is abandoned. */
export interface BodyRequest {
  req: IncomingMessage;
  signal: AbortSignal;
}

export class RequestBodies {
  readonly bytesMax: number;
  readonly #limits: BodyLimits;
  readonly #budget: ByteBudget;
  /** Bytes each request's body holds in the budget, until release. */
  readonly #held = new WeakMap<IncomingMessage, number>();

  constructor(limits: BodyLimits) {
    assert(limits.bytesMax > 0 && limits.bytesMax <= limits.heldBytesMax, 'one body of bytesMax must fit in heldBytesMax');
    this.bytesMax = limits.bytesMax;
    this.#limits = limits;
    this.#budget = new ByteBudget((held, bytes) => held + bytes <= limits.heldBytesMax);
  }

  /** Bytes of request bodies held (or reserved) now. */
  get heldBytes(): number {
    return this.#budget.held;
  }

  /** The body as JSON (application/json or a +json type); an empty body is refused. */
  async readJson(request: BodyRequest): Promise<unknown> {
    const body = await this.readOptionalJson(request);
    if (body === undefined) throw new WeirError('INVALID_REQUEST', 'the request needs a JSON body');
    return body;
  }

  /** The body as JSON, as readJson reads it, or undefined when there is none (a route whose body is optional). */
  async readOptionalJson(request: BodyRequest): Promise<unknown> {
    const type = request.req.headers['content-type'];
    const declared = request.req.headers['content-length'];
    const bodyless = (declared === undefined || Number(declared) === 0) && request.req.headers['transfer-encoding'] === undefined;
    if (!bodyless && type !== undefined && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(type)) {
      throw new WeirError('INVALID_REQUEST', `content-type ${type} is not supported; send application/json`);
    }
    const body = await this.read(request);
    return body.length === 0 ? undefined : parseJson(body);
  }

  /** The whole body; its bytes count against the budget until `release(req)`. */
  async read({ req, signal }: BodyRequest): Promise<Buffer> {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.bytesMax) throw tooLarge(declared, this.bytesMax);
    const chunked = declared === undefined && req.headers['transfer-encoding'] !== undefined;
    const reserved = chunked ? this.bytesMax : Number(declared ?? 0);
    if (reserved > 0) await this.#reserve(req, reserved, signal);
    const body = await this.#receive(req);
    if (reserved > body.length) this.#shrink(req, reserved - body.length); // a chunked body keeps what it holds
    return body;
  }

  /** Gives back what the request's body held; called once its answer is done. */
  release(req: IncomingMessage): void {
    const bytes = this.#held.get(req);
    if (bytes === undefined) return;
    this.#held.delete(req);
    this.#budget.release(bytes);
  }

  #shrink(req: IncomingMessage, bytes: number): void {
    this.#held.set(req, this.#held.get(req)! - bytes);
    this.#budget.release(bytes);
  }

  /**
   * Waits, reading nothing, until `bytes` fit in the budget; gives up after idleMs or when the
   * request is abandoned. Room granted after that is given back at once (release(req) in the
   * listener gives back room granted in the same turn as the giving up).
   */
  async #reserve(req: IncomingMessage, bytes: number, signal: AbortSignal): Promise<void> {
    let abandoned = false;
    const granted = this.#budget.take(bytes).then(() => {
      if (abandoned) this.#budget.release(bytes);
      else this.#held.set(req, bytes);
      return true;
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#limits.idleMs);
      onAbort = () => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const got = await Promise.race([granted, gaveUp]);
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort!);
    if (got) return;
    abandoned = true;
    if (signal.aborted) throw new WeirError('CONNECTION_CLOSED', 'the request was abandoned while its body waited for room');
    throw new HttpStatusError(
      503,
      'LIMIT_EXCEEDED',
      `request bodies held in memory reached their limit of ${this.#limits.heldBytesMax} bytes and none finished within ${this.#limits.idleMs} ms; retry later`,
    );
  }

  /** Reads the body; nothing arriving for idleMs is a 408 (the connection closes after the answer). */
  #receive(req: IncomingMessage): Promise<Buffer> {
    const { bytesMax, idleMs } = this.#limits;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const finish = (error: Error | null): void => {
        clearTimeout(timer);
        req.off('data', onData).off('end', onEnd).off('error', finish).off('close', onClose);
        if (error === null) {
          resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
          return;
        }
        req.pause(); // the rest is not read: the answer closes the connection
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        timer.refresh();
        bytes += chunk.length;
        if (bytes > bytesMax) finish(tooLarge(`more than ${bytesMax}`, bytesMax));
        else chunks.push(chunk);
      };
      const onEnd = (): void => finish(null);
      const onClose = (): void => finish(new WeirError('CONNECTION_CLOSED', 'the client closed the connection before the body was complete'));
      const timer = setTimeout(() => finish(new HttpStatusError(408, 'TIMEOUT', `the request body stalled: nothing arrived for ${idleMs} ms`)), idleMs);
      req.on('data', onData).once('end', onEnd).once('error', finish).once('close', onClose);
    });
  }
}

/** Parses JSON text; bytes that are not UTF-8, or a syntax error, are an INVALID_REQUEST that says so. */
export function parseJson(text: Buffer | string): unknown {
  // Not decoded with replacement characters: a value would be stored other than it was sent.
  if (typeof text !== 'string' && !isUtf8(text)) throw new WeirError('INVALID_REQUEST', 'the body is not valid UTF-8 (JSON text is UTF-8; send binary values as base64)');
  try {
    return JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (error) {
    throw new WeirError('INVALID_REQUEST', `the body is not valid JSON: ${(error as Error).message}`);
  }
}
