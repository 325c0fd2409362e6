import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import {
  ClientGoneError,
  connectErrorKind,
  type FailureKind,
  RequestBodyTooLargeError,
  type UpstreamCall,
  type UpstreamEngine,
  type UpstreamOutcome,
} from './engine.ts';
import { acceptsTrailers, isGrpcRequest } from './grpc.ts';
import { clientResponseHeaders } from './headers.ts';

/**
 * The engine for Pod ports spoken to over HTTP/2 cleartext (gRPC): one client session per
 * endpoint, each exchange a stream on it. HTTP/2's own flow control carries backpressure
 * both ways: a stream the client does not read is paused, so its window fills and the Pod
 * stops sending; a request body is piped with the stream's write backpressure.
 */

export interface H2cEngineOptions {
  readonly connectTimeoutMs: number;
  /** No byte from the upstream for this long (before or during the response) → timeout. */
  readonly idleTimeoutMs: number;
  /** A session with no stream for this long is closed. */
  readonly keepAliveTimeoutMs: number;
}

class TotalTimeoutError extends Error {
  constructor(ms: number) {
    super(`upstream exchange exceeded ${ms} ms`);
    this.name = 'TotalTimeoutError';
  }
}

class IdleTimeoutError extends Error {
  constructor(ms: number) {
    super(`no byte from the upstream for ${ms} ms`);
    this.name = 'IdleTimeoutError';
  }
}

class ConnectTimeoutError extends Error {
  constructor(ms: number) {
    super(`no HTTP/2 connection to the upstream within ${ms} ms`);
    this.name = 'ConnectTimeoutError';
  }
}

/** Request fields HTTP/2 forbids (RFC 9113 §8.2.2), beyond the hop-by-hop ones already gone. */
const NOT_IN_HTTP2 = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

/** Flat `[name, value, …]` → HTTP/2 request headers (`host` becomes `:authority`). */
function requestHeaders(call: UpstreamCall): OutgoingHttpHeaders {
  const { req } = call;
  const headers: Record<string, string | string[]> = {
    ':method': req.method ?? 'GET',
    ':path': req.url ?? '/',
    ':scheme': 'http',
  };
  const list = call.headers;
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    const value = list[i + 1] as string;
    if (name === 'host') {
      headers[':authority'] = value;
      continue;
    }
    if (NOT_IN_HTTP2.has(name)) continue;
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [previous, value];
  }
  // TE is hop-by-hop, so the client's was dropped; gRPC servers want to hear this hop's own.
  if (isGrpcRequest(req)) headers.te = 'trailers';
  return headers;
}

/** HTTP/2 response headers → the flat list the client response takes (no pseudo-headers). */
function flatHeaders(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 58 /* : */ || value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) raw.push(name, item);
    else raw.push(name, String(value));
  }
  return clientResponseHeaders(raw);
}

/** Trailers as `addTrailers` takes them, minus pseudo-headers. */
function trailerFields(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 58 || value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

const GRPC_STATUS_FIELDS = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/** Returns `fields` without the gRPC status fields, which are put in `trailers`. */
function moveGrpcStatus(fields: string[], trailers: Record<string, string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (GRPC_STATUS_FIELDS.has(name)) trailers[name] = value;
    else kept.push(name, value);
  }
  return kept;
}

/**
 * What Node's HTTP/2 client throws for request headers it will not send (a `te` other than
 * `trailers` a hook set, …): the request the router built, not the Pod, failed.
 */
const UNWRITABLE_REQUEST = new Set([
  'ERR_HTTP2_INVALID_CONNECTION_HEADERS',
  'ERR_HTTP2_HEADER_SINGLE_VALUE',
  'ERR_HTTP2_INVALID_HEADER_VALUE',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
]);

function classify(failure: Error, requestBodyFailed: boolean): FailureKind {
  // A stream queued on a session that never connected fails with a cancel whose cause is
  // why the session failed (refused, timed out).
  const error =
    (failure as { code?: string }).code === 'ERR_HTTP2_STREAM_CANCEL' &&
    failure.cause instanceof Error
      ? failure.cause
      : failure;
  if (error instanceof ClientGoneError) return 'client-gone';
  if (error instanceof RequestBodyTooLargeError || requestBodyFailed) return 'request-body';
  if (error instanceof TotalTimeoutError || error instanceof IdleTimeoutError) return 'timeout';
  if (error instanceof ConnectTimeoutError) return 'connect-timeout';
  const code = (error as { code?: string }).code ?? '';
  if (UNWRITABLE_REQUEST.has(code)) return 'invalid-request';
  return connectErrorKind(code) ?? 'connection-lost';
}

/** One exchange: an HTTP/2 stream to the Pod streaming into the client's response. */
class StreamExchange {
  readonly #call: UpstreamCall;
  readonly #done: (outcome: UpstreamOutcome) => void;
  #stream: ClientHttp2Stream | undefined;
  #status = 0;
  #trailers: Record<string, string> | undefined;
  #finished = false;
  #bodyError = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void) {
    this.#call = call;
    this.#done = done;
    call.res.once('close', this.#onClientClose);
    call.body?.once('error', this.#onBodyError);
    if (call.totalTimeoutMs > 0) {
      this.#timer = setTimeout(
        () => this.fail(new TotalTimeoutError(call.totalTimeoutMs)),
        call.totalTimeoutMs,
      );
    }
  }

