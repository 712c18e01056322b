/**
 * Method and path matching for the route table (docs/http-api.md). Patterns name parameters in
 * braces, `/v1/topics/{topic}`; a parameter matches one percent-decoded path segment, except a
 * last `{name*}`, which matches the rest of the path (possibly empty), undecoded. A segment that
 * is not percent-encoded UTF-8 is refused naming its parameter. HEAD runs a route's GET (Node
 * leaves the body out) unless the route says its GET is not safe to run so. Each route names the
 * query parameters it reads (query-string.ts refuses any other).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeComponent } from './query-string.js';
import { invalid } from './schema.js';

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the client goes away or the listener closes. */
  signal: AbortSignal;
}

export type RouteHandler = (request: RouteRequest) => Promise<void> | void;

/**
 * The query parameters a route reads; any other is refused (400). `ignored`: a web page, which
 * reads no query and leaves alone whatever a browser or a link put there.
 */
export type RouteQuery = readonly string[] | 'ignored';

export interface Route {
  method: string;
  /** The pattern as written, e.g. `/v1/topics/{topic}`. */
  path: string;
  summary: string;
  query: RouteQuery;
}

export interface RouteOptions {
  /**
   * False for a GET that consumes, commits, leases or streams: HEAD is a safe method (RFC 9110,
   * 9.3.2), so it is refused (405, `allow: GET`) rather than run as a GET without a body.
   */
  head?: boolean;
  /** Default: none. */
  query?: RouteQuery;
}

interface CompiledRoute extends Route {
  segments: string[];
  handler: RouteHandler;
  head: boolean;
}

export type RouteMatch =
  | { kind: 'route'; path: string; handler: RouteHandler; params: Record<string, string>; query: RouteQuery }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'none' };

export class Router {
  readonly #routes: CompiledRoute[] = [];

  add(method: string, path: string, summary: string, handler: RouteHandler, options: RouteOptions = {}): void {
    this.#routes.push({ method, path, summary, segments: path.split('/').slice(1), handler, head: options.head ?? true, query: options.query ?? [] });
  }

  /** Every route, for the OpenAPI description and its test. */
  routes(): Route[] {
    return this.#routes.map(({ method, path, summary, query }) => ({ method, path, summary, query }));
  }

  match(method: string, pathname: string): RouteMatch {
    const segments = pathname.split('/').slice(1);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === null) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET' && route.head)) return { kind: 'route', path: route.path, handler: route.handler, params, query: route.query };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'none' };
  }
}

function matchSegments(pattern: string[], segments: string[]): Record<string, string> | null {
  const rest = pattern.at(-1)!.endsWith('*}');
  if (rest ? segments.length < pattern.length : pattern.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    if (rest && i === pattern.length - 1) {
      params[want.slice(1, -2)] = segments.slice(i).join('/');
      break;
    }
    const got = segments[i]!;
    if (want.startsWith('{')) {
      if (got === '') return null;
      const name = want.slice(1, -1);
      params[name] = decodePathParameter(name, got);
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

/** One path segment, percent-decoded; a malformed escape or bytes that are not UTF-8 are refused naming the parameter. */
export function decodePathParameter(name: string, segment: string): string {
  const decoded = decodeComponent(segment);
  if (decoded === null) invalid(`path parameter ${name}`, 'percent-encoded UTF-8 text', segment);
  return decoded;
}
