import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptsTrailers, encodeGrpcMessage, grpcStatusFor, isGrpcRequest } from './grpc.ts';
import { invalidHeader } from './headers.ts';

/**
 * RFC 9457 problem details. Bodies name what went wrong in general terms only: never a
 * header value, a key, or an upstream's error text.
 */
export interface Problem {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const problemBody = (problem: Problem) =>
  JSON.stringify({
    type: 'about:blank',
    title: problem.title,
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
  });

/**
 * The router's own answer, in the shape the client reads: problem details, or for a gRPC
 * request (which cannot read an HTTP error) HTTP 200 with `grpc-status`/`grpc-message`.
 */
export function sendProblem(res: ServerResponse, problem: Problem, closeConnection = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // `res.req` is unset only on responses made outside a server (unit tests' fakes).
  if (res.req !== undefined && isGrpcRequest(res.req)) {
    sendGrpcStatus(res, problem, closeConnection);
    return;
  }
  const body = problemBody(problem);
  // The reason is given, not left to writeHead: node:http keeps the statusMessage of an
  // earlier writeHead that threw on a bad field (a 401 whose header node refused, then this
  // 500), and would write "500 Unauthorized".
  res.writeHead(problem.status, reasonPhrase(problem.status), {
    ...problem.headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function sendGrpcStatus(res: ServerResponse, problem: Problem, closeConnection: boolean): void {
  const status = {
    'grpc-status': String(grpcStatusFor(problem.status)),
    'grpc-message': encodeGrpcMessage(problem.detail ?? problem.title),
  };
  const head = {
    ...problem.headers,
    'content-type': 'application/grpc',
    ...(closeConnection ? { connection: 'close' } : {}),
  };
  if (acceptsTrailers(res.req)) {
    // HTTP/2 (or chunked HTTP/1.1): the status goes where gRPC clients read it, in trailers.
    res.writeHead(200, reasonPhrase(200), head);
    res.addTrailers(status);
    res.end();
    return;
  }
  res.writeHead(200, reasonPhrase(200), { ...head, ...status, 'content-length': 0 });
  res.end();
}

export const reasonPhrase = (status: number): string => STATUS_CODES[status] ?? 'Unknown';

/** Writes a whole HTTP/1.1 response on a raw socket (upgrade requests, parser errors). */
export function writeRawProblem(socket: Duplex, problem: Problem): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = problemBody(problem);
  // The last guard of a head written by hand: if one field could split it (the handler
  // refuses those from policy before they get here), none of them is written, where
  // node:http's writeHead would throw.
  const fields = Object.entries(problem.headers ?? {});
  const extra = (invalidHeader(fields) === undefined ? fields : [])
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${problem.status} ${reasonPhrase(problem.status)}\r\n` +
      'content-type: application/problem+json\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
  // Nothing more is read from it, but what the client still sends (bytes after a refused
  // handshake, on a socket handed over paused) is read and dropped: else the client's close
  // is never seen and the socket stays open for good.
  socket.resume();
}

const bad = (title: string, detail: string): Problem => ({ status: 400, title, detail });

export const Problems = {
  notFound: { status: 404, title: 'No route', detail: 'No route matches this host and path.' },
  noEndpoints: { status: 503, title: 'No ready endpoint', detail: 'The route has no ready Pod.' },
  bodyTooLarge: { status: 413, title: 'Request body too large' },
  badGateway: {
    status: 502,
    title: 'Upstream failed',
    detail: 'The upstream Pod could not be reached or closed the connection.',
  },
  gatewayTimeout: { status: 504, title: 'Upstream timed out' },
  shuttingDown: { status: 503, title: 'Router shutting down' },
  hookFailed: { status: 500, title: 'Policy hook failed' },
  internalError: { status: 500, title: 'Internal error', detail: 'The router failed.' },
  clientForbidden: {
    status: 403,
    title: 'Client not allowed',
    detail: 'This route does not accept requests from this client address.',
  },
  bodyTimeout: {
    status: 408,
    title: 'Request body timeout',
    detail: 'The request body stalled for longer than the router waits.',
  },
  badTarget: bad(
    'Bad request target',
    'The request target must be an absolute path or an http(s) URL.',
  ),
  noHost: bad('Bad Host', 'The request needs exactly one Host header.'),
  badHost: bad('Bad Host', 'The Host header is not a valid host[:port].'),
  badPath: bad('Bad path', 'The request path is malformed.'),
  aboveRoot: bad('Bad path', 'The request path climbs above the root.'),
  escapedSlash: bad('Bad path', 'Encoded slashes and backslashes are not accepted in the path.'),
  badUpgrade: bad('Bad upgrade', 'A WebSocket handshake is a GET request without a body.'),
  /** A head the server's parser refused (both server engines). */
  badRequest: bad('Bad request', 'The request is not valid HTTP/1.1.'),
  /** A head not whole within CLIENT_HEADER_TIMEOUT (both server engines). */
  requestTimeout: { status: 408, title: 'Request timeout' },
} as const satisfies Record<string, Problem>;

/** A head larger than CLIENT_MAX_HEADER_SIZE (both server engines). */
export const headTooLarge = (maxHeaderSize: number): Problem => ({
  status: 431,
  title: 'Request header fields too large',
  detail: `The request head exceeds ${maxHeaderSize} bytes.`,
});
