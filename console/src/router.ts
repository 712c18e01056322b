/**
 * Hash routing: `#/page?name=value`. The hash keeps a page's choices (topic, partition, offset)
 * so a view can be bookmarked and survives a reload.
 */
import { useEffect, useState } from 'preact/hooks';

export const pages = ['overview', 'topics', 'messages', 'groups', 'dead-letters'] as const;
export type PageName = (typeof pages)[number];

export interface Route {
  page: PageName;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, '');
  const queryIndex = text.indexOf('?');
  const path = queryIndex < 0 ? text : text.slice(0, queryIndex);
  const params = new URLSearchParams(queryIndex < 0 ? '' : text.slice(queryIndex + 1));
  const page = (pages as readonly string[]).includes(path) ? (path as PageName) : 'overview';
  return { page, params };
}

export function routeHref(page: PageName, params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') query.set(name, String(value));
  const text = query.toString();
  return `#/${page}${text ? `?${text}` : ''}`;
}

/** Changes the hash; with `replace` the browser's history gets no new entry. */
export function navigate(page: PageName, params: Record<string, string | number | undefined> = {}, replace = false): void {
  const href = routeHref(page, params);
  if (replace) {
    history.replaceState(null, '', href);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = href;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
