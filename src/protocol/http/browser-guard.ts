/**
 * What keeps web pages from using a broker they can reach through the browser of someone who can
 * reach it. The HTTP API has no CORS, so another site cannot read its answers, but without these
 * checks it could still send it requests with effects: a form post replaying dead letters, an
 * image whose URL reads a consumer group's messages (and commits them), a WebSocket (browsers let
 * any page open one and read it), or a page on a rebound DNS name that is same-origin with the
 * broker. So a request is refused (403) when:
 *  - the browser says it comes from another site (`Sec-Fetch-Site: cross-site`), or
 *  - it has an Origin that is not the broker's own (its Host, or the X-Forwarded-Host a proxy
 *    in front of it sets), or
 *  - the listener is on a loopback address and Host names neither an IP address nor localhost.
 * Clients that are not browsers send none of these headers and are not affected.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { HttpStatusError } from './http-errors.js';

/** The refusal for a request a browser sent on another site's behalf; null when it may go on. */
export function browserRefusal(req: IncomingMessage, listenerHost: string): HttpStatusError | null {
  const host = req.headers.host;
  if (isLoopback(listenerHost) && host !== undefined && !isLocalHostHeader(host)) {
    return new HttpStatusError(403, 'INVALID_REQUEST', `Host ${host} is not this broker's: on a loopback address it answers to localhost or an IP address`);
  }
  if (req.headers['sec-fetch-site'] === 'cross-site') {
    return new HttpStatusError(403, 'INVALID_REQUEST', 'requests from pages of other sites are refused');
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = [host, header(req, 'x-forwarded-host')].filter((h): h is string => h !== undefined).map((h) => h.toLowerCase());
    if (!own.includes(originHost(origin))) {
      return new HttpStatusError(403, 'INVALID_REQUEST', `requests from pages of another origin (${origin}) are refused`);
    }
  }
  return null;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** host[:port] of an Origin header, lower case; '' for "null" or a malformed one. */
function originHost(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return '';
  }
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || address.startsWith('127.');
}

function isLocalHostHeader(host: string): boolean {
  const name = hostName(host).toLowerCase();
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost');
}

/** The name in a Host header, without the port and IPv6 brackets. */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') > 0 ? host.indexOf(']') : undefined);
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}
