import { isIPv4, isIPv6 } from 'node:net';

/**
 * Parsing of the routing annotations (k8s-router compatible):
 * - hosts: space-delimited hostnames or IPs, e.g. `api.example.com 10.0.0.1`
 * - paths: space-delimited `PORT:PATH` pairs, e.g. `3000:/nodejs 8080:/java`
 *
 * Every entry is judged on its own: a bad entry is rejected with a reason and the others
 * keep routing. Parsing never throws.
 */

export interface Rejection {
  readonly annotation: string;
  readonly entry: string;
  readonly reason: string;
}

export interface PathSpec {
  readonly port: number;
  /** Normalized: starts with `/`, no trailing `/` except for the root. */
  readonly path: string;
}

export interface ParsedHosts {
  readonly hosts: readonly string[];
  readonly rejections: readonly Rejection[];
}

export interface ParsedPaths {
  readonly paths: readonly PathSpec[];
  readonly rejections: readonly Rejection[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_HOST_LENGTH = 253;
const MAX_PATH_LENGTH = 1024;
/** RFC 3986 `pchar` without `%` (checked separately) plus `/`. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const PERCENT_ENCODING = /%(?![0-9A-Fa-f]{2})/;

const entries = (value: string | undefined): string[] =>
  (value ?? '').split(/\s+/).filter((entry) => entry !== '');

/** Lower-cases and validates one host; returns the normalized host or a reason. */
export function normalizeHostEntry(entry: string): { host: string } | { reason: string } {
  // Checked before lower-casing: some non-ASCII letters lower-case to ASCII (U+212A → "k").
  if (/[^\x21-\x7e]/.test(entry)) {
    return { reason: 'a host must be ASCII; write internationalized names in punycode (xn--…)' };
  }
  let host = entry.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    return isIPv6(host) ? { host } : { reason: 'only IPv6 addresses go in brackets' };
  }
  if (isIPv6(host)) return { host };
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.includes('*')) return { reason: 'wildcard hosts are not supported' };
  if (host.includes(':')) return { reason: 'a host must not carry a port' };
  if (host.includes('/'))
    return { reason: 'a host must not contain "/"; paths go in the paths annotation' };
  if (/^[0-9.]+$/.test(host)) {
    return isIPv4(host) ? { host } : { reason: 'not a valid IPv4 address' };
  }
  if (host.length === 0 || host.length > MAX_HOST_LENGTH) {
    return { reason: `a hostname must have 1 to ${MAX_HOST_LENGTH} characters` };
  }
  for (const label of host.split('.')) {
    if (!DNS_LABEL.test(label)) {
      return {
        reason: `"${label}" is not a valid DNS label (a-z, 0-9 and "-", at most 63 characters)`,
      };
    }
  }
  return { host };
}

export function parseHosts(annotation: string, value: string | undefined): ParsedHosts {
  const hosts: string[] = [];
  const rejections: Rejection[] = [];
  for (const entry of entries(value)) {
    const result = normalizeHostEntry(entry);
    if ('reason' in result) rejections.push({ annotation, entry, reason: result.reason });
    else if (hosts.includes(result.host))
      rejections.push({ annotation, entry, reason: 'duplicate host' });
    else hosts.push(result.host);
  }
  return { hosts, rejections };
}

/** Validates and normalizes a route path; returns the path or a reason. */
export function normalizePathEntry(raw: string): { path: string } | { reason: string } {
  if (!raw.startsWith('/')) return { reason: 'the path must start with "/"' };
  if (raw.length > MAX_PATH_LENGTH)
    return { reason: `the path is longer than ${MAX_PATH_LENGTH} characters` };
  if (!PATH_CHARS.test(raw)) {
    return {
      reason:
        'the path contains a character that is not allowed in a URL path (query, fragment, space, non-ASCII…)',
    };
  }
  if (PERCENT_ENCODING.test(raw))
    return { reason: 'the path has a "%" that is not followed by two hex digits' };
  // Before the trailing "/" is dropped, or "//" would pass as "/".
  if (raw.includes('//')) return { reason: 'the path has an empty segment ("//")' };
  const path = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
  if (path !== '/') {
    for (const segment of path.slice(1).split('/')) {
      // `%2e` is `.` (RFC 3986 §2.3): an encoded dot segment is still a dot segment.
      const decoded = segment.replace(/%2e/gi, '.');
      if (decoded === '.' || decoded === '..')
        return { reason: 'the path has a "." or ".." segment' };
    }
  }
  return { path };
}

export function parsePaths(
  annotation: string,
  value: string | undefined,
  declaredPorts: readonly number[],
): ParsedPaths {
  const paths: PathSpec[] = [];
  const rejections: Rejection[] = [];
  for (const entry of entries(value)) {
    const reject = (reason: string) => rejections.push({ annotation, entry, reason });
    const colon = entry.indexOf(':');
    if (colon === -1) {
      reject('expected PORT:PATH, e.g. 8080:/api');
      continue;
    }
    const portText = entry.slice(0, colon);
    if (!/^[0-9]{1,5}$/.test(portText)) {
      reject(`"${portText}" is not a port number`);
      continue;
    }
    const port = Number(portText);
    if (port < 1 || port > 65535) {
      reject(`port ${port} is outside 1-65535`);
      continue;
    }
    if (!declaredPorts.includes(port)) {
      reject(
        declaredPorts.length === 0
          ? `port ${port} is not declared: the Pod declares no containerPort`
          : `port ${port} is not one of the Pod's container ports (${declaredPorts.join(', ')})`,
      );
      continue;
    }
    const result = normalizePathEntry(entry.slice(colon + 1));
    if ('reason' in result) {
      reject(result.reason);
      continue;
    }
    const existing = paths.find((spec) => spec.path === result.path);
    if (existing) {
      reject(`duplicate path ${result.path} (already routed to port ${existing.port})`);
      continue;
    }
    paths.push({ port, path: result.path });
  }
  return { paths, rejections };
}
