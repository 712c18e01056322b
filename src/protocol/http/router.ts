/**
 * Method and path matching for the route table (docs/http-api.md). Patterns name parameters in
 * braces, `/v1/topics/{topic}`; a parameter matches one percent-decoded path segment, except a
 * last `{name*}`, which matches the rest of the path (possibly empty), undecoded. HEAD runs a
 * route's GET (Node leaves the body out) unless the route says its GET is not safe to run so.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WeirError } from '../../util/errors.js';

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the client goes away or the listener closes. */
  signal: AbortSignal;
}

export type RouteHandler = (request: RouteRequest) => Promise<void> | void;

export interface Route {
  method: string;
  /** The pattern as written, e.g. `/v1/topics/{topic}`. */
  path: string;
  summary: string;
}

export interface RouteOptions {
  /**
   * False for a GET that consumes, commits, leases or streams: HEAD is a safe method (RFC 9110,
   * 9.3.2), so it is refused (405, `allow: GET`) rather than run as a GET without a body.
   */
  head?: boolean;
}

interface CompiledRoute extends Route {
  segments: string[];
  handler: RouteHandler;
  head: boolean;
}

export type RouteMatch =
  | { kind: 'route'; path: string; handler: RouteHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'none' };

export class Router {
  readonly #routes: CompiledRoute[] = [];

  add(method: string, path: string, summary: string, handler: RouteHandler, options: RouteOptions = {}): void {
    this.#routes.push({ method, path, summary, segments: path.split('/').slice(1), handler, head: options.head ?? true });
  }

  /** Every route, for the OpenAPI description and its test. */
  routes(): Route[] {
    return this.#routes.map(({ method, path, summary }) => ({ method, path, summary }));
  }

  match(method: string, pathname: string): RouteMatch {
    const segments = pathname.split('/').slice(1);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === null) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET' && route.head)) return { kind: 'route', path: route.path, handler: route.handler, params };
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
      params[want.slice(1, -1)] = decodeSegment(got);
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new WeirError('INVALID_REQUEST', `path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}
