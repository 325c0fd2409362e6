import type { Socket } from 'node:net';

/**
 * A request body the router no longer needs (it answered early: a Pod's or the policy's 401
 * before the body ended, a 413) is read and dropped, but only so much: a client must not keep
 * the router reading an endless body. nginx bounds the same discard by time (`lingering_time`
 * 30 s in all, `lingering_timeout` 5 s between reads); a byte bound keeps a fast client from
 * making it read gigabytes within that time.
 */
export const DISCARD_MAX_BYTES = 1024 * 1024;
export const DISCARD_MAX_MS = 30_000;
/** Longest wait for the next byte of a body dropped while closing (nginx `lingering_timeout`). */
const LINGER_TIMEOUT_MS = 5000;

/**
 * Closes a connection whose request body was not read to its end (nginx `lingering_close`):
 * the answer already written goes out, then a FIN, and what the client still sends is read
 * and dropped (at most DISCARD_MAX_BYTES, DISCARD_MAX_MS in all, LINGER_TIMEOUT_MS between
 * reads) until it closes too. Destroying the socket at once would answer the unread bytes
 * with an RST, and an RST makes the client's kernel drop the answer it has not read yet.
 */
export function closeLingering(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  let read = 0;
  const giveUp = () => socket.destroy();
  const idle = setTimeout(giveUp, LINGER_TIMEOUT_MS);
  const total = setTimeout(giveUp, DISCARD_MAX_MS);
  idle.unref();
  total.unref();
  socket.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > DISCARD_MAX_BYTES) giveUp();
    else idle.refresh();
  });
  socket.once('close', () => {
    clearTimeout(idle);
    clearTimeout(total);
  });
  socket.resume();
}
