import type { IncomingMessage } from 'node:http';

/**
 * What the router needs to know about gRPC (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * how to tell a gRPC request, how long its caller will wait, and which status code a
 * gRPC client should read for each of the router's own answers.
 */

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web…` are all gRPC. */
export const isGrpcRequest = (req: IncomingMessage): boolean => {
  const type = req.headers['content-type'];
  return typeof type === 'string' && type.toLowerCase().startsWith('application/grpc');
};

/** True when the client said it reads trailers (`TE: trailers`, required of gRPC clients). */
export const acceptsTrailers = (req: IncomingMessage): boolean =>
  req.httpVersionMajor >= 2 ||
  String(req.headers.te ?? '')
    .split(',')
    .some((token) => token.trim().toLowerCase().split(';')[0] === 'trailers');

const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * `grpc-timeout` in ms (`1-8 digits` + unit H/M/S/m/u/n), or undefined when absent or
 * malformed (a malformed one is ignored rather than refused, as gRPC servers do).
 * A sub-millisecond timeout rounds up to 1 ms: the call has (almost) no time, not all of it.
 */
export function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const ms = Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  return Math.max(1, Math.ceil(ms));
}

/** The deadline for an exchange: the router's own, shortened by the caller's `grpc-timeout`. */
export function exchangeDeadlineMs(req: IncomingMessage, totalTimeoutMs: number): number {
  if (!isGrpcRequest(req)) return totalTimeoutMs;
  const caller = grpcTimeoutMs(req.headers['grpc-timeout']);
  if (caller === undefined) return totalTimeoutMs;
  return totalTimeoutMs > 0 ? Math.min(caller, totalTimeoutMs) : caller;
}

export const GrpcStatus = {
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The gRPC status for an HTTP status the router answers with. Follows the gRPC spec's
 * HTTP→gRPC table, except where the router knows more than the status says: a limit (429,
 * 413) is RESOURCE_EXHAUSTED, a timeout (504, 408) DEADLINE_EXCEEDED, and the HTTPS
 * redirect (308) FAILED_PRECONDITION.
 */
export function grpcStatusFor(httpStatus: number): number {
  switch (httpStatus) {
    // The HTTPS redirect: the call must be made again over TLS, not retried as it is.
    case 308:
      return GrpcStatus.FAILED_PRECONDITION;
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
    case 405:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 413:
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 500:
      return GrpcStatus.INTERNAL;
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** `grpc-message` is percent-encoded UTF-8 (every byte outside 0x20–0x7E, and `%`). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
