import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { RequestBodyTooLargeError } from './engine.ts';

/**
 * A request body without Content-Length (chunked), passed through a counter that fails the
 * stream once it exceeds the limit. The client's remaining bytes are discarded so a 413 can
 * still be written on the connection before it is closed.
 */
export function limitBody(req: IncomingMessage, limit: number): Transform {
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) {
        req.unpipe(limiter);
        req.resume();
        callback(new RequestBodyTooLargeError(limit));
      } else callback(null, chunk);
    },
  });
  req.on('error', (error) => limiter.destroy(error));
  req.on('aborted', () => limiter.destroy(new Error('client aborted the request body')));
  req.pipe(limiter);
  return limiter;
}
