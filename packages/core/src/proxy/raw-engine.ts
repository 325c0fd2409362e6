import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as connectTls } from 'node:tls';
import { tlsConnectOptions } from '../backends/backend-tls.ts';
import type { BackendTls } from '../backends/types.ts';
import { isFieldValue, isRequestTarget, isToken, isWritableValue } from '../http1/chars.ts';
import type { ParseError } from '../http1/errors.ts';
import { Http1Parser, type ResponseHead } from '../http1/parser.ts';
import {
  ClientGoneError,
  connectFailureKind,
  type FailureKind,
  RequestBodyTooLargeError,
  type UpstreamCall,
  type UpstreamEngine,
  type UpstreamOutcome,
} from './engine.ts';
import { clientResponseHeaders } from './headers.ts';

/**
 * The upstream engine on raw sockets: keep-alive pools per Pod endpoint, requests written by
 * hand, responses read by podrouter's strict HTTP/1.1 parser (`http1/`). It does what the
 * undici engine does with a fraction of the objects per request, and refuses every response
 * whose framing two parsers could read differently (502).
 */

export interface RawEngineOptions {
  readonly connectTimeoutMs: number;
  /** No byte to or from the upstream for this long during an exchange → timeout. */
  readonly idleTimeoutMs: number;
  /** Idle keep-alive connections to a Pod are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Connections per Pod endpoint; 0 = unlimited. */
  readonly maxConnectionsPerEndpoint: number;
  /** Largest response head accepted from a Pod. */
  readonly maxHeadBytes?: number;
}

class TotalTimeoutError extends Error {
  constructor(ms: number) {
    super(`upstream exchange exceeded ${ms} ms`);
    this.name = 'TotalTimeoutError';
  }
}

class UpstreamTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} for ${ms} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}

/** The Pod broke HTTP/1.1: a malformed or ambiguous response, or bytes nobody asked for. */
export class UpstreamProtocolError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamProtocolError';
    this.code = code;
  }
}

/** The request cannot be written as it is (a hook set a header value with CR/LF, …). */
class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Response trailer fields a proxy must not pass on (RFC 9110 §6.5.1). */
const FORBIDDEN_TRAILERS = new Set([
  'content-length',
  'transfer-encoding',
  'content-type',
  'content-encoding',
  'content-range',
  'host',
  'trailer',
  'te',
  'connection',
  'keep-alive',
  'upgrade',
  'authorization',
  'set-cookie',
  'cache-control',
  'expires',
  'date',
  'location',
  'retry-after',
  'vary',
  'www-authenticate',
]);

/**
 * The client response of podrouter's own server (server/raw-response.ts), told apart by shape
 * so the proxy does not depend on the server: writes a head whose fields were checked where
 * they came from, without checking them again.
 */
interface CheckedHeadWriter {
  writeCheckedHead(status: number, reason: string, fields: readonly string[]): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** The frame of one request body chunk, for a body sent chunked. */
const chunkHead = (length: number) => `${length.toString(16)}\r\n`;

/**
 * Sets a socket's inactivity timeout unless it is set to that already: `setTimeout()` makes a
 * new timer each call, twice an exchange (idle, then keep-alive), while both are 60 s by
 * default. Skipping it changes nothing: every read and write restarts the running timer.
 */
function setSocketTimeout(socket: Socket, ms: number): void {
  if (socket.timeout !== ms) socket.setTimeout(ms);
}

/** For `process.nextTick(uncork, socket)`: no closure per request. */
const uncork = (socket: Socket) => socket.uncork();

/**
 * Every plain-TCP upstream connection reads into this one buffer (`onread`). A read is parsed
 * before the next one can happen, and nothing keeps a view of it past `execute()`: the
 * parser copies an unfinished head, head fields become strings, body chunks are copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** One connection to a Pod endpoint, with its response parser. */
class Connection {
  readonly socket: Socket;
  readonly pool: EndpointPool;
  readonly parser: Http1Parser<ResponseHead>;
  exchange: RawExchange | null = null;
  /** Ready for a request: TCP connected, and the TLS handshake verified when TLS is on. */
  connected = false;
  /** TCP connected (a TLS connection may still fail its handshake). */
  tcpConnected = false;
  /** Set by the parser; acted on after `execute()` returns, never inside it. */
  completed = false;
  /** When an idle connection must not be used any more (the Pod's keep-alive hint). */
  expiresAt = Number.POSITIVE_INFINITY;

