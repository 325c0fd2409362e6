import type { IncomingMessage } from 'node:http';
import type { MethodPolicy } from '../config/settings.ts';
import { hostOf } from '../routes/match.ts';
import { normalizePath, type PathOptions } from '../routes/normalize-path.ts';
import { type Problem, Problems } from './problem.ts';

/**
 * What a request must be before it is matched: one valid Host (RFC 9112 §3.2), a target in
 * origin or absolute form (§3.2.1–2), an allowed method, and a normal path. The request is
 * rewritten in place (`req.url`, Host) so that matching, policy and the Pod all see the
 * same normalised target.
 */

export interface InboundOptions extends PathOptions {
  readonly methods: MethodPolicy;
}

/** The request's routing keys once it passed. */
export interface Inbound {
  readonly host: string;
  readonly path: string;
}

/** RFC 3986 host (reg-name or IP-literal) with an optional port; no userinfo, no path. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;

const allowed = (policy: MethodPolicy, method: string) =>
  policy.listed.has(method) || (policy.any && method !== 'TRACE' && method !== 'CONNECT');

function methodNotAllowed(options: InboundOptions): Problem {
  const allow = options.methods.any ? undefined : [...options.methods.listed].join(', ');
  return {
    status: 405,
    title: 'Method not allowed',
    detail: 'This router does not serve that method.',
    ...(allow ? { headers: { allow } } : {}),
  };
}

/** Replaces every Host line with `value` (absolute-form requests). */
function setHost(req: IncomingMessage, value: string): void {
  req.headers.host = value;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'host') raw[i + 1] = value;
  }
}

export function inspectInbound(req: IncomingMessage, options: InboundOptions): Inbound | Problem {
  const method = req.method ?? 'GET';
  if (!allowed(options.methods, method)) return methodNotAllowed(options);

  // Exactly one Host line, even when an absolute-form target will replace its value.
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1 || (hosts === 0 && req.httpVersion !== '1.0')) return Problems.noHost;

  let target = req.url ?? '/';
  if (target.charCodeAt(0) !== 47 /* / */) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return Problems.badTarget;
    }
    if (
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.host === '' ||
      url.username !== '' ||
      url.password !== ''
    )
      return Problems.badTarget;
    // §3.2.2: the target's authority wins over any Host line.
    setHost(req, url.host);
    target = `${url.pathname}${url.search}`;
  } else if (hosts === 1 && !HOST_VALUE.test(req.headers.host ?? '')) {
    return Problems.badHost;
  }

  const query = target.indexOf('?');
  const rawPath = query === -1 ? target : target.slice(0, query);
  const normal = normalizePath(rawPath, options);
  if (!normal.ok) {
    if (normal.reason === 'above-root') return Problems.aboveRoot;
    if (normal.reason === 'escaped-slash') return Problems.escapedSlash;
    return Problems.badPath;
  }
  if (normal.path !== rawPath)
    target = query === -1 ? normal.path : normal.path + target.slice(query);
  req.url = target;
  return { host: hostOf(req.headers.host), path: normal.path };
}

export const isProblem = (value: Inbound | Problem): value is Problem => 'status' in value;
