import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Endpoint } from '../routes/types.ts';

/**
 * The small interface between the router and the HTTP client that talks to Pods, so the
 * engine (undici today) can be swapped or measured against another without touching routing.
 */

export type FailureKind =
  /**
   * Nothing was sent: the Pod refused the connection, reset it, or has no route to it (502;
   * the endpoint is ejected, the request retried once elsewhere when safe).
   */
  | 'connect-refused'
  /** Nothing was sent: the Pod did not answer the SYN in time (504; ejected, retried). */
  | 'connect-timeout'
  /**
   * Nothing was sent: the router itself could not open a connection (out of file
   * descriptors, socket buffers, memory or local ports). 502, retried once like a refusal,
   * but the Pod is not ejected: it is the router that failed, not the Pod (as nginx answers
   * `connect() failed (24: Too many open files)`, and as Envoy keeps its own failures out
   * of outlier detection).
   */
  | 'connect-local'
  /** TLS to the upstream failed (certificate, name or handshake): nothing was sent. */
  | 'tls-handshake'
  /** The upstream took longer than the idle or total timeout. */
  | 'timeout'
  /** The connection broke after the request was (possibly) sent. */
  | 'connection-lost'
  /** The request body failed: too large, or the client stopped sending it. */
  | 'request-body'
  /**
   * The request cannot be written as the router built it (a header set by policy that is
   * not valid on the wire, a Transfer-Encoding set by a hook): nothing was sent, and it is
   * the router's failure, not the client's.
   */
  | 'invalid-request'
  /** The client went away; nobody is waiting for an answer. */
  | 'client-gone';

/** The Pod, or the path to it, turned the connection down. */
const CONNECT_REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The router's own resources ran out: descriptors (EMFILE, ENFILE), buffers or memory
 * (ENOBUFS, ENOMEM), local ports (EADDRNOTAVAIL: no free ephemeral port for this
 * destination; EADDRINUSE).
 */
const CONNECT_LOCAL = new Set([
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'ENOMEM',
  'EADDRNOTAVAIL',
  'EADDRINUSE',
]);

/**
 * The connect failure an error code alone tells, or undefined for a code that may also
 * break an open connection (ECONNRESET, ETIMEDOUT, EPIPE, …). For an engine that cannot
 * tell whether its connection was made when the error came (undici, h2c sessions).
 */
export const connectErrorKind = (code: string): FailureKind | undefined =>
  CONNECT_REFUSED.has(code)
    ? 'connect-refused'
    : CONNECT_LOCAL.has(code)
      ? 'connect-local'
      : undefined;

/**
 * A connect that failed before the connection was made, by its error code: the router's own
 * resources, a timeout (`ETIMEDOUT`: the kernel gave up resending the SYN, when the router's
 * own connect timeout is off or longer), or else refused (ECONNRESET, or any other code: the
 * connection to that Pod could not be made).
 */
export const connectFailureKind = (code: string): FailureKind =>
  code === 'ETIMEDOUT' ? 'connect-timeout' : (connectErrorKind(code) ?? 'connect-refused');

export interface UpstreamFailure {
  readonly kind: FailureKind;
  readonly error: Error;
  /** True once response headers went to the client: only the connection can be cut now. */
  readonly responseStarted: boolean;
}

export interface UpstreamCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly endpoint: Endpoint;
  /** Flat `[name, value, …]` list, already rewritten for the upstream. */
  readonly headers: string[];
  /**
   * How many leading entries of `headers` are known to be writable as they are (token names,
   * field values without edge whitespace): the client's fields as the strict parser read
   * them, unchanged since. An engine that writes heads itself checks only the rest (the
   * forwarded fields, the policy's). 0 or absent: check them all.
   */
  readonly checkedHeaders?: number;
  readonly body: Readable | null;
  /** Whole-exchange deadline in ms; 0 disables it. */
  readonly totalTimeoutMs: number;
  /** Added to the client's response headers (policy headers such as RateLimit). */
  readonly responseHeaders?: ReadonlyMap<string, string> | undefined;
}

export interface UpstreamOutcome {
  readonly status: number;
  readonly failure?: UpstreamFailure;
}

export interface UpstreamEngine {
  /** Streams the exchange; `done` is called exactly once. */
  forward(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void): void;
  /** Closes, gracefully, the connection pools of origins no longer routed. */
  retainOnly(origins: ReadonlySet<string>): void;
  close(): Promise<void>;
}

export class RequestBodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'RequestBodyTooLargeError';
  }
}

export class ClientGoneError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** The client sent no byte of its request body for CLIENT_BODY_TIMEOUT. */
export class ClientBodyTimeoutError extends Error {
  constructor(ms: number) {
    super(`no request body byte for ${ms} ms`);
    this.name = 'ClientBodyTimeoutError';
  }
}
