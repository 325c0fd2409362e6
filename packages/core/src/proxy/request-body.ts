import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { ClientBodyTimeoutError, RequestBodyTooLargeError } from './engine.ts';

export interface BodyGuardOptions {
  /** Largest body in bytes; 0 = unlimited. */
  readonly maxBytes: number;
  /** Longest wait for the next body byte (nginx `client_body_timeout`); 0 = none. */
  readonly idleTimeoutMs: number;
}

/**
 * The request body as the upstream reads it: counted against the size limit (a chunked body
 * has no length to check up front) and timed between two reads, so a client that stalls
 * its body fails the exchange, and the upstream request is aborted and its connection
 * freed, instead of holding that connection for as long as it likes. Node's server and
 * undici time only the head, not the body.
 */
export function guardBody(req: IncomingMessage, options: BodyGuardOptions): Transform {
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  if (options.idleTimeoutMs > 0) {
    timer = setTimeout(() => {
      // Paused by backpressure: the upstream is slow, not the client.
      if (req.readableFlowing === false && !req.readableEnded) timer?.refresh();
      else guard.destroy(new ClientBodyTimeoutError(options.idleTimeoutMs));
    }, options.idleTimeoutMs);
    req.on('data', () => timer?.refresh());
    req.once('end', () => clearTimeout(timer));
  }
  const guard: Transform = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (options.maxBytes > 0 && seen > options.maxBytes) {
        req.unpipe(guard);
        // Discard the rest so a 413 can still be written before the connection closes.
        req.resume();
        callback(new RequestBodyTooLargeError(options.maxBytes));
        return;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      clearTimeout(timer);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  // The engine stops listening once its exchange ended (the client went away, say); an error
  // the guard emits after that (the client's `aborted`) must not become an uncaught
  // exception that ends the process. Found by test/http1/server-engines.test.ts.
  guard.on('error', () => undefined);
  req.on('error', (error) => guard.destroy(error));
  req.on('aborted', () => guard.destroy(new Error('client aborted the request body')));
  req.pipe(guard);
  return guard;
}
