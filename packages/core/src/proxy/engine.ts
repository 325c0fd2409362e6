import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Endpoint } from '../routes/types.ts';

/**
 * The small interface between the router and the HTTP client that talks to Pods, so the
 * engine (undici today) can be swapped or measured against another without touching routing.
 */

export type FailureKind =
  /** Nothing was sent: the Pod refused or the connection could not be made. */
  | 'connect-refused'
  | 'connect-timeout'
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

const CONNECT_REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Error codes that mean the connection to the Pod could not be made (nothing was sent). */
export const isConnectRefused = (code: string): boolean => CONNECT_REFUSED.has(code);

/**
 * A connect that failed before the connection was made, by its error code: refused (a reset
 * or no route), or timed out (`ETIMEDOUT`: the kernel gave up resending the SYN, when the
 * router's own connect timeout is off or longer).
 */
export const connectFailureKind = (code: string): FailureKind =>
  isConnectRefused(code) ? 'connect-refused' : 'connect-timeout';

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