  constructor(pool: EndpointPool) {
    this.pool = pool;
    const tls = pool.tls;
    // Reads into the shared buffer are only valid until the next read: the body is copied.
    const sharedReads = tls === undefined;
    this.parser = new Http1Parser<ResponseHead>(
      'response',
      {
        onHead: (head) => this.exchange?.onHead(head),
        onBody: (chunk) => this.exchange?.onBody(sharedReads ? Buffer.from(chunk) : chunk),
        onTrailers: (fields) => this.exchange?.onTrailers(fields),
        onComplete: () => {
          this.completed = true;
          // Bytes after the response were not asked for: execute() returns before them.
          this.parser.pause();
        },
      },
      // Fields are bounded by the head's size; the count limit is node:http's (2 000), so a
      // Pod that talks to undici today is not refused here for many small fields.
      pool.engine.maxHeadBytes === undefined
        ? { maxFields: 2000 }
        : { maxHeadBytes: pool.engine.maxHeadBytes, maxFields: 2000 },
    );
    // With TLS, nothing is written before 'secureConnect': the chain and the name are
    // verified first (rejectUnauthorized), so no request byte ever goes out unverified.
    // Plain TCP reads with `onread` into one buffer: no 64 KiB allocation and no Readable
    // push/emit per read ('end', 'close', pause() and resume() work as before).
    const socket =
      tls === undefined
        ? connect({
            host: pool.host,
            port: pool.port,
            noDelay: true,
            onread: {
              buffer: READ_BUFFER,
              callback: (length: number, buffer: Uint8Array) => {
                this.#onData(Buffer.from(buffer.buffer, buffer.byteOffset, length));
                // false would pause the socket; backpressure pauses it explicitly instead.
                return true;
              },
            },
          })
        : connectTls(tlsConnectOptions(tls, pool.host, pool.port));
    this.socket = socket;
    socket.setTimeout(pool.engine.options.connectTimeoutMs);
    if (tls === undefined) socket.on('connect', this.#onConnect);
    else {
      socket.setNoDelay(true);
      socket.once('connect', () => {
        this.tcpConnected = true;
      });
      socket.on('secureConnect', this.#onConnect);
      socket.on('data', this.#onData);
    }
    socket.on('end', this.#onEnd);
    socket.on('timeout', this.#onTimeout);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** Usable for a new exchange: open, idle, not past the Pod's keep-alive hint. */
  get usable(): boolean {
    return (
      this.connected &&
      this.exchange === null &&
      !this.socket.destroyed &&
      this.socket.readyState === 'open' &&
      this.parser.idle &&
      Date.now() < this.expiresAt
    );
  }

  #onConnect = () => {
    this.connected = true;
    this.tcpConnected = true;
    this.socket.setTimeout(this.pool.engine.options.idleTimeoutMs);
    this.exchange?.onConnected(this);
  };

  #onData = (chunk: Buffer) => {
    const exchange = this.exchange;
    if (exchange === null) {
      // An idle connection spoke unasked: the Pod is out of step; never reuse it.
      this.destroy();
      return;
    }
    const used = this.parser.execute(chunk);
    if (used < 0) {
      const error = this.parser.error as ParseError;
      exchange.fail(
        new UpstreamProtocolError(`invalid response from the Pod: ${error.message}`, error.code),
      );
      return;
    }
    if (this.completed) {
      this.completed = false;
      this.parser.resume();
      const extra = used < chunk.length;
      exchange.onComplete(extra);
    }
  };

  #onEnd = () => {
    const exchange = this.exchange;
    if (exchange === null) {
      this.destroy();
      return;
    }
    // A body that runs until the connection closes ends here; anything else half-read fails.
    const error = this.parser.finish();
    if (this.completed) {
      this.completed = false;
      exchange.onComplete(true);
    } else exchange.fail(error ?? new Error('the Pod closed the connection'));
    this.destroy();
  };

  #onTimeout = () => {
    const exchange = this.exchange;
    const { connectTimeoutMs, idleTimeoutMs } = this.pool.engine.options;
    if (exchange === null) this.destroy();
    else if (!this.connected)
      exchange.fail(new UpstreamTimeoutError('no connection', connectTimeoutMs), 'connect-timeout');
    else exchange.fail(new UpstreamTimeoutError('no byte from or to the Pod', idleTimeoutMs));
  };

  #onError = (error: Error) => {
    this.exchange?.fail(error);
  };

  #onClose = () => {
    this.pool.forget(this);
    this.exchange?.fail(new Error('the connection to the Pod closed'));
  };

