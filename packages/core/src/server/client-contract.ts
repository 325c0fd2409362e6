import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * What both client servers (node:http and the raw one, `client-server.ts`) give the request
 * path, and what the raw server's objects must implement: the contract the other server files
 * share, apart from the servers themselves.
 */

/**
 * The part of node:http's IncomingMessage the request path reads (the handler, the upstream
 * engines, the policy and the tracing package), besides the body stream. The raw server's
 * request implements it, so a field it lacks is a compile error, not a surprise in production.
 */
export type ClientRequestFields = Pick<
  IncomingMessage,
  | 'method'
  | 'url'
  | 'headers'
  | 'rawHeaders'
  | 'httpVersion'
  | 'httpVersionMajor'
  | 'httpVersionMinor'
  | 'complete'
  | 'socket'
>;

/**
 * The part of node:http's ServerResponse the request path writes (see ClientRequestFields),
 * besides `setHeader`, `writeHead`, `end` and `destroy`, which return the response itself
 * (node's types say ServerResponse there, so they cannot be checked this way) and the
 * `drain` and `close` events.
 */
export type ClientResponseFields = Pick<
  ServerResponse,
  | 'statusCode'
  | 'statusMessage'
  | 'headersSent'
  | 'writableEnded'
  | 'destroyed'
  | 'getHeader'
  | 'hasHeader'
  | 'removeHeader'
  | 'write'
  | 'addTrailers'
  | 'writeContinue'
  | 'flushHeaders'
>;

/** What the router does with each request; the same functions serve both engines. */
export interface ClientHandlers {
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** `Expect: 100-continue`: the handler sends the 100 once policy said yes. */
  readonly onCheckContinue: (req: IncomingMessage, res: ServerResponse) => void;
  /** Whether an upgrade request becomes a tunnel (else it is served as a plain request). */
  readonly shouldUpgrade: (req: IncomingMessage) => boolean;
  /** The socket is the handler's from here; `head`: bytes the client sent after the head. */
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}
