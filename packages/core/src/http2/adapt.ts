import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * Makes an HTTP/2 exchange (Node's compatibility objects) look like the HTTP/1.1 one the
 * proxy handler takes, so both protocols go through the same match → policy → proxy → record
 * path. What it bridges, and why (this is the list the handler would need to handle itself
 * to take HTTP/2 natively):
 *
 * - No `Host` header: HTTP/2 carries the authority in `:authority` (RFC 9113 §8.3.1). It
 *   becomes `host` (a `host` header sent alongside is replaced by it).
 * - Pseudo-headers (`:method`, `:path`, …) are not headers: they leave `headers` and
 *   `rawHeaders`, so they are never forwarded.
 * - `cookie` may arrive split in several fields (RFC 9113 §8.2.3); HTTP/1.1 wants one, joined
 *   with "; ".
 * - A body without `content-length` is normal in HTTP/2 (the stream ends it). The handler
 *   decides "has a body" from `transfer-encoding`/`content-length`, so an open request
 *   stream is marked `transfer-encoding: chunked` in `headers` (not in `rawHeaders`, and it
 *   is hop-by-hop anyway): the body is streamed upstream, and limited by size as a chunked
 *   one would be.
 * - Connection-specific response fields (`connection`, `keep-alive`, `transfer-encoding`, …)
 *   are forbidden in HTTP/2 (RFC 9113 §8.2.2: Node throws on them), and so is a reason
 *   phrase: both are dropped from what the handler writes. "Close the connection" (draining,
 *   a refused body) is the session's business (GOAWAY), not a header's.
 * - CONNECT (and extended CONNECT) are refused: there is no tunnel over HTTP/2 here.
 */

const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

export type Adapted =
  | { readonly req: IncomingMessage; readonly res: ServerResponse }
  | { readonly refuse: number };

export function adaptExchange(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  peer?: Socket,
): Adapted {
  if (req.method === 'CONNECT') return { refuse: 405 };
  const source = req.headers;
  const authority = source[':authority'] ?? source.host;
  const headers: IncomingHttpHeaders = {};
  const raw: string[] = [];
  const cookies: string[] = [];
  const original = req.rawHeaders;
  for (let i = 0; i < original.length; i += 2) {
    const name = original[i] as string;
    const value = original[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */ || name === 'host') continue;
    if (name === 'cookie') {
      cookies.push(value);
      continue;
    }
    raw.push(name, value);
  }
  for (const [name, value] of Object.entries(source)) {
    if (name.charCodeAt(0) === 58 || name === 'host' || value === undefined) continue;
    (headers as Record<string, string | string[]>)[name] = value;
  }
  if (typeof authority === 'string') {
    headers.host = authority;
    raw.unshift('host', authority);
  }
  if (cookies.length > 0) {
    const cookie = cookies.join('; ');
    headers.cookie = cookie;
    raw.push('cookie', cookie);
  }
  if (
    !req.stream.readableEnded &&
    !req.stream.endAfterHeaders &&
    source['content-length'] === undefined
  ) {
    headers['transfer-encoding'] = 'chunked';
  }
  Object.defineProperty(req, 'headers', { value: headers, writable: true, configurable: true });
  Object.defineProperty(req, 'rawHeaders', { value: raw, writable: true, configurable: true });
  if (peer !== undefined) {
    // h2c: the session's own socket is a wrapper without addresses; the client's are here.
    Object.defineProperty(req, 'socket', {
      value: peerView(peer, req.stream),
      configurable: true,
    });
  }

  // Typed loosely: the overloads of writeHead do not express "headers, maybe".
  const writeHead = res.writeHead as unknown as (
    this: Http2ServerResponse,
    status: number,
    headers?: Record<string, unknown> | string[],
  ) => Http2ServerResponse;
  const setHeader = res.setHeader;
  Object.defineProperty(res, 'writeHead', {
    configurable: true,
    value(this: Http2ServerResponse, status: number, ...rest: unknown[]) {
      // (status, headers) or (status, reasonPhrase, headers): the reason phrase is dropped.
      const fields = rest.length >= 2 || typeof rest[0] === 'string' ? rest[1] : rest[0];
      return writeHead.call(this, status, withoutConnectionFields(fields));
    },
  });
  Object.defineProperty(res, 'setHeader', {
    configurable: true,
    value(this: Http2ServerResponse, name: string, value: number | string | string[]) {
      if (CONNECTION_SPECIFIC.has(name.toLowerCase())) return this;
      return setHeader.call(this, name, value);
    },
  });
  return {
    req: req as unknown as IncomingMessage,
    res: res as unknown as ServerResponse,
  };
}

/**
 * What the handler and the observers read from `req.socket`: the client's addresses, and,
 * like Node's own HTTP/2 socket proxy, `destroy` and close events that act on this
 * exchange's stream alone, never on the connection other streams share.
 */
function peerView(peer: Socket, stream: Http2ServerRequest['stream']) {
  return {
    destroy(error?: Error) {
      stream.destroy(error);
    },
    get destroyed() {
      return stream.destroyed;
    },
    once: stream.once.bind(stream),
    on: stream.on.bind(stream),
    get remoteAddress() {
      return peer.remoteAddress;
    },
    get remotePort() {
      return peer.remotePort;
    },
    get remoteFamily() {
      return peer.remoteFamily;
    },
    get localAddress() {
      return peer.localAddress;
    },
    get localPort() {
      return peer.localPort;
    },
  };
}

function withoutConnectionFields(fields: unknown): Record<string, unknown> | string[] | undefined {
  if (fields === undefined || fields === null) return undefined;
  if (Array.isArray(fields)) {
    const out: string[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const name = String(fields[i]);
      if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out.push(name, String(fields[i + 1]));
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
    if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}
