/**
 * How failures become HTTP answers: a status code from the error's catalog code, and the body
 * `{"error":{"code","message","retriable"}}`. docs/http-api.md lists the mapping.
 */
import type { ServerResponse } from 'node:http';
import { WeirError, isWeirError, type ErrorCode } from '../../util/errors.js';

/** A WeirError that carries its own HTTP status (no route, wrong method, a conflict). */
export class HttpStatusError extends WeirError {
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** Seconds a client is told to wait after QUEUE_FULL or LIMIT_EXCEEDED. */
export const retryAfterSeconds = 1;

export function statusOf(error: WeirError): number {
  if (error instanceof HttpStatusError) return error.status;
  const code = error.code;
  if (code === 'CORRUPT_MESSAGE' || code === 'OFFSET_METADATA_TOO_LARGE' || code.startsWith('INVALID_')) return 400;
  if (code.startsWith('UNKNOWN_') && code !== 'UNKNOWN') return 404;
  if (code === 'TOPIC_EXISTS' || code === 'GROUP_NOT_EMPTY') return 409;
  if (code === 'MESSAGE_TOO_LARGE') return 413;
  if (code === 'QUEUE_FULL' || code === 'LIMIT_EXCEEDED') return 429;
  if (code === 'SHUTTING_DOWN') return 503;
  if (code === 'DISK_FREE_LOW') return 507;
  return 500;
}

export interface ErrorJson {
  code: ErrorCode;
  message: string;
  retriable: boolean;
}

/** Any thrown value as a WeirError (an unexpected one becomes UNKNOWN, a 500). */
export function asWeirError(error: unknown): WeirError {
  if (isWeirError(error)) return error;
  return new WeirError('UNKNOWN', `internal error: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

export function errorJson(error: WeirError): ErrorJson {
  return { code: error.code, message: error.message, retriable: error.retriable };
}

/** Answers with the error; a retriable overload gets `retry-after`. */
export function sendError(res: ServerResponse, error: unknown, extra: Record<string, unknown> = {}): void {
  const weirError = asWeirError(error);
  const status = statusOf(weirError);
  const headers: Record<string, string> = {};
  if (status === 429 || status === 503 || status === 507) headers['retry-after'] = String(retryAfterSeconds);
  sendJson(res, status, { error: errorJson(weirError), ...extra }, headers);
}

/** Offsets and other bigints become JSON numbers. */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

export function toJson(body: unknown): string {
  return JSON.stringify(body, replacer);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = toJson(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}
