/**
 * The web console's static files (built into dist/console/ by the console's own build), served
 * under /console/. Paths are resolved inside the console directory and anything that would leave
 * it (`..`, encoded slashes, NUL) is refused; a directory serves its index.html.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendJson } from './http-errors.js';

/** dist/console/, next to this module's compiled folder (dist/protocol/http/). */
export const consoleDirDefault = fileURLToPath(new URL('../../console/', import.meta.url));

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export function contentTypeOf(path: string): string {
  return contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

function notFound(res: ServerResponse, path: string): void {
  sendJson(res, 404, { error: { code: 'INVALID_REQUEST', message: `no console file at /console/${path}`, retriable: false } });
}

/** Serves `relative` (the undecoded rest of the path after /console/) from `root`. */
export async function serveStatic(res: ServerResponse, root: string, relative: string, head: boolean): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return notFound(res, relative);
  }
  const parts = decoded.split('/');
  if (decoded.includes('\0') || decoded.includes('\\') || parts.some((p) => p === '..' || p === '.')) return notFound(res, relative);
  const base = resolve(root);
  let path = resolve(base, ...parts.filter((p) => p !== ''));
  if (path !== base && !path.startsWith(base + sep)) return notFound(res, relative);
  let info = await stat(path).catch(() => null);
  if (info?.isDirectory()) {
    path = join(path, 'index.html');
    info = await stat(path).catch(() => null);
  }
  if (info === null || !info.isFile()) return notFound(res, relative);
  res.writeHead(200, {
    'content-type': contentTypeOf(path),
    'content-length': info.size,
    'cache-control': path.endsWith('index.html') ? 'no-cache' : 'public, max-age=300',
    'x-content-type-options': 'nosniff',
  });
  if (head) {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
