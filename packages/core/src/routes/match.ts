import type { Route, RouteTable } from './types.ts';

/**
 * The host part of a Host header, lower-cased, without port, trailing dot or IPv6
 * brackets. Returns '' when there is nothing usable.
 */
export function hostOf(header: string | undefined): string {
  if (!header) return '';
  let host = header;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    host = end === -1 ? '' : host.slice(1, end);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
    if (host.endsWith('.')) host = host.slice(0, -1);
  }
  return host.toLowerCase();
}

/**
 * The route for a request: exact host, then the longest path prefix that ends on a segment
 * boundary (`/api` serves `/api`, `/api/` and `/api/x`, never `/apix`). Costs one map lookup
 * per path segment, whatever the number of hosts and routes.
 */
export function matchRoute(table: RouteTable, host: string, url: string): Route | undefined {
  const paths = table.hosts.get(host);
  if (paths === undefined) return undefined;
  let end = url.length;
  const query = url.indexOf('?');
  if (query !== -1) end = query;
  const hash = url.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  let path = end === url.length ? url : url.slice(0, end);
  if (path.charCodeAt(0) !== 47 /* / */) return undefined;
  for (;;) {
    const route = paths.get(path);
    if (route !== undefined) return route;
    if (path.length <= 1) return undefined;
    const slash = path.lastIndexOf('/');
    path = slash <= 0 ? '/' : path.slice(0, slash);
  }
}
