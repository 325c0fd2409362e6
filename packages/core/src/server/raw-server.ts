import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Http1Parser, type RequestHead } from '../http1/parser.ts';
import { headTooLarge, Problems, writeRawProblem } from '../proxy/problem.ts';
import type { ClientHandlers } from './client-contract.ts';
import { expectsContinueOnly, refuseExpectation } from './expect.ts';
import { closeLingering, DISCARD_MAX_BYTES, DISCARD_MAX_MS } from './linger.ts';
import { RawRequest } from './raw-request.ts';
import { RawResponse, type ResponseOwner } from './raw-response.ts';
import { type SendProgress, sendStalled } from './send-timeout.ts';

type AsNode<T> = T extends RawRequest ? IncomingMessage : ServerResponse;
/** The raw objects carry the part of node's the request path uses (see raw-request.ts). */
const asNode = <T extends RawRequest | RawResponse>(value: T) => value as unknown as AsNode<T>;

/**
 * The client side of podrouter on raw sockets (SERVER_ENGINE=raw): requests read by the
 * strict parser in `http1/` and handed to the same handler as node:http's, as small objects
 * with the subset of IncomingMessage/ServerResponse it uses (`raw-request.ts`,
 * `raw-response.ts`).
 *
 * One exchange at a time per connection: once a request's body has been read, the parser
 * stops until its response has ended, so pipelined requests are answered in order and the
 * bytes of the next request wait in the socket (backpressure, not an unbounded queue).
 * Timeouts are checked by one sweep over the connections (at most once a second, like the
 * node:http engine): the head (CLIENT_HEADER_TIMEOUT, from its first byte; 408), the idle
 * keep-alive (CLIENT_KEEPALIVE_TIMEOUT, closed silently), the rest of a body nobody read,
 * and answers the client does not read (CLIENT_SEND_TIMEOUT, `send-timeout.ts`).
 */

export interface RawServerOptions {
  readonly maxHeaderSize: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** Longest gap in a body the router discards after answering early; 0 = keep-alive's. */
  readonly bodyTimeoutMs: number;
  /** Longest time between two successful writes to the client; 0 or absent = none. */
  readonly sendTimeoutMs?: number;
  /** A connection was closed by CLIENT_SEND_TIMEOUT (counted by the router). */
  readonly onSendTimeout?: () => void;
}

const MAX_FIELDS = 2000;

