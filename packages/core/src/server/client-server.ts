import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { headTooLarge, Problems, writeRawProblem } from '../proxy/problem.ts';
import type { ClientHandlers } from './client-contract.ts';
import { expectsContinueOnly, refuseExpectation } from './expect.ts';
import { closeLingering, DISCARD_MAX_BYTES, DISCARD_MAX_MS } from './linger.ts';
import { RawHttpServer } from './raw-server.ts';
import { type SendProgress, sendStalled } from './send-timeout.ts';

/**
 * The HTTP/1.1 server clients talk to, behind one interface (SERVER_ENGINE): node:http, or
 * podrouter's own on raw sockets (`raw-server.ts`). Both hand the same handler the same
 * calls; the raw one with objects that have the subset of IncomingMessage/ServerResponse
 * the request path uses, typed as node's so the handler is unchanged.
 */

export type ServerEngine = 'node' | 'raw';

export interface ClientServerOptions {
  readonly engine: ServerEngine;
  readonly maxHeaderSize: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** CLIENT_SEND_TIMEOUT; 0 or absent = none. */
  readonly sendTimeoutMs?: number;
  /** A connection was closed by CLIENT_SEND_TIMEOUT. */
  readonly onSendTimeout?: () => void;
}

/**
 * What the router, the TLS listener and the h2c detection use of either server: a
 * `net.Server` whose `connection` event others may emit into, with node:http's draining calls.
 */
export interface ClientServer extends NetServer {
  readonly headersTimeout: number;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

/**
 * Node checks header and request timeouts only this often (30 s by default, so a 2 s
 * CLIENT_HEADER_TIMEOUT fired after ~29 s). Once a second holds every timeout to within a
 * second, at the cost of one sweep of the connection list per second.
 */
const CONNECTIONS_CHECK_MS = 1000;

export function createClientServer(
  options: ClientServerOptions,
  handlers: ClientHandlers,
): ClientServer {
  if (options.engine === 'raw') {
    return new RawHttpServer(
      {
        maxHeaderSize: options.maxHeaderSize,
        keepAliveTimeoutMs: options.keepAliveTimeoutMs,
        headersTimeoutMs: options.headersTimeoutMs,
        bodyTimeoutMs: options.bodyTimeoutMs,
        ...(options.sendTimeoutMs ? { sendTimeoutMs: options.sendTimeoutMs } : {}),
        ...(options.onSendTimeout ? { onSendTimeout: options.onSendTimeout } : {}),
      },
      handlers,
    );
  }
  return nodeServer(options, handlers);
}

function nodeServer(options: ClientServerOptions, handlers: ClientHandlers): ClientServer {
  const server = createServer(
    {
      maxHeaderSize: options.maxHeaderSize,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, options.headersTimeoutMs),
      shouldUpgradeCallback: handlers.shouldUpgrade,
    },
    handlers.onRequest,
  );
  // node:http sends here every value with the word `100-continue` in it (`foo, 100-continue`).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (expectsContinueOnly(req.headers.expect ?? '')) handlers.onCheckContinue(req, res);
    else refuseExpectation(res);
  });
  server.on('request', boundDiscard);
  server.on('checkContinue', boundDiscard);
  const watched = watchSends(server, options);
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // A tunnel is the WebSocket proxy's from here, as with the raw server.
    watched?.delete(socket);
    handlers.onUpgrade(req, socket, head);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      writeRawProblem(socket, headTooLarge(options.maxHeaderSize));
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      writeRawProblem(socket, Problems.requestTimeout);
    } else if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
    } else {
      writeRawProblem(socket, Problems.badRequest);
    }
  });
  return server;
}

/**
 * The raw server's bounds (`linger.ts`) on a body node:http drops after an early answer:
 * node:http reads and drops the rest of it for as long as it comes, and destroys the
 * connection after an answer with `Connection: close` at once, so an RST over the unread
 * bytes can cost the client the answer.
 */
function boundDiscard(req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    const socket = req.socket;
    if (req.complete || socket.destroyed) return;
    if (socket.writableEnded) {
      // node:http's destroySoon(): destroyed once the answer is written. Linger instead.
      socket.removeListener('finish', socket.destroy);
      closeLingering(socket);
      return;
    }
    let discarded = 0;
    const done = () => {
      clearTimeout(timer);
      socket.off('data', count);
    };
    const stop = () => {
      done();
      closeLingering(socket);
    };
    const count = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_MAX_BYTES) stop();
    };
    const timer = setTimeout(stop, DISCARD_MAX_MS);
    timer.unref();
    socket.on('data', count);
    req.once('end', done);
    socket.once('close', done);
  });
}

/**
 * CLIENT_SEND_TIMEOUT for node:http, which has none (its `timeout` is an inactivity timer that
 * a client's own bytes reset): the raw server's sweep, over node:http's connections.
 */
function watchSends(
  server: NetServer,
  options: ClientServerOptions,
): Map<Socket, SendProgress> | undefined {
  const timeoutMs = options.sendTimeoutMs ?? 0;
  if (timeoutMs <= 0) return undefined;
  const watched = new Map<Socket, SendProgress>();
  server.on('connection', (socket: Socket) => {
    watched.set(socket, { sentBytes: 0, sentAt: Date.now() });
    socket.once('close', () => watched.delete(socket));
  });
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [socket, progress] of watched) {
        if (!sendStalled(socket, progress, now, timeoutMs)) continue;
        watched.delete(socket);
        socket.destroy();
        options.onSendTimeout?.();
      }
    },
    Math.max(10, Math.min(CONNECTIONS_CHECK_MS, timeoutMs)),
  );
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  return watched;
}