  start(session: ClientHttp2Session, idleTimeoutMs: number): void {
    if (this.#finished) return;
    const call = this.#call;
    const stream = session.request(requestHeaders(call), { endStream: call.body === null });
    this.#stream = stream;
    stream.on('error', (error) => this.fail(error));
    if (idleTimeoutMs > 0)
      stream.setTimeout(idleTimeoutMs, () => this.fail(new IdleTimeoutError(idleTimeoutMs)));
    stream.on('response', this.#onResponse);
    stream.on('trailers', this.#onTrailers);
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    // A stream reset by the Pod without an error (NO_ERROR before the response ends).
    stream.on('close', () => {
      if (!this.#finished) this.fail(new Error(`upstream stream closed (code ${stream.rstCode})`));
    });
    const body = call.body;
    if (body !== null) {
      body.on('data', (chunk: Buffer) => {
        if (!stream.write(chunk)) {
          body.pause();
          stream.once('drain', () => body.resume());
        }
      });
      body.once('end', () => stream.end());
      body.once('error', (error) => this.fail(error));
    }
  }

  #onResponse = (headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
    const status = Number(headers[':status'] ?? 0);
    this.#status = status;
    const { req, res, responseHeaders } = this.#call;
    let fields = flatHeaders(headers);
    if (flags & constants.NGHTTP2_FLAG_END_STREAM && req.httpVersionMajor >= 2) {
      // A gRPC "Trailers-Only" answer. Node's response API cannot end a stream with its
      // headers, and a gRPC client reads the status of a stream that goes on only from
      // trailers: the status fields move there.
      const trailers: Record<string, string> = {};
      fields = moveGrpcStatus(fields, trailers);
      if (Object.keys(trailers).length > 0) this.#trailers = trailers;
    }
    if (responseHeaders) for (const [name, value] of responseHeaders) fields.push(name, value);
    res.writeHead(status, fields);
    // Headers alone say something to a streaming client (gRPC metadata): send them now.
    res.flushHeaders();
  };

  #onTrailers = (headers: IncomingHttpHeaders) => {
    this.#trailers = { ...this.#trailers, ...trailerFields(headers) };
  };

  #onData = (chunk: Buffer) => {
    const { res } = this.#call;
    if (!res.write(chunk)) {
      this.#stream?.pause();
      res.once('drain', this.#onDrain);
    }
  };

  #onDrain = () => this.#stream?.resume();

  #onEnd = () => {
    const { res, req } = this.#call;
    // A chunked HTTP/1.1 response carries trailers only to a client that asked for them.
    if (this.#trailers !== undefined && acceptsTrailers(req)) res.addTrailers(this.#trailers);
    res.end();
    this.#finish({ status: this.#status });
  };

  #onClientClose = () => {
    if (!this.#finished) this.fail(new ClientGoneError());
  };

  #onBodyError = () => {
    this.#bodyError = true;
  };

  fail(error: Error): void {
    if (this.#finished) return;
    const stream = this.#stream;
    if (stream !== undefined && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    this.#finish({
      status: this.#status,
      failure: {
        kind: classify(error, this.#bodyError),
        error,
        responseStarted: this.#status !== 0,
      },
    });
  }

  #finish(outcome: UpstreamOutcome): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#call.res.off('close', this.#onClientClose);
    this.#call.body?.off('error', this.#onBodyError);
    this.#done(outcome);
  }
}

/** One HTTP/2 session per Pod endpoint, opened on first use and replaced once it ends. */
export class H2cEngine implements UpstreamEngine {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #options: H2cEngineOptions;

  constructor(options: H2cEngineOptions) {
    this.#options = options;
  }

  #session(origin: string): ClientHttp2Session {
    const existing = this.#sessions.get(origin);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const options = this.#options;
    const session = connect(origin);
    this.#sessions.set(origin, session);
    const forget = () => {
      if (this.#sessions.get(origin) === session) this.#sessions.delete(origin);
    };
    session.once('close', forget);
    // GOAWAY: streams in flight finish; new ones go to a new session.
    session.once('goaway', forget);
    // The streams see the error too; the session is done either way.
    session.on('error', forget);
    if (options.connectTimeoutMs > 0) {
      const timer = setTimeout(
        () => session.destroy(new ConnectTimeoutError(options.connectTimeoutMs)),
        options.connectTimeoutMs,
      );
      session.once('connect', () => clearTimeout(timer));
      session.once('close', () => clearTimeout(timer));
    }
    if (options.keepAliveTimeoutMs > 0) {
      // A quiet session is closed gracefully: a stream still open on it finishes there.
      session.setTimeout(options.keepAliveTimeoutMs, () => session.close());
    }
    return session;
  }

  forward(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void): void {
    const exchange = new StreamExchange(call, done);
    try {
      exchange.start(this.#session(call.endpoint.origin), this.#options.idleTimeoutMs);
    } catch (error) {
      // Invalid header values are refused synchronously; surface it like any upstream failure.
      exchange.fail(error as Error);
    }
  }

  retainOnly(origins: ReadonlySet<string>): void {
    for (const [origin, session] of this.#sessions) {
      if (origins.has(origin)) continue;
      this.#sessions.delete(origin);
      // close() lets the streams in flight finish.
      session.close();
    }
  }

  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(
      sessions.map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.closed || session.destroyed) resolve();
            else session.close(resolve);
          }),
      ),
    );
  }
}
