/**
 * The web console's static files (built into dist/console/ by the console's own build), served
 * under /console/. Paths are resolved inside the console directory and anything that would leave
 * it (`..`, encoded slashes, NUL) is refused; a directory serves its index.html. A console
 * directory without index.html (built by `tsc -p .` alone, not `npm run build`) answers every
 * console path with 503 and how to build it, checked per request so a build later needs no restart.
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

/** Said for every console path while the console is not built; a person reads it, in a browser or curl. */
export const consoleNotBuiltText =
  "Weir's web console is not built: the broker has no console files (dist/console/index.html).\n" +
  'Build it with `npm run build` in the Weir checkout (`npx tsc -p .` alone builds the broker without the console), then reload this page.\n';

/** 503, not 404: the path is right, the broker cannot serve it until the console is built. No retry-after: waiting does not help. */
function consoleNotBuilt(res: ServerResponse, head: boolean): void {
  res.writeHead(503, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(consoleNotBuiltText),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(head ? undefined : consoleNotBuiltText);
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
  const index = await stat(join(base, 'index.html')).catch(() => null);
  if (index === null || !index.isFile()) return consoleNotBuilt(res, head);
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