const Phase = {
  /** Waiting for (the rest of) a head; the header timeout runs. */
  Head: 0,
  /** A request is being answered. */
  Busy: 1,
  /** The response ended before the request body: the rest is read and dropped. */
  Dump: 2,
  /** Between requests; the keep-alive timeout runs. */
  Idle: 3,
  /** Closing or handed over (upgrade): nothing more is parsed. */
  Done: 4,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Status for a request the parser refused: too large → 431, anything else → 400 (as node:http). */
const tooLarge = new Set(['HEAD_TOO_LARGE', 'TOO_MANY_FIELDS', 'TRAILERS_TOO_LARGE']);

class Connection implements ResponseOwner, SendProgress {
  readonly socket: Socket;
  readonly #server: RawHttpServer;
  readonly #parser: Http1Parser<RequestHead>;
  phase: Phase = Phase.Head as Phase;
  /** When the current phase started (or, while dumping, the last body byte arrived). */
  since = Date.now();
  sentBytes = 0;
  sentAt = this.since;
  #req: RawRequest | null = null;
  #res: RawResponse | null = null;
  /** Set by the parser's callbacks, acted on after `execute()` returns. */
  #arrived: RawRequest | null = null;
  #upgrade = false;
  #completed = false;
  #requestEnded = false;
  #responseEnded = false;
  #bodyPaused = false;
  #feeding = false;
  /** Bytes of the next requests, kept until the current response ends. */
  #backlog: Buffer | null = null;
  /** The client is not reading its answers: no request is parsed until the socket drains. */
  #waitingDrain = false;
  /** Bytes read and dropped since the Dump phase began, and when it began. */
  #discarded = 0;
  #dumpStarted = 0;

  constructor(server: RawHttpServer, socket: Socket) {
    this.#server = server;
    this.socket = socket;
    this.#parser = new Http1Parser<RequestHead>(
      'request',
      {
        onHead: (head) => {
          const req = new RawRequest(head, socket, this.#wantMore);
          this.#arrived = req;
          this.#req = req;
          this.#requestEnded = false;
          this.#responseEnded = false;
          if (head.upgrade && server.handlers.shouldUpgrade(asNode(req))) {
            this.#upgrade = true;
            // The bytes after this head belong to the tunnel, not to this parser.
            this.#parser.pause();
          }
        },
        onBody: (chunk) => {
          const req = this.#req;
          if (req === null || this.phase === Phase.Dump) return;
          if (!req.push(chunk) && !this.#bodyPaused) {
            this.#bodyPaused = true;
            socket.pause();
          }
        },
        onTrailers: (fields) => {
          const req = this.#req;
          if (req === null) return;
          (req as { rawTrailers?: string[] }).rawTrailers = fields;
        },
        onComplete: () => {
          this.#completed = true;
          // The next request waits until this one is answered.
          this.#parser.pause();
        },
      },
      { maxHeadBytes: server.options.maxHeaderSize, maxFields: MAX_FIELDS },
    );
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** No request in flight and no answer still going out (draining closes these). */
  get idle(): boolean {
    return (
      (this.phase === Phase.Idle || this.phase === Phase.Head) && this.socket.writableLength === 0
    );
  }

  #wantMore = () => {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    if (this.#backlog === null && !this.#waitingDrain && this.phase !== Phase.Done)
      this.socket.resume();
  };

  #onData = (chunk: Buffer) => {
    if (this.phase === Phase.Done) return;
    if (
      this.#backlog !== null ||
      this.#waitingDrain ||
      (this.#requestEnded && !this.#responseEnded)
    ) {
      // The current request is read, its answer not yet written (or not yet read by the
      // client): the next one waits.
      this.#backlog = this.#backlog === null ? chunk : Buffer.concat([this.#backlog, chunk]);
      this.socket.pause();
      return;
    }
    // A head that starts here is timed only if it is still incomplete once this read is
    // parsed (no timeout runs while a request is answered): a whole head costs no clock read.
    const headStarts = this.phase === Phase.Idle;
    if (headStarts) this.phase = Phase.Head;
    else if (this.phase === Phase.Dump) {
      this.since = Date.now();
      this.#discarded += chunk.length;
      if (this.#discarded > DISCARD_MAX_BYTES || this.since - this.#dumpStarted > DISCARD_MAX_MS) {
        this.#finish();
        closeLingering(this.socket);
        return;
      }
    }
    this.#feed(chunk);
    if (headStarts && this.phase === Phase.Head) this.since = Date.now();
  };

  #feed(data: Buffer): void {
    this.#feeding = true;
    let rest = data;
    while (rest.length > 0) {
      const used = this.#parser.execute(rest);
      if (used < 0) {
        this.#feeding = false;
        this.#refused();
        return;
      }
      rest = rest.subarray(used);
      const arrived = this.#arrived;
      this.#arrived = null;
      if (arrived !== null && this.#upgrade) {
        this.#feeding = false;
        this.#handOver(arrived, rest);
        return;
      }
      const completed = this.#completed;
      this.#completed = false;
      if (completed) {
        const req = this.#req;
        if (req !== null) req.bodyEnded();
        this.#requestEnded = true;
      }
      if (arrived !== null) this.#dispatch(arrived);
      if (this.phase === Phase.Done || !completed) break;
      if (!this.#responseEnded) {
        // Pipelined bytes wait for this response.
        if (rest.length > 0) {
          this.#backlog = Buffer.from(rest);
          this.socket.pause();
        }
        this.#feeding = false;
        return;
      }
      this.#between();
      if (this.socket.writableNeedDrain) {
        this.#awaitDrain(rest);
        this.#feeding = false;
        return;
      }
    }
    this.#feeding = false;
    if (this.phase === Phase.Idle && !this.#parser.idle) {
      this.phase = Phase.Head;
      this.since = Date.now();
    }
  }

  /** Ready for the next request. */
  #between(): void {
    this.#req = null;
    this.#res = null;
    this.#requestEnded = false;
    this.#responseEnded = false;
    this.phase = Phase.Idle;
    this.since = Date.now();
    this.#parser.resume();
  }

  /**
   * The answers written so far fill the socket: the client is not reading them. The next
   * request waits for the drain (as node:http's server pauses), else a client that pipelines
   * requests and never reads would have every answer queued in memory.
   */
  #awaitDrain(rest: Buffer): void {
    if (rest.length > 0)
      this.#backlog =
        this.#backlog === null ? Buffer.from(rest) : Buffer.concat([rest, this.#backlog]);
    this.#waitingDrain = true;
    this.socket.pause();
    this.socket.once('drain', this.#onDrain);
  }

  #onDrain = () => {
    this.#waitingDrain = false;
    if (this.phase !== Phase.Done) this.#continue();
  };

  /** Parses the requests that waited (pipelined bytes), then reads on. */
  #continue(): void {
    if (this.socket.writableNeedDrain) {
      this.#awaitDrain(Buffer.alloc(0));
      return;
    }
    const backlog = this.#backlog;
    if (backlog !== null) {
      this.#backlog = null;
      this.phase = Phase.Head;
      this.#feed(backlog);
    }
    if (this.#backlog === null && !this.#waitingDrain && this.phase !== Phase.Done)
      this.socket.resume();
  }

  #dispatch(req: RawRequest): void {
    this.phase = Phase.Busy;
    const res = new RawResponse(req, this.socket, this);
    this.#res = res;
    const handlers = this.#server.handlers;
    const expect = req.headers.expect;
    if (expect === undefined || req.httpVersionMinor !== 1)
      handlers.onRequest(asNode(req), asNode(res));
    else if (expectsContinueOnly(expect)) handlers.onCheckContinue(asNode(req), asNode(res));
    else refuseExpectation(asNode(res));
  }

  /** An upgrade the handler takes: the socket is its own from here. */
  #handOver(req: RawRequest, rest: Buffer): void {
    this.#finish();
    this.#detach();
    // Not flowing without a reader, as node:http leaves it: what the client sends before
    // the tunnel opens waits in the socket instead of being emitted to nobody.
    this.socket.pause();
    this.#server.forget(this);
    if (this.#completed) {
      this.#completed = false;
      req.bodyEnded();
    }
    this.#server.handlers.onUpgrade(asNode(req), this.socket, Buffer.from(rest));
  }

  #detach(): void {
    const socket = this.socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
  }

  /** The parser refused the bytes: the connection is out of step with the client. */
  #refused(): void {
    const error = this.#parser.error;
    const req = this.#req;
    this.#finish();
    if (req !== null && !this.#requestEnded) {
      // A broken body: the exchange fails with it, and the client gets a 400 if nothing
      // was answered yet (as node:http's clientError does).
      req.abort(error ?? new Error('invalid request body'));
      const res = this.#res;
      // Not dispatched yet (the error came in the same read as the head): answered here.
      if (res !== null && !res.abandon()) {
        this.socket.destroy();
        return;
      }
    }
    writeRawProblem(
      this.socket,
      error !== null && tooLarge.has(error.code)
        ? headTooLarge(this.#server.options.maxHeaderSize)
        : Problems.badRequest,
    );
  }

  responseEnded(res: RawResponse, close: boolean): void {
    if (res !== this.#res) return;
    this.#responseEnded = true;
    if (close) {
      // Closed once the response is flushed, whether or not the client closes its side (as
      // node:http does): a draining router does not wait for its clients. A body still
      // coming is dropped for a bounded while first, so the answer is not lost to an RST.
      this.#finish();
      if (this.#requestEnded) this.socket.destroySoon();
      else closeLingering(this.socket);
      return;
    }
    if (!this.#requestEnded) {
      // Answered before the body ended (413, 401, an early Pod answer): read and drop the
      // rest so the next request starts where this one ends.
      this.phase = Phase.Dump;
      this.since = Date.now();
      this.#dumpStarted = this.since;
      this.#discarded = 0;
      const req = this.#req;
      if (req !== null) {
        req.unpipe();
        req.removeAllListeners('data');
        req.resume();
      }
      if (this.#bodyPaused) {
        this.#bodyPaused = false;
        this.socket.resume();
      }
      return;
    }
    if (this.#feeding) return;
    this.#between();
    this.#continue();
  }

  /** Nothing more is read; the connection closes (it is given at most a header timeout). */
  #finish(): void {
    this.phase = Phase.Done;
    this.since = Date.now();
  }

  /** The sweep found the connection past one of its deadlines. */
  expire(now: number): void {
    const {
      headersTimeoutMs,
      keepAliveTimeoutMs,
      bodyTimeoutMs,
      sendTimeoutMs = 0,
    } = this.#server.options;
    if (sendTimeoutMs > 0 && sendStalled(this.socket, this, now, sendTimeoutMs)) {
      // The client reads none of what it asked for: whatever it holds (an answer queued, a
      // Pod exchange paused behind it) is let go; the exchange in flight sees its client go.
      this.#finish();
      this.socket.destroy();
      this.#server.options.onSendTimeout?.();
      return;
    }
    if (
      this.socket.writableLength > 0 &&
      (this.phase === Phase.Idle || this.phase === Phase.Done)
    ) {
      // An answer is still going out to a slow reader: its keep-alive (or closing) time
      // starts once it is written, as node:http's starts at the response's `finish`.
      this.since = now;
      return;
    }
    const waited = now - this.since;
    if (this.phase === Phase.Head && headersTimeoutMs > 0 && waited > headersTimeoutMs) {
      this.#finish();
      writeRawProblem(this.socket, Problems.requestTimeout);
    } else if (this.phase === Phase.Idle && keepAliveTimeoutMs > 0 && waited > keepAliveTimeoutMs) {
      this.#finish();
      this.socket.destroy();
    } else if (this.phase === Phase.Dump && now - this.#dumpStarted > DISCARD_MAX_MS) {
      this.#finish();
      closeLingering(this.socket);
    } else if (this.phase === Phase.Dump && waited > (bodyTimeoutMs || keepAliveTimeoutMs)) {
      this.#finish();
      this.socket.destroy();
    } else if (this.phase === Phase.Done && waited > (headersTimeoutMs || keepAliveTimeoutMs)) {
      // Refused or answered with close, and the client keeps its side open: cut it.
      this.socket.destroy();
    }
  }

  #onEnd = () => {
    // A client that closes its side is gone (as with node:http): an exchange in flight ends.
    if (this.#req !== null && !this.#responseEnded) this.socket.destroy();
    else this.socket.end();
  };

  #onError = () => {
    this.socket.destroy();
  };

  #onClose = () => {
    this.#finish();
    this.#server.forget(this);
    const req = this.#req;
    if (req !== null && !this.#requestEnded) {
      const error = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      req.abort(error);
    }
    this.#res?.closed();
  };
}

