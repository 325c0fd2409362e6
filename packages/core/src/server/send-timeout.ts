import type { Socket } from 'node:net';

/**
 * CLIENT_SEND_TIMEOUT (nginx `send_timeout`): the longest time between two successful writes
 * to a client. A client that stops reading its answers (or pipelines requests and reads none)
 * would otherwise hold its connection, the answer buffered for it and the Pod exchange behind
 * it for good: the request path's backpressure stops, it does not give up.
 *
 * Progress is the bytes the kernel took: `bytesWritten` (handed to the socket) less
 * `writableLength` (not yet written). It is read by each server's sweep (once a second), so
 * one write must be taken whole within the timeout, give or take a second.
 */
export interface SendProgress {
  /** Bytes the kernel had taken at the last sweep that saw progress. */
  sentBytes: number;
  /** When that sweep ran, or the last sweep that found nothing waiting. */
  sentAt: number;
}

/** Whether `socket` has had bytes waiting, none of them taken, for longer than `timeoutMs`. */
export function sendStalled(
  socket: Socket,
  progress: SendProgress,
  now: number,
  timeoutMs: number,
): boolean {
  const waiting = socket.writableLength;
  if (waiting === 0) {
    progress.sentAt = now;
    return false;
  }
  const sent = socket.bytesWritten - waiting;
  if (sent !== progress.sentBytes) {
    progress.sentBytes = sent;
    progress.sentAt = now;
    return false;
  }
  return now - progress.sentAt > timeoutMs;
}
