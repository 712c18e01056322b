/**
 * Reading a request body as JSON under a size bound. The bound is checked against
 * content-length before anything is read, and again while chunks arrive (chunked bodies).
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { WeirError } from '../../util/errors.js';

/** Largest request body (and WebSocket frame) accepted. */
export const bodyBytesMaxDefault = 16 * 1024 * 1024;

export function tooLarge(bytes: number | string, bytesMax: number): WeirError {
  return new WeirError('MESSAGE_TOO_LARGE', `request body of ${bytes} bytes exceeds the limit of ${bytesMax} bytes (16 MiB by default)`);
}

export async function readBody(req: IncomingMessage, bytesMax: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > bytesMax) throw tooLarge(declared, bytesMax);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > bytesMax) throw tooLarge(`more than ${bytesMax}`, bytesMax);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
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

export async function readJsonBody(req: IncomingMessage, bytesMax: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(type)) {
    throw new WeirError('INVALID_REQUEST', `content-type ${type} is not supported; send application/json`);
  }
  const body = await readBody(req, bytesMax);
  if (body.length === 0) throw new WeirError('INVALID_REQUEST', 'the request needs a JSON body');
  return parseJson(body);
}
