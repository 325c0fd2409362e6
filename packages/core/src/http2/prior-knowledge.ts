import type { Server, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Http2Front } from './front.ts';

/** RFC 9113 §3.4: what a client with prior knowledge sends first. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Lets the plain HTTP/1.1 server take HTTP/2 with prior knowledge (h2c) on the same port:
 * each new connection's first bytes are compared with the HTTP/2 preface. As soon as they
 * differ (for HTTP/1.1, at the first byte: no method starts with "PRI *") the connection
 * goes, with its bytes put back, to the server's own connection listener, which stays
 * native; a full preface hands it to the HTTP/2 front instead.
 *
 * The server keeps listening itself, so its connection tracking, header timeouts and
 * draining work as before.
 */
export function acceptPriorKnowledge(
  server: Server & { readonly headersTimeout: number },
  front: Http2Front,
): void {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const http1 = (socket: Socket) => {
    for (const listener of listeners) listener.call(server, socket);
  };
  server.on('connection', (socket: Socket) => {
    // HTTPS connections arrive here with their protocol already chosen by ALPN.
    if ((socket as Partial<TLSSocket>).encrypted === true) {
      http1(socket);
      return;
    }
    let head: Buffer = Buffer.alloc(0);
    const decide = (h2: boolean) => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.setTimeout(0);
      socket.pause();
      if (h2) {
        front.accept(replaying(socket, head), socket);
        return;
      }
      socket.unshift(head);
      http1(socket);
      socket.resume();
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const h2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (!h2 || head.length >= H2_PREFACE.length) decide(h2);
    };
    // Until a server owns the socket, its errors (a reset) and silence end it here.
    const onError = () => socket.destroy();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.setTimeout(server.headersTimeout || 60_000, () => socket.destroy());
  });
}

/**
 * The socket as a stream that first yields the bytes already read. Node's HTTP/2 session
 * reads a native socket's handle directly, so bytes put back with `unshift` would be lost;
 * a JavaScript stream is read through its interface instead.
 */
function replaying(socket: Socket, head: Buffer): Duplex {
  socket.setTimeout(0);
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      socket.write(chunk, done);
    },
    final(done) {
      socket.end(done);
    },
    destroy(error, done) {
      socket.destroy(error ?? undefined);
      done(error);
    },
  });
  stream.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('error', (error) => stream.destroy(error));
  socket.on('close', () => stream.destroy());
  return stream;
}
