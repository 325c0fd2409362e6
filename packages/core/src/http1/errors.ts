/**
 * Why a message was refused. Each code names one rule of RFC 9112 (or one limit); `status` is
 * what a server answers a client whose request broke it. After any of these the connection
 * cannot be trusted to be in step with the peer, so it is closed.
 */
export const ParseErrorCodes = {
  HEAD_TOO_LARGE: 'HEAD_TOO_LARGE',
  TOO_MANY_FIELDS: 'TOO_MANY_FIELDS',
  INVALID_METHOD: 'INVALID_METHOD',
  /** A method llhttp does not know, or CONNECT. */
  UNKNOWN_METHOD: 'UNKNOWN_METHOD',
  INVALID_TARGET: 'INVALID_TARGET',
  INVALID_VERSION: 'INVALID_VERSION',
  VERSION_NOT_SUPPORTED: 'VERSION_NOT_SUPPORTED',
  INVALID_STATUS: 'INVALID_STATUS',
  INVALID_REASON: 'INVALID_REASON',
  INVALID_FIELD_NAME: 'INVALID_FIELD_NAME',
  INVALID_FIELD_VALUE: 'INVALID_FIELD_VALUE',
  OBS_FOLD: 'OBS_FOLD',
  /** A CR not followed by LF, or an LF not preceded by CR. */
  LINE_ENDING: 'LINE_ENDING',
  INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  DUPLICATE_CONTENT_LENGTH: 'DUPLICATE_CONTENT_LENGTH',
  /** Anything but exactly one `Transfer-Encoding: chunked` (on HTTP/1.1). */
  UNSUPPORTED_TRANSFER_ENCODING: 'UNSUPPORTED_TRANSFER_ENCODING',
  CONTENT_LENGTH_AND_TRANSFER_ENCODING: 'CONTENT_LENGTH_AND_TRANSFER_ENCODING',
  /** A 1xx or 204 response with Transfer-Encoding or a non-zero Content-Length. */
  BODY_NOT_ALLOWED: 'BODY_NOT_ALLOWED',
  INVALID_CHUNK_SIZE: 'INVALID_CHUNK_SIZE',
  INVALID_CHUNK_EXTENSION: 'INVALID_CHUNK_EXTENSION',
  CHUNK_LINE_TOO_LONG: 'CHUNK_LINE_TOO_LONG',
  /** Chunk data not followed by CRLF. */
  INVALID_CHUNK_END: 'INVALID_CHUNK_END',
  TRAILERS_TOO_LARGE: 'TRAILERS_TOO_LARGE',
  /** The peer closed the connection in the middle of a message. */
  TRUNCATED: 'TRUNCATED',
} as const;

export type ParseErrorCode = (typeof ParseErrorCodes)[keyof typeof ParseErrorCodes];

const STATUS: Partial<Record<ParseErrorCode, number>> = {
  HEAD_TOO_LARGE: 431,
  TOO_MANY_FIELDS: 431,
  VERSION_NOT_SUPPORTED: 505,
  UNKNOWN_METHOD: 501,
  UNSUPPORTED_TRANSFER_ENCODING: 501,
  TRAILERS_TOO_LARGE: 431,
};

export class ParseError extends Error {
  readonly code: ParseErrorCode;
  /** The answer a server gives a client whose request this was. */
  readonly status: number;
  /** Offset in the connection's byte stream where the parser stopped. */
  readonly offset: number;

  constructor(code: ParseErrorCode, message: string, offset: number) {
    super(message);
    this.name = 'ParseError';
    this.code = code;
    this.status = STATUS[code] ?? 400;
    this.offset = offset;
  }
}