  destroy(): void {
    this.socket.destroy();
    this.pool.forget(this);
  }
}

/** Connections to one Pod endpoint. */
class EndpointPool {
  readonly engine: RawEngine;
  readonly host: string;
  readonly port: number;
  readonly tls: BackendTls | undefined;
  /** Idle connections, most recently used last (reused first: least likely to be stale). */
  readonly idle: Connection[] = [];
  readonly all = new Set<Connection>();
  readonly waiting: RawExchange[] = [];
  closing = false;

  constructor(engine: RawEngine, host: string, port: number, tls: BackendTls | undefined) {
    this.engine = engine;
    this.host = host;
    this.port = port;
    this.tls = tls;
  }

  acquire(exchange: RawExchange): void {
    while (this.idle.length > 0) {
      const connection = this.idle.pop() as Connection;
      // Checked before anything is written: a dead idle socket costs nothing to skip.
      if (connection.usable) {
        exchange.attach(connection);
        return;
      }
      connection.destroy();
    }
    const max = this.engine.options.maxConnectionsPerEndpoint;
    if (max > 0 && this.all.size >= max) {
      this.waiting.push(exchange);
      return;
    }
    const connection = new Connection(this);
    this.all.add(connection);
    exchange.attach(connection);
  }

  /** An exchange ended with its connection reusable. */
  release(connection: Connection): void {
    connection.exchange = null;
    const next = this.waiting.shift();
    if (next !== undefined) {
      next.attach(connection);
      return;
    }
    if (this.closing) {
      connection.destroy();
      return;
    }
    setSocketTimeout(connection.socket, this.engine.options.keepAliveTimeoutMs);
    this.idle.push(connection);
  }

  /** A connection closed or was destroyed: its slot may serve a waiting exchange. */
  forget(connection: Connection): void {
    if (!this.all.delete(connection)) return;
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    const next = this.waiting.shift();
    if (next !== undefined) this.acquire(next);
  }

  cancel(exchange: RawExchange): void {
    const at = this.waiting.indexOf(exchange);
    if (at >= 0) this.waiting.splice(at, 1);
  }

  close(): void {
    this.closing = true;
    for (const connection of [...this.idle]) connection.destroy();
  }
}

/** One request/response exchange over one connection. */
class RawExchange {
  readonly #engine: RawEngine;
  readonly #call: UpstreamCall;
  readonly #done: (outcome: UpstreamOutcome) => void;
  readonly #pool: EndpointPool;
  #connection: Connection | null = null;
  #status = 0;
  #finished = false;
  #timer: NodeJS.Timeout | undefined;
  #requestDone = false;
  #bodyFailed = false;
  #chunked = false;
  #bodyRemaining = -1;
  #keepAlive = false;
  #trailers: string[] | null = null;

  constructor(
    engine: RawEngine,
    pool: EndpointPool,
    call: UpstreamCall,
    done: (outcome: UpstreamOutcome) => void,
  ) {
    this.#engine = engine;
    this.#pool = pool;
    this.#call = call;
    this.#done = done;
    // `on`, not `once` (no wrapper per request): #finish removes it, and it acts only once.
    call.res.on('close', this.#onClientClose);
    if (call.totalTimeoutMs > 0) {
      this.#timer = setTimeout(
        () => this.fail(new TotalTimeoutError(call.totalTimeoutMs)),
        call.totalTimeoutMs,
      );
    }
  }

  #onClientClose = () => {
    if (!this.#finished) this.fail(new ClientGoneError());
  };

  attach(connection: Connection): void {
    if (this.#finished) {
      // Cancelled while it waited: hand the connection on untouched.
      if (connection.connected && connection.parser.idle) this.#pool.release(connection);
      else connection.destroy();
      return;
    }
    this.#connection = connection;
    connection.exchange = this;
    if (connection.connected) this.onConnected(connection);
  }

