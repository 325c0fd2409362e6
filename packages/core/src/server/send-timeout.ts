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

/**
 * What a send timeout reads of a socket or a stream: bytes handed to it so far, and those of
 * them not yet taken (by the kernel, or for an HTTP/2 stream by the peer's flow-control window).
 */
export interface Sends {
  readonly bytesWritten: number;
  readonly writableLength: number;
}

/** Whether `socket` has had bytes waiting, none of them taken, for longer than `timeoutMs`. */
export function sendStalled(
  socket: Sends,
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

/**
 * The send timeout over a set of long-lived sends that no server sweep covers (HTTP/2 streams,
 * open WebSocket tunnels): one timer for all of them, running only while there are any. A
 * send with bytes waiting and none taken for longer than `timeoutMs` is handed to `onStall`
 * once, and no longer watched.
 */
export class SendWatch<T> {
  readonly #timeoutMs: number;
  readonly #onStall: (item: T) => void;
  readonly #watched = new Map<T, { sends: Sends; progress: SendProgress }>();
  #timer: NodeJS.Timeout | undefined;

  /** `timeoutMs` 0 watches nothing. */
  constructor(timeoutMs: number, onStall: (item: T) => void) {
    this.#timeoutMs = timeoutMs;
    this.#onStall = onStall;
  }

  add(item: T, sends: Sends): void {
    if (this.#timeoutMs <= 0) return;
    this.#watched.set(item, { sends, progress: { sentBytes: 0, sentAt: Date.now() } });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), Math.max(10, Math.min(1000, this.#timeoutMs)));
      this.#timer.unref();
    }
  }

  delete(item: T): void {
    this.#watched.delete(item);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  get size(): number {
    return this.#watched.size;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [item, { sends, progress }] of this.#watched) {
      if (!sendStalled(sends, progress, now, this.#timeoutMs)) continue;
      this.delete(item);
      this.#onStall(item);
    }
  }
}
