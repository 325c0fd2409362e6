import { canonicalAliasHost } from './alias-hosts.ts';
import type { AliasIndex, Route, RouteTable } from './types.ts';

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
export function matchRoute(
  table: RouteTable,
  host: string,
  url: string,
  clientIp?: string,
): Route | undefined {
  let paths = table.hosts.get(host);
  if (paths === undefined && table.aliases !== undefined) {
    const alias = aliasHost(table.aliases, host, clientIp);
    if (alias !== undefined) paths = table.hosts.get(alias);
  }
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

/**
 * The `svc.ns` route host another form of a Service alias names: `svc.ns.svc[.<domain>]`
 * always; a bare `svc` (resolved through the caller's DNS search path, so it means the
 * caller's namespace) when the caller's Pod IP gives a namespace with that alias, or when
 * the caller is unknown and only one namespace has it. Otherwise nothing: never a guess.
 */
export function aliasHost(
  aliases: AliasIndex,
  host: string,
  clientIp: string | undefined,
): string | undefined {
  if (host.includes('.')) return canonicalAliasHost(host, aliases.clusterDomain);
  const namespaces = aliases.namespacesByService.get(host);
  if (namespaces === undefined) return undefined;
  const ip = clientIp?.startsWith('::ffff:') ? clientIp.slice(7) : clientIp;
  const caller = ip === undefined ? undefined : aliases.namespaceByPodIp.get(ip);
  if (caller !== undefined) return namespaces.includes(caller) ? `${host}.${caller}` : undefined;
  return namespaces.length === 1 ? `${host}.${namespaces[0]}` : undefined;
}
