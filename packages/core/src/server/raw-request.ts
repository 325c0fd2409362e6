import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { RequestHead } from '../http1/parser.ts';
import type { ClientRequestFields } from './client-contract.ts';

/**
 * The request the raw server hands the proxy handler: the part of node:http's
 * `IncomingMessage` the request path reads (method, url, headers, rawHeaders, httpVersion*,
 * complete, socket) and its body as a Readable whose backpressure reaches the client's socket.
 * docs/http1.md lists that subset; a field outside it is undefined here, so a new use of
 * one in the handler, an engine or a policy must be added to both servers.
 */

/** Fields node:http keeps once (a repeat is dropped), as `IncomingMessage.headers` does. */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * The joined, lower-case view node:http gives of a raw field list; `names`: its names
 * lower-cased already, by position.
 */
export function joinHeaders(
  raw: readonly string[],
  names?: readonly string[],
): IncomingHttpHeaders {
  // No prototype: a field named `__proto__` is a field like any other.
  const headers = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < raw.length; i += 2) {
    const name = names === undefined ? (raw[i] as string).toLowerCase() : (names[i >> 1] as string);
    const value = raw[i + 1] as string;
    const seen = headers[name];
    if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (seen as string[]).push(value);
    else if (SINGLE.has(name)) continue;
    else headers[name] = `${seen as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers as IncomingHttpHeaders;
}

export class RawRequest extends Readable implements ClientRequestFields {
  readonly method: string;
  url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  /**
   * The names of `parsedHeaders` lower-cased, by position (`fieldNames[i]` is
   * `parsedHeaders[2 * i]`'s): `rawHeaders[2 * i]`'s only while it is still that name.
   */
  readonly fieldNames: readonly string[];
  /**
   * `rawHeaders` as the strict parser read them. `rawHeaders` may be changed after (the inbound
   * checks set Host; a hook has the request too): a field still identical to its entry here
   * is known to be a token and a field value.
   */
  readonly parsedHeaders: readonly string[];
  readonly httpVersion: string;
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** The whole body arrived (node:http's meaning). */
  complete = false;
  /** The client's framing lets the connection carry another request (version, Connection). */
  readonly keepAlive: boolean;
  readonly #wantMore: () => void;
  /** The body ended while nobody read the stream: its end is pushed on the first read. */
  #endPending = false;
  /** Someone asked the stream for data (`_read` ran). */
  #read = false;

  constructor(head: RequestHead, socket: Socket, wantMore: () => void) {
    super();
    this.method = head.method;
    this.url = head.target;
    this.rawHeaders = head.headers;
    this.parsedHeaders = head.headers.slice();
    this.fieldNames = head.names;
    this.headers = joinHeaders(head.headers, head.names);
    this.httpVersionMinor = head.versionMinor;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0';
    this.keepAlive = head.keepAlive;
    this.socket = socket;
    this.#wantMore = wantMore;
  }

  /** node:http's alias of `socket`. */
  get connection(): Socket {
    return this.socket;
  }

  /**
   * The whole body arrived. A stream nobody has read from (a GET's, which the proxy never
   * reads) ends when someone starts reading: no end-of-stream work (a tick, `readable`) for
   * the requests that have no body.
   */
  bodyEnded(): void {
    this.complete = true;
    if (this.#read || this.readableLength > 0) this.push(null);
    else this.#endPending = true;
  }

  override _read(): void {
    this.#read = true;
    if (this.#endPending) {
      this.#endPending = false;
      this.push(null);
      return;
    }
    this.#wantMore();
  }

  /** The client went away (or broke its framing) before the body ended. */
  abort(error: Error): void {
    if (this.complete || this.destroyed) return;
    this.emit('aborted');
    // Like IncomingMessage: an error nobody listens for is not thrown.
    this.destroy(this.listenerCount('error') > 0 ? error : undefined);
  }
}
