import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  constants,
  createServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Sends, SendWatch } from '../server/send-timeout.ts';
import { adaptExchange } from './adapt.ts';

export interface Http2FrontOptions {
  /** MAX_HEADER_SIZE: the largest header list a client may send. */
  readonly maxHeaderSize: number;
  /** CLIENT_KEEPALIVE_TIMEOUT: an idle session is closed (GOAWAY) after this long. */
  readonly idleTimeoutMs: number;
  /** The router's request listener, the one plain HTTP/1.1 requests go to. */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** The listener for requests with `Expect: 100-continue` (the 100 goes out only once the
   * policy accepted them); without it, Node answers 100 at once. */
  readonly onCheckContinue?: (req: IncomingMessage, res: ServerResponse) => void;
  /** CLIENT_SEND_TIMEOUT, per stream; 0 or absent = none. */
  readonly sendTimeoutMs?: number;
  /** A stream was reset by CLIENT_SEND_TIMEOUT. */
  readonly onSendTimeout?: () => void;
}

/** The most a stream is handed in one write (see `#watch`). */
const STREAM_PIECE = 16 * 1024;

/** Streams a client may open at once on one session (Node's default is unbounded). */
const MAX_CONCURRENT_STREAMS = 128;

/**
 * Serves HTTP/2 sessions on connections someone else accepted (the TLS listener, after ALPN
 * chose h2): each request is adapted (adapt.ts) and handed to the router's request listener,
 * so HTTP/2 takes the same path as HTTP/1.1. Sessions are tracked so a shutdown can send
 * GOAWAY and let their streams finish.
 */
export class Http2Front {
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  /** The TCP socket under a session whose transport is a JavaScript stream (h2c). */
  readonly #peers = new WeakMap<object, Socket>();
  readonly #peerOfSession = new WeakMap<ServerHttp2Session, Socket>();
  /**
   * CLIENT_SEND_TIMEOUT for each stream: HTTP/2 flow control stops a stream whose client
   * reads nothing (its window stays closed), and the handler's backpressure then holds the
   * answer and the Pod exchange behind it for good. Such a stream is reset (RST_STREAM
   * CANCEL), which lets the exchange go; the session and its other streams go on.
   */
  readonly #sends: SendWatch<ServerHttp2Stream>;

  constructor(options: Http2FrontOptions) {
    this.#sends = new SendWatch(options.sendTimeoutMs ?? 0, (stream) => {
      stream.close(constants.NGHTTP2_CANCEL);
      options.onSendTimeout?.();
    });
    const adapted =
      (listener: (req: IncomingMessage, res: ServerResponse) => void) =>
      (req: Http2ServerRequest, res: Http2ServerResponse) => {
        const exchange = adaptExchange(
          req,
          res,
          this.#peerOfSession.get(req.stream.session as ServerHttp2Session),
        );
        if ('refuse' in exchange) {
          res.writeHead(exchange.refuse, { 'content-length': '0' });
          res.end();
          return;
        }
        listener(exchange.req, exchange.res);
      };
    this.#server = createServer(
      {
        maxSessionInvalidFrames: 100,
        maxSessionRejectedStreams: 100,
        settings: {
          maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
          maxHeaderListSize: options.maxHeaderSize,
        },
      },
      adapted(options.onRequest),
    );
    if (options.onCheckContinue) {
      this.#server.on('checkContinue', adapted(options.onCheckContinue));
    }
    if (options.sendTimeoutMs) this.#server.on('stream', (stream) => this.#watch(stream));
    this.#server.on('session', (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      // Node wraps a JavaScript stream in a socket of its own, which knows no addresses.
      const transport = (session.socket as unknown as { stream?: object }).stream;
      const peer = transport === undefined ? undefined : this.#peers.get(transport);
      if (peer !== undefined) this.#peerOfSession.set(session, peer);
      session.once('close', () => this.#sessions.delete(session));
      session.setTimeout(options.idleTimeoutMs, () => session.close());
      // A session error (a protocol violation by the client) ends that session only.
      session.on('error', () => session.destroy());
    });
  }

  /**
   * Watches what the stream is handed and what its client's window lets out. Node completes
   * a stream's write only once its client's window took all of it, and batches the writes
   * queued meanwhile into one: a 64 KiB chunk of a Pod's answer would show no progress to a
   * client reading a few KiB a second, steadily, and be reset. So a chunk goes down in pieces
   * of one DATA frame at most (16 KiB, SETTINGS_MAX_FRAME_SIZE's least), each its own write.
   */
  #watch(stream: ServerHttp2Stream): void {
    let handed = 0;
    const write = stream.write as (...args: unknown[]) => boolean;
    const end = stream.end as (...args: unknown[]) => ServerHttp2Stream;
    // One write per piece, completed as the window takes it (`_writev` would join them).
    (stream as { _writev?: unknown })._writev = null;
    const writePieces = (chunk: unknown, rest: unknown[]): boolean => {
      // Counted in writableLength's unit: a chunk's length (bytes, or characters for a string).
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) handed += chunk.length;
      if (!(chunk instanceof Uint8Array) || chunk.length <= STREAM_PIECE)
        return write.call(stream, chunk, ...rest);
      let at = 0;
      for (; at + STREAM_PIECE < chunk.length; at += STREAM_PIECE)
        write.call(stream, chunk.subarray(at, at + STREAM_PIECE));
      return write.call(stream, chunk.subarray(at), ...rest);
    };
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      writePieces(chunk, rest)) as typeof stream.write;
    stream.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function')
        return end.call(stream, chunk, ...rest);
      // end(chunk, [encoding], [callback]): the chunk as a write, then the end.
      const callback = rest.find((arg) => typeof arg === 'function');
      writePieces(
        chunk,
        rest.filter((arg) => typeof arg === 'string'),
      );
      return callback === undefined ? end.call(stream) : end.call(stream, callback);
    }) as typeof stream.end;
    const sends: Sends = {
      get bytesWritten() {
        return handed;
      },
      get writableLength() {
        return stream.writableLength;
      },
    };
    this.#sends.add(stream, sends);
    stream.once('close', () => this.#sends.delete(stream));
  }

  /** Takes over a connection whose first bytes are HTTP/2 (after TLS with ALPN h2, or a
   * stream replaying an h2c preface; `peer` is then the TCP socket under it). */
  accept(socket: Duplex, peer?: Socket): void {
    if (peer !== undefined) this.#peers.set(socket, peer);
    this.#server.emit('connection', socket);
  }

  /** GOAWAY to every session: open streams finish, no new ones start. */
  close(): void {
    for (const session of this.#sessions) session.close();
  }

  /** Ends every session at once (the shutdown timeout has passed). */
  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }

  get sessions(): number {
    return this.#sessions.size;
  }
}