  onConnected(connection: Connection): void {
    const { req, headers, checkedHeaders, body } = this.#call;
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    connection.parser.expectResponseTo(method);
    setSocketTimeout(connection.socket, this.#engine.options.idleTimeoutMs);
    let head: string;
    try {
      head = this.#head(method, target, headers, checkedHeaders ?? 0, body !== null);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    const socket = connection.socket;
    if (body === null) {
      socket.write(head, 'latin1');
      this.#requestDone = true;
      return;
    }
    // The head is held until this tick ends, so body bytes already received go out with it:
    // one write and one segment for both. Nothing is held longer than that.
    socket.cork();
    socket.write(head, 'latin1');
    this.#pipeBody(body, socket);
    process.nextTick(uncork, socket);
  }

  /** The request head, with the body framing podrouter chose; throws when unsafe to write. */
  #head(
    method: string,
    target: string,
    headers: readonly string[],
    checked: number,
    withBody: boolean,
  ): string {
    if (!isRequestTarget(target)) throw new InvalidRequestError('invalid request target');
    let head = `${method} ${target} HTTP/1.1\r\n`;
    let length = -1;
    for (let i = 0; i < headers.length; i += 2) {
      let name = headers[i] as string;
      let value = headers[i + 1] as string;
      if (i >= checked) {
        // A hook may have put a list or an object in the request: its text, taken once.
        name = String(name);
        value = String(value);
        if (!isToken(name) || !isFieldValue(value))
          throw new InvalidRequestError(`invalid upstream header ${JSON.stringify(name)}`);
      }
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (length >= 0 || !/^[0-9]{1,15}$/.test(value))
          throw new InvalidRequestError('invalid Content-Length for the upstream');
        length = Number(value);
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        throw new InvalidRequestError('Transfer-Encoding is set by the engine');
      }
      head += `${name}: ${value}\r\n`;
    }
    if (withBody) {
      if (length >= 0) this.#bodyRemaining = length;
      else {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
    return `${head}${CRLF}`;
  }

  #pipeBody(body: Readable, socket: Socket): void {
    const onData = (chunk: Buffer) => {
      if (this.#finished) return;
      if (this.#bodyRemaining >= 0) {
        if (chunk.length > this.#bodyRemaining) {
          this.#bodyFailed = true;
          this.fail(new Error('request body longer than its Content-Length'));
          return;
        }
        this.#bodyRemaining -= chunk.length;
      }
      if (chunk.length === 0) return;
      let flushed: boolean;
      if (this.#chunked) {
        socket.write(chunkHead(chunk.length), 'latin1');
        socket.write(chunk);
        flushed = socket.write(CRLF, 'latin1');
      } else flushed = socket.write(chunk);
      if (!flushed) {
        body.pause();
        socket.once('drain', onDrain);
      }
    };
    const onDrain = () => {
      if (!this.#finished) body.resume();
    };
    const onEnd = () => {
      cleanup();
      if (this.#finished) return;
      if (this.#bodyRemaining > 0) {
        this.#bodyFailed = true;
        this.fail(new Error('request body shorter than its Content-Length'));
        return;
      }
      if (this.#chunked) socket.write(LAST_CHUNK);
      this.#requestDone = true;
    };
    const onError = (error: Error) => {
      cleanup();
      this.#bodyFailed = true;
      this.fail(error);
    };
    const onAborted = () => onError(new Error('client aborted the request body'));
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('aborted', onAborted);
      socket.off('drain', onDrain);
    };
    this.#cleanupBody = () => {
      cleanup();
      // Whatever the client still sends is read and dropped, so its connection can finish.
      body.resume();
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('aborted', onAborted);
  }

  #cleanupBody: (() => void) | null = null;

  onHead(head: ResponseHead): void {
    if (this.#finished) return;
    if (head.status < 200) {
      if (head.status === 101)
        this.fail(
          new UpstreamProtocolError('the Pod switched protocols unasked', 'UNEXPECTED_101'),
        );
      // 100 Continue and other interim answers are the Pod's business: the client's server
      // answered Expect itself, and the final response follows.
      return;
    }
    this.#status = head.status;
    this.#keepAlive = head.keepAlive;
    const { res, responseHeaders } = this.#call;
    const headers = clientResponseHeaders(head.headers);
    // The Pod's fields passed the strict parser just now: only the policy's are checked here
    // (the handler checked them when the policy returned, but a hook keeps the map after).
    let raw = 'writeCheckedHead' in res ? (res as CheckedHeadWriter) : null;
    if (responseHeaders)
      for (const [key, field] of responseHeaders) {
        // A JavaScript hook may give a list, an object or nothing: the text is checked and
        // written, taken once (the handler checked String(value) too); no value is refused
        // (NUL: writeHead throws on it).
        const name = String(key);
        const value = field === undefined || field === null ? '\0' : String(field);
        if (!isToken(name) || !isWritableValue(value)) raw = null;
        headers.push(name, value);
      }
    if (head.keepAlive) this.#keepAliveHint(head.headers);
    try {
      // Unchecked (node:http's response, or a bad policy field): writeHead checks, and throws.
      if (raw !== null) raw.writeCheckedHead(head.status, head.reason, headers);
      else if (head.reason !== '') res.writeHead(head.status, head.reason, headers);
      else res.writeHead(head.status, headers);
    } catch (error) {
      this.#status = 0;
      this.fail(
        new UpstreamProtocolError('the Pod sent a head the client cannot get', 'INVALID_HEAD', {
          cause: error,
        }),
      );
    }
  }

  /** `Keep-Alive: timeout=N` from the Pod: stop reusing the connection a second before. */
  #keepAliveHint(headers: readonly string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      // `Connection` has the same length: tell them apart before lower-casing anything.
      if (name.length !== 10 || (name.charCodeAt(0) | 0x20) !== 0x6b) continue;
      if (name.toLowerCase() !== 'keep-alive') continue;
      const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(headers[i + 1] as string);
      if (match && this.#connection)
        this.#connection.expiresAt = Date.now() + Number(match[1]) * 1000 - 1000;
    }
  }

  onBody(chunk: Buffer): void {
    if (this.#finished) return;
    const { res } = this.#call;
    if (!res.write(chunk)) {
      const connection = this.#connection;
      if (connection === null) return;
      connection.socket.pause();
      res.once('drain', () => connection.socket.resume());
    }
  }

  onTrailers(fields: string[]): void {
    this.#trailers = fields;
  }

  /** The response ended; `extra`: bytes followed it (or the Pod closed): no reuse. */
  onComplete(extra: boolean): void {
    if (this.#finished) return;
    const { res } = this.#call;
    if (this.#trailers !== null) {
      const out: Record<string, string> = {};
      for (let i = 0; i < this.#trailers.length; i += 2) {
        const name = (this.#trailers[i] as string).toLowerCase();
        if (!FORBIDDEN_TRAILERS.has(name)) out[name] = this.#trailers[i + 1] as string;
      }
      if (Object.keys(out).length > 0) res.addTrailers(out);
    }
    res.end();
    const connection = this.#connection;
    const reusable = this.#keepAlive && this.#requestDone && !extra && connection !== null;
    this.#finish({ status: this.#status });
    if (connection === null) return;
    if (reusable && !connection.socket.destroyed) {
      connection.socket.resume();
      this.#pool.release(connection);
    } else connection.destroy();
  }

  fail(error: Error, kind?: FailureKind): void {
    if (this.#finished) return;
    const connection = this.#connection;
    const responseStarted = this.#status !== 0;
    const failure = kind ?? this.#classify(error, connection);
    this.#finish({
      status: this.#status,
      failure: { kind: failure, error, responseStarted },
    });
    if (connection !== null) connection.destroy();
    else this.#pool.cancel(this);
  }

  #classify(error: Error, connection: Connection | null): FailureKind {
    if (error instanceof ClientGoneError) return 'client-gone';
    if (error instanceof RequestBodyTooLargeError || this.#bodyFailed) return 'request-body';
    if (error instanceof InvalidRequestError) return 'invalid-request';
    if (error instanceof TotalTimeoutError || error instanceof UpstreamTimeoutError)
      return 'timeout';
    const code = (error as { code?: string }).code ?? '';
    if (connection !== null && !connection.connected) {
      if (connection.tcpConnected) return 'tls-handshake';
      return connectFailureKind(code);
    }
    return 'connection-lost';
  }

  #finish(outcome: UpstreamOutcome): void {
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#call.res.off('close', this.#onClientClose);
    this.#cleanupBody?.();
    const connection = this.#connection;
    if (connection !== null && connection.exchange === this) connection.exchange = null;
    this.#engine.ended();
    this.#done(outcome);
  }
}

/** Keep-alive pools per Pod endpoint over raw sockets. */
export class RawEngine implements UpstreamEngine {
  readonly options: RawEngineOptions;
  readonly maxHeadBytes: number | undefined;
  readonly #pools = new Map<string, EndpointPool>();
  #active = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: RawEngineOptions) {
    this.options = options;
    this.maxHeadBytes = options.maxHeadBytes;
  }

  forward(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void): void {
    const { origin, ip, port, tls } = call.endpoint;
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new EndpointPool(this, ip, port, tls);
      this.#pools.set(origin, pool);
    }
    this.#active++;
    pool.acquire(new RawExchange(this, pool, call, done));
  }

  /** One exchange ended (whatever the outcome). */
  ended(): void {
    this.#active--;
    if (this.#active === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  retainOnly(origins: ReadonlySet<string>): void {
    for (const [origin, pool] of this.#pools) {
      if (origins.has(origin)) continue;
      this.#pools.delete(origin);
      // In-flight exchanges finish; their connections close when they do.
      pool.close();
    }
  }

  async close(): Promise<void> {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
    if (this.#active > 0) await new Promise<void>((wake) => this.#idleWaiters.push(wake));
  }
}