/**
 * A `net.Server` that speaks HTTP/1.1 through podrouter's parser. It keeps node:http's
 * surface the router uses (`listen`, `close`, `closeIdleConnections`,
 * `closeAllConnections`, a `connection` event other listeners (TLS, h2c) can emit into).
 */
export class RawHttpServer extends NetServer {
  readonly handlers: ClientHandlers;
  readonly options: RawServerOptions;
  readonly headersTimeout: number;
  readonly #connections = new Set<Connection>();
  readonly #sweep: NodeJS.Timeout;

  constructor(options: RawServerOptions, handlers: ClientHandlers) {
    super({ noDelay: true });
    this.options = options;
    this.handlers = handlers;
    this.headersTimeout = options.headersTimeoutMs;
    this.on('connection', (socket: Socket) => {
      this.#connections.add(new Connection(this, socket));
    });
    const every = Math.max(
      10,
      Math.min(
        1000,
        options.headersTimeoutMs || 1000,
        options.keepAliveTimeoutMs || 1000,
        options.bodyTimeoutMs || 1000,
        options.sendTimeoutMs || 1000,
      ),
    );
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const connection of this.#connections) connection.expire(now);
    }, every);
    this.#sweep.unref();
    this.once('close', () => clearInterval(this.#sweep));
  }

  forget(connection: Connection): void {
    this.#connections.delete(connection);
  }

  /** Closes every connection that has no request in flight (draining). */
  closeIdleConnections(): void {
    for (const connection of this.#connections) {
      if (connection.idle) connection.socket.destroy();
    }
  }

  closeAllConnections(): void {
    for (const connection of this.#connections) connection.socket.destroy();
  }
}
