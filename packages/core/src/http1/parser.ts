import { METHODS } from 'node:http';
import { FIELD_VCHAR, HEX, QDTEXT, TARGET_CHAR, TCHAR } from './chars.ts';
import { ParseErrorCodes as E, ParseError, type ParseErrorCode } from './errors.ts';

/**
 * A strict, incremental HTTP/1.1 message parser (RFC 9112) for requests or responses.
 *
 * Feed it the bytes of one connection with `execute()`; it calls the handler with each
 * message's head, body chunks (views into the buffers it was given, never copies), trailers and
 * end. What it accepts is a subset of what RFC 9112 allows, chosen so that two parsers can
 * never frame the same bytes differently: one Content-Length or `Transfer-Encoding: chunked`,
 * never both; CRLF line endings only; no obs-fold; every byte of a head checked against its
 * grammar; sizes bounded. docs/http1.md lists where it is stricter than llhttp, and why.
 *
 * A head is parsed once it is complete (its CRLFCRLF has arrived): on a loopback or LAN a
 * head nearly always arrives in one read, so the common case is one pass over one buffer.
 */

export interface MessageHead {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** `[name, value, name, value, …]` in arrival order, names as sent, values without OWS. */
  readonly headers: string[];
  /** Whether the connection may carry another message after this one. */
  readonly keepAlive: boolean;
  /** The Content-Length, or -1 without one. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** An `Upgrade` field and the `upgrade` connection option were both present. */
  readonly upgrade: boolean;
}

export interface RequestHead extends MessageHead {
  readonly method: string;
  readonly target: string;
  /**
   * The field names lower-cased, by position (`names[i]` is `headers[2 * i]`'s): each is
   * lower-cased once per connection and position, not by every reader per request. Shared
   * with later heads of the connection: read-only.
   */
  readonly names: readonly string[];
}

export interface ResponseHead extends MessageHead {
  readonly status: number;
  readonly reason: string;
}

export interface ParserHandler<Head extends MessageHead> {
  /** Each head; for responses also every 1xx head (the final head follows). */
  onHead(head: Head): void;
  /** A piece of the body: a view into the buffer given to `execute()`, valid until it returns. */
  onBody(chunk: Buffer): void;
  /** A chunked body's trailer fields, when there were any. */
  onTrailers(fields: string[]): void;
  onComplete(): void;
}

export interface ParserLimits {
  /** Bytes of a head: start line, fields and the empty line (Node's default: 16 KiB). */
  readonly maxHeadBytes: number;
  readonly maxFields: number;
  /** Bytes of one chunk-size line with its extensions. */
  readonly maxChunkLineBytes: number;
  /** Bytes of a chunked body's trailer section. */
  readonly maxTrailerBytes: number;
  /** Largest head remembered whole for the next message on the connection; 0: none. */
  readonly maxRememberedHead: number;
}

export const DEFAULT_LIMITS: ParserLimits = {
  maxHeadBytes: 16 * 1024,
  maxFields: 100,
  maxChunkLineBytes: 1024,
  maxTrailerBytes: 16 * 1024,
  maxRememberedHead: 2 * 1024,
};

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

const HEAD_END = Buffer.from('\r\n\r\n');
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;
/** Chunks larger than this are refused: far above any real chunk, far below 2^53. */
const MAX_CHUNK_SIZE = 2 ** 40;
/** Content-Length up to 15 digits: below 2^53, so the count stays exact. */
const MAX_LENGTH_DIGITS = 15;

const enum_ = {
  HEAD: 0,
  BODY_LENGTH: 1,
  BODY_EOF: 2,
  CHUNK_SIZE: 3,
  CHUNK_EXT_NAME_START: 4,
  CHUNK_EXT_NAME: 5,
  CHUNK_EXT_VALUE_START: 6,
  CHUNK_EXT_TOKEN: 7,
  CHUNK_EXT_QUOTED: 8,
  CHUNK_EXT_QUOTED_PAIR: 9,
  CHUNK_EXT_AFTER_QUOTED: 10,
  CHUNK_SIZE_LF: 11,
  CHUNK_DATA: 12,
  CHUNK_DATA_CR: 13,
  CHUNK_DATA_LF: 14,
  TRAILERS: 15,
  /** After a 101 response: the bytes that follow belong to another protocol. */
  UPGRADED: 16,
  ERROR: 17,
} as const;
const S = enum_;

/**
 * Strings the parser remembers per connection: a field line, target or reason phrase whose
 * bytes equal the one at the same place in the previous message gets the same string, without
 * a new slice (a Pod or a keep-alive client repeats most of them). Only the connection's own
 * earlier messages are compared, so the time saved says nothing about other connections.
 */
const REMEMBERED_FIELDS = 32;
const REMEMBERED_LENGTH = 256;

/** The bytes as a latin1 string (`latin1Slice`: `toString('latin1')` without its checks). */
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(
    start,
    end,
  );
}

/** Whether the bytes from `start` begin with `known` read as latin1. */
function sameBytes(known: string, buf: Buffer, start: number): boolean {
  if (start + known.length > buf.length) return false;
  for (let i = 0; i < known.length; i++) {
    if (known.charCodeAt(i) !== buf[start + i]) return false;
  }
  return true;
}

/** `known` when it is the latin1 reading of these bytes, else a new string of them. */
function recall(known: string, buf: Buffer, start: number, end: number): string {
  return known.length === end - start && sameBytes(known, buf, start)
    ? known
    : latin1(buf, start, end);
}

/** Lower-case ASCII names compared against a byte range, case-insensitively. */
const NAME_CONTENT_LENGTH = Buffer.from('content-length');
const NAME_TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const NAME_CONNECTION = Buffer.from('connection');
const NAME_UPGRADE = Buffer.from('upgrade');

/** `lower` holds lower-case letters and `-` only, so `| 0x20` folds case without collisions. */
function nameIs(buf: Buffer, start: number, end: number, lower: Buffer): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if (((buf[start + i] as number) | 0x20) !== lower[i]) return false;
  }
  return true;
}

const COMMON_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'];
const COMMON_METHOD_BYTES = COMMON_METHODS.map((method) => Buffer.from(method));
/**
 * The methods llhttp knows (node:http's `METHODS`), so a request a Node backend would refuse
 * is refused here first. CONNECT is left out: a router that tunnelled it would be an open proxy.
 */
const KNOWN_METHODS = new Set(METHODS.filter((method) => method !== 'CONNECT'));

/** The method as an interned string (no allocation for the common ones), or null if unknown. */
function methodOf(buf: Buffer, start: number, end: number): string | null {
  for (let m = 0; m < COMMON_METHOD_BYTES.length; m++) {
    const bytes = COMMON_METHOD_BYTES[m] as Buffer;
    if (bytes.length !== end - start) continue;
    let same = true;
    for (let i = 0; i < bytes.length; i++) {
      if (buf[start + i] !== bytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return COMMON_METHODS[m] as string;
  }
  const method = buf.toString('latin1', start, end);
  return KNOWN_METHODS.has(method) ? method : null;
}

const SLASH = 0x2f;
const QUESTION = 0x3f;

/** The authority of an absolute-form target: host or [IPv6] and port; no userinfo. */
const AUTHORITY_CHAR = (() => {
  const out = new Uint8Array(256);
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]')
    out[c.charCodeAt(0)] = 1;
  return out;
})();

/**
 * RFC 9112 §3.2: origin-form (`/path?query`), absolute-form (`http://authority/path`, the
 * router then routes by that authority) or asterisk-form (`*`, OPTIONS only). Authority-form
 * belongs to CONNECT, which is refused.
 */
function targetFormOk(buf: Buffer, start: number, end: number, method: string): boolean {
  const first = buf[start];
  if (first === SLASH) return true;
  if (end - start === 1 && first === 0x2a) return method === 'OPTIONS';
  let p = start;
  const lower = (i: number) => (buf[i] as number) | 0x20;
  if (lower(p) !== 0x68 || lower(p + 1) !== 0x74 || lower(p + 2) !== 0x74 || lower(p + 3) !== 0x70)
    return false;
  p += 4;
  if (lower(p) === 0x73) p++;
  if (buf[p] !== COLON || buf[p + 1] !== SLASH || buf[p + 2] !== SLASH) return false;
  p += 3;
  const authority = p;
  while (p < end && AUTHORITY_CHAR[buf[p] as number] === 1) p++;
  if (p === authority) return false;
  return p === end || buf[p] === SLASH || buf[p] === QUESTION;
}

/**
 * The last head of a connection, whole: the bytes and what they were read as. A head whose
 * bytes are the same (a keep-alive client repeats its request; a Pod its answer until the
 * Date changes) is read the same, so its fields are taken from here after one comparison of
 * the bytes instead of being scanned. Everything that depends on more than the bytes (the
 * framing checks, keep-alive, a HEAD request's answer) is decided again.
 */
interface HeadMemo {
  bytes: Buffer;
  length: number;
  line: HeadLine;
  readonly framing: Framing;
}

/** A head's start line and fields as read (a request's status is 0, a response's method ''). */
interface HeadLine {
  method: string;
  target: string;
  status: number;
  reason: string;
  minor: number;
  /** Never handed to a handler: it gets a copy, which it may change (inbound.ts sets Host). */
  headers: string[];
  /** A request's lower-case field names (read-only, handed out as they are); [] for a response. */
  names: readonly string[];
}

function copyFraming(from: Framing, to: Framing): void {
  to.contentLength = from.contentLength;
  to.transferEncodings = from.transferEncodings;
  to.chunked = from.chunked;
  to.close = from.close;
  to.keepAlive = from.keepAlive;
  to.upgradeOption = from.upgradeOption;
  to.upgradeField = from.upgradeField;
}

/** Framing facts gathered while the fields of a head are read. */
interface Framing {
  contentLength: number;
  transferEncodings: number;
  chunked: boolean;
  close: boolean;
  keepAlive: boolean;
  upgradeOption: boolean;
  upgradeField: boolean;
}

export class Http1Parser<Head extends MessageHead = MessageHead> {
  readonly #kind: 'request' | 'response';
  readonly #handler: ParserHandler<Head>;
  readonly #limits: ParserLimits;
  #state: number = S.HEAD;
  /** Bytes of an unfinished head or trailer section, kept until the rest arrives. */
  #pending: Buffer | null = null;
  /** How many bytes of `#pending` were already searched for the end of their block. */
  #scanned = 0;
  #remaining = 0;
  #chunkLineBytes = 0;
  #chunkDigits = 0;
  #keepAlive = true;
  #paused = false;
  /** The request this response answers was HEAD: no body whatever the fields say. */
  #noBody = false;
  /** Bytes consumed over the connection's life, for error offsets. */
  #offset = 0;
  #framing: Framing = {
    contentLength: -1,
    transferEncodings: 0,
    chunked: false,
    close: false,
    keepAlive: false,
    upgradeOption: false,
    upgradeField: false,
  };
  error: ParseError | null = null;
  /** The previous head's field names and values by position, its target and reason phrase. */
  readonly #names: string[] = [];
  readonly #values: string[] = [];
  #target = '';
  #reason = '';
  #memo: HeadMemo | null = null;
  /** Request field names by position as last lower-cased, and their lower-case forms. */
  readonly #lowerFrom: string[] = [];
  readonly #lowerNames: string[] = [];

  constructor(
    kind: 'request' | 'response',
    handler: ParserHandler<Head>,
    limits: Partial<ParserLimits> = {},
  ) {
    this.#kind = kind;
    this.#handler = handler;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** For a response parser: whether the next response answers a HEAD request. */
  expectResponseTo(method: string): void {
    this.#noBody = method === 'HEAD';
  }

  /** Stops `execute()` after the current callback; it returns the bytes consumed so far. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }

  /** True between messages: no head, body or trailer is half-read. */
  get idle(): boolean {
    return this.#state === S.HEAD && this.#pending === null;
  }

  /** True after a `101` response: the rest of the stream is not HTTP/1.1. */
  get upgraded(): boolean {
    return this.#state === S.UPGRADED;
  }

  /** The body runs until the connection closes (a response without length or chunking). */
  get readsUntilClose(): boolean {
    return this.#state === S.BODY_EOF;
  }

  /**
   * Parses `data` and returns how many of its bytes were consumed: all of them, unless the
   * parser was paused, the stream was upgraded, or it failed (then -1 and `error` is set).
   */
  execute(data: Buffer): number {
    if (this.#state === S.ERROR) return -1;
    if (this.#state === S.UPGRADED) return 0;
    let buf = data;
    let shift = 0;
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      shift = pending.length;
      buf = Buffer.concat([pending, data]);
    }
    const end = this.#run(buf);
    if (end < 0) return -1;
    this.#offset += end - shift;
    return end - shift;
  }

  /**
   * The peer closed its side. Ends a body that runs until close; anything else half-read is
   * an error (returned, and kept in `error`).
   */
  finish(): ParseError | null {
    if (this.#state === S.ERROR) return this.error;
    if (this.#state === S.BODY_EOF) {
      this.#state = S.HEAD;
      this.#handler.onComplete();
      return null;
    }
    if (this.#state === S.UPGRADED || this.idle) return null;
    return this.#fail(E.TRUNCATED, 'the connection closed in the middle of a message', 0);
  }

  #fail(code: ParseErrorCode, message: string, at: number): ParseError {
    this.#state = S.ERROR;
    this.#pending = null;
    this.error = new ParseError(code, message, this.#offset + at);
    return this.error;
  }

  /** The state machine over `buf` from `pos`; returns the position it stopped at, or -1. */
  #run(buf: Buffer): number {
    const handler = this.#handler;
    const length = buf.length;
    let p = 0;
    while (p < length) {
      if (this.#paused) return p;
      switch (this.#state) {
        case S.HEAD: {
          const next = this.#head(buf, p);
          if (next < 0) return next === -1 ? length : -1;
          p = next;
          break;
        }
        case S.BODY_LENGTH: {
          const n = Math.min(this.#remaining, length - p);
          this.#remaining -= n;
          handler.onBody(buf.subarray(p, p + n));
          p += n;
          if (this.#remaining === 0) this.#complete();
          break;
        }
        case S.BODY_EOF:
          handler.onBody(p === 0 ? buf : buf.subarray(p));
          p = length;
          break;
        case S.CHUNK_DATA: {
          const n = Math.min(this.#remaining, length - p);
          this.#remaining -= n;
          handler.onBody(buf.subarray(p, p + n));
          p += n;
          if (this.#remaining === 0) this.#state = S.CHUNK_DATA_CR;
          break;
        }
        case S.TRAILERS: {
          const next = this.#trailers(buf, p);
          if (next < 0) return next === -1 ? length : -1;
          p = next;
          break;
        }
        case S.UPGRADED:
          return p;
        case S.ERROR:
          return -1;
        default: {
          // Chunk framing: byte by byte, these lines are short.
          const next = this.#chunkByte(buf[p] as number, p);
          if (next < 0) return -1;
          p++;
        }
      }
    }
    return p;
  }

  #chunkByte(byte: number, at: number): number {
    if (this.#state <= S.CHUNK_SIZE_LF && ++this.#chunkLineBytes > this.#limits.maxChunkLineBytes)
      return this.#failed(E.CHUNK_LINE_TOO_LONG, 'chunk-size line too long', at);
    switch (this.#state) {
      case S.CHUNK_SIZE: {
        const digit = HEX[byte] as number;
        if (digit >= 0) {
          this.#remaining = this.#remaining * 16 + digit;
          this.#chunkDigits++;
          if (this.#remaining > MAX_CHUNK_SIZE)
            return this.#failed(E.INVALID_CHUNK_SIZE, 'chunk size too large', at);
          return 0;
        }
        if (this.#chunkDigits === 0)
          return this.#failed(E.INVALID_CHUNK_SIZE, 'chunk size is not hexadecimal', at);
        if (byte === CR) this.#state = S.CHUNK_SIZE_LF;
        else if (byte === SEMICOLON) this.#state = S.CHUNK_EXT_NAME_START;
        else return this.#failed(E.INVALID_CHUNK_SIZE, 'unexpected byte after chunk size', at);
        return 0;
      }
      case S.CHUNK_EXT_NAME_START:
        if (TCHAR[byte] !== 1)
          return this.#failed(E.INVALID_CHUNK_EXTENSION, 'invalid chunk-extension name', at);
        this.#state = S.CHUNK_EXT_NAME;
        return 0;
      case S.CHUNK_EXT_NAME:
      case S.CHUNK_EXT_TOKEN:
      case S.CHUNK_EXT_AFTER_QUOTED:
        if (TCHAR[byte] === 1 && this.#state !== S.CHUNK_EXT_AFTER_QUOTED) return 0;
        if (byte === SEMICOLON) this.#state = S.CHUNK_EXT_NAME_START;
        else if (byte === CR) this.#state = S.CHUNK_SIZE_LF;
        else if (byte === EQUALS && this.#state === S.CHUNK_EXT_NAME)
          this.#state = S.CHUNK_EXT_VALUE_START;
        else return this.#failed(E.INVALID_CHUNK_EXTENSION, 'invalid chunk extension', at);
        return 0;
      case S.CHUNK_EXT_VALUE_START:
        if (byte === DQUOTE) this.#state = S.CHUNK_EXT_QUOTED;
        else if (TCHAR[byte] === 1) this.#state = S.CHUNK_EXT_TOKEN;
        else return this.#failed(E.INVALID_CHUNK_EXTENSION, 'invalid chunk-extension value', at);
        return 0;
      case S.CHUNK_EXT_QUOTED:
        if (byte === DQUOTE) this.#state = S.CHUNK_EXT_AFTER_QUOTED;
        else if (byte === BACKSLASH) this.#state = S.CHUNK_EXT_QUOTED_PAIR;
        else if (QDTEXT[byte] !== 1)
          return this.#failed(E.INVALID_CHUNK_EXTENSION, 'invalid byte in quoted string', at);
        return 0;
      case S.CHUNK_EXT_QUOTED_PAIR:
        if (byte !== HTAB && byte !== SP && FIELD_VCHAR[byte] !== 1)
          return this.#failed(E.INVALID_CHUNK_EXTENSION, 'invalid quoted pair', at);
        this.#state = S.CHUNK_EXT_QUOTED;
        return 0;
      case S.CHUNK_SIZE_LF:
        if (byte !== LF) return this.#failed(E.LINE_ENDING, 'CR without LF in chunk line', at);
        this.#chunkLineBytes = 0;
        this.#chunkDigits = 0;
        if (this.#remaining === 0) this.#state = S.TRAILERS;
        else this.#state = S.CHUNK_DATA;
        return 0;
      case S.CHUNK_DATA_CR:
        if (byte !== CR)
          return this.#failed(E.INVALID_CHUNK_END, 'chunk data longer than its size', at);
        this.#state = S.CHUNK_DATA_LF;
        return 0;
      case S.CHUNK_DATA_LF:
        if (byte !== LF)
          return this.#failed(E.INVALID_CHUNK_END, 'chunk data not ended by CRLF', at);
        this.#state = S.CHUNK_SIZE;
        return 0;
      default:
        return this.#failed(E.TRUNCATED, 'parser in an unknown state', at);
    }
  }

  #failed(code: ParseErrorCode, message: string, at: number): -1 {
    this.#fail(code, message, at);
    return -1;
  }

  /**
   * Finds the end of a head or trailer block that starts at `p`. Returns the offset just past
   * its CRLFCRLF (or past a lone CRLF: an empty block), -1 when more bytes are needed (they
   * were kept), -2 when it failed.
   */
  #block(buf: Buffer, p: number, limit: number, tooLarge: ParseErrorCode): number {
    if (buf[p] === CR && p + 1 < buf.length) {
      if (buf[p + 1] === LF) return p + 2;
    }
    // Bytes kept from earlier calls were searched already (all but their last three).
    const found = buf.indexOf(HEAD_END, Math.max(p, this.#scanned - 3));
    this.#scanned = 0;
    if (found === -1) {
      if (buf.length - p > limit) {
        this.#fail(tooLarge, `more than ${limit} bytes without the end of the block`, p);
        return -2;
      }
      this.#pending = Buffer.from(buf.subarray(p));
      this.#scanned = this.#pending.length;
      return -1;
    }
    if (found + 4 - p > limit) {
      this.#fail(tooLarge, `a block of more than ${limit} bytes`, p);
      return -2;
    }
    return found + 4;
  }

  #head(buf: Buffer, p: number): number {
    let start = p;
    if (this.#kind === 'request') {
      // RFC 9112 §2.2: a server SHOULD ignore empty lines before a request-line.
      while (buf[start] === CR && buf[start + 1] === LF) start += 2;
      if (start >= buf.length || (buf[start] === CR && start + 1 === buf.length)) {
        if (start < buf.length) this.#pending = Buffer.from(buf.subarray(start));
        return -1;
      }
    }
    // The remembered head ends at its first CRLFCRLF, within the size limit: the same bytes
    // here are a whole head, found without searching for its end.
    const recalled = this.#recalled(buf, start);
    if (recalled !== null) {
      this.#scanned = 0;
      const end = start + recalled.length;
      return this.#kind === 'request'
        ? this.#requestHead(recalled.line, end)
        : this.#responseHead(recalled.line, start, end);
    }
    const end = this.#block(buf, start, this.#limits.maxHeadBytes, E.HEAD_TOO_LARGE);
    if (end < 0) return end;
    if (end - start === 2) {
      this.#fail(E.LINE_ENDING, 'empty line where a status line was expected', start);
      return -2;
    }
    const framing = this.#framing;
    framing.contentLength = -1;
    framing.transferEncodings = 0;
    framing.chunked = false;
    framing.close = false;
    framing.keepAlive = false;
    framing.upgradeOption = false;
    framing.upgradeField = false;
    return this.#kind === 'request'
      ? this.#requestHead(this.#requestLine(buf, start, end), end)
      : this.#responseHead(this.#statusLine(buf, start, end), start, end);
  }

  /** The remembered head, when the bytes from `start` begin with its bytes. */
  #recalled(buf: Buffer, start: number): HeadMemo | null {
    const memo = this.#memo;
    if (memo === null || buf.length - start < memo.length) return null;
    if (buf.compare(memo.bytes, 0, memo.length, start, start + memo.length) !== 0) return null;
    copyFraming(memo.framing, this.#framing);
    return memo;
  }

  /** Remembers the head just read at start..end (fields and framing as read, not checked). */
  #remember(buf: Buffer, start: number, end: number, line: HeadLine): void {
    const length = end - start;
    if (length > this.#limits.maxRememberedHead) return;
    let memo = this.#memo;
    if (memo === null) {
      memo = {
        bytes: Buffer.allocUnsafe(Math.max(length, 256)),
        length,
        line,
        framing: { ...this.#framing },
      };
      this.#memo = memo;
    } else if (memo.bytes.length < length) memo.bytes = Buffer.allocUnsafe(length);
    buf.copy(memo.bytes, 0, start, end);
    memo.length = length;
    memo.line = line;
    copyFraming(this.#framing, memo.framing);
  }

  /**
   * The names of `headers` lower-cased; a name equal to the one lower-cased at its position
   * before (the same string, for a remembered name) gets that lower-case string again.
   */
  #lower(headers: readonly string[]): readonly string[] {
    const from = this.#lowerFrom;
    const lower = this.#lowerNames;
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const at = i >> 1;
      const name = headers[i] as string;
      if (at >= REMEMBERED_FIELDS || name.length > REMEMBERED_LENGTH) out.push(name.toLowerCase());
      else if (from[at] === name) out.push(lower[at] as string);
      else {
        const known = name.toLowerCase();
        from[at] = name;
        lower[at] = known;
        out.push(known);
      }
    }
    // Shared by the heads that repeat this one: nobody may change it.
    return Object.freeze(out);
  }

  /** Checks `HTTP/1.x` at p; returns x, or -1. */
  #version(buf: Buffer, p: number): number {
    if (
      buf[p] === 0x48 &&
      buf[p + 1] === 0x54 &&
      buf[p + 2] === 0x54 &&
      buf[p + 3] === 0x50 &&
      buf[p + 4] === 0x2f &&
      buf[p + 5] === 0x31 &&
      buf[p + 6] === 0x2e &&
      (buf[p + 7] === 0x30 || buf[p + 7] === 0x31)
    )
      return (buf[p + 7] as number) - 0x30;
    return -1;
  }

  /** `terminator`: the byte that must follow the version (CR in requests, SP in responses). */
  #badVersion(buf: Buffer, p: number, terminator: number): number {
    // `HTTP/d.d` other than 1.0 and 1.1 is well-formed but not ours: 505, not 400.
    const digit = (i: number) => (buf[p + i] as number) >= 0x30 && (buf[p + i] as number) <= 0x39;
    const wellFormed =
      buf.toString('latin1', p, p + 5) === 'HTTP/' &&
      digit(5) &&
      buf[p + 6] === 0x2e &&
      digit(7) &&
      buf[p + 8] === terminator;
    this.#fail(
      wellFormed ? E.VERSION_NOT_SUPPORTED : E.INVALID_VERSION,
      wellFormed ? 'HTTP version not supported' : 'invalid HTTP version',
      p,
    );
    return -2;
  }

  /** Reads a request's start line and fields (null: failed); the framing lands in `#framing`. */
  #requestLine(buf: Buffer, start: number, end: number): HeadLine | null {
    let p = start;
    while (TCHAR[buf[p] as number] === 1) p++;
    if (p === start || buf[p] !== SP) {
      this.#fail(E.INVALID_METHOD, 'invalid method', p);
      return null;
    }
    const method = methodOf(buf, start, p);
    if (method === null) {
      this.#fail(E.UNKNOWN_METHOD, 'unknown method', start);
      return null;
    }
    const targetStart = ++p;
    while (TARGET_CHAR[buf[p] as number] === 1) p++;
    if (p === targetStart || buf[p] !== SP || !targetFormOk(buf, targetStart, p, method)) {
      this.#fail(E.INVALID_TARGET, 'invalid request target', p);
      return null;
    }
    const target = recall(this.#target, buf, targetStart, p);
    if (target.length <= REMEMBERED_LENGTH) this.#target = target;
    p++;
    const minor = this.#version(buf, p);
    if (minor >= 0 && (buf[p + 8] === LF || (buf[p + 8] === CR && buf[p + 9] !== LF))) {
      this.#fail(E.LINE_ENDING, 'request line not ended by CRLF', p + 8);
      return null;
    }
    if (minor < 0 || buf[p + 8] !== CR) {
      this.#badVersion(buf, p, CR);
      return null;
    }
    const headers: string[] = [];
    p = this.#fields(buf, p + 10, headers, true);
    if (p < 0) return null;
    if (p !== end) {
      this.#fail(E.LINE_ENDING, 'head ended early', p);
      return null;
    }
    const line = {
      method,
      target,
      status: 0,
      reason: '',
      minor,
      headers,
      names: this.#lower(headers),
    };
    this.#remember(buf, start, end, line);
    return line;
  }

  /** `line`: the head's start line and fields, read or recalled; null when reading failed. */
  #requestHead(line: HeadLine | null, end: number): number {
    if (line === null) return -2;
    const { method, target, minor, names } = line;
    const headers = line.headers.slice();
    if (!this.#checkFraming(minor)) return -2;
    const f = this.#framing;
    const head: RequestHead = {
      method,
      target,
      names,
      versionMinor: minor,
      headers,
      keepAlive: this.#keepAlive,
      contentLength: f.contentLength,
      chunked: f.chunked,
      upgrade: f.upgradeField && f.upgradeOption,
    };
    this.#handler.onHead(head as unknown as Head);
    this.#afterHead(head);
    return end;
  }

  /** Reads a response's status line and fields (null: failed); the framing lands in `#framing`. */
  #statusLine(buf: Buffer, start: number, end: number): HeadLine | null {
    let p = start;
    const minor = this.#version(buf, p);
    if (minor < 0 || buf[p + 8] !== SP) {
      this.#badVersion(buf, p, SP);
      return null;
    }
    p += 9;
    const d0 = (buf[p] as number) - 0x30;
    const d1 = (buf[p + 1] as number) - 0x30;
    const d2 = (buf[p + 2] as number) - 0x30;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.#fail(E.INVALID_STATUS, 'invalid status code', p);
      return null;
    }
    const status = d0 * 100 + d1 * 10 + d2;
    p += 3;
    let reason = '';
    if (buf[p] === SP) {
      const reasonStart = ++p;
      while (true) {
        const byte = buf[p] as number;
        if (FIELD_VCHAR[byte] === 1 || byte === SP || byte === HTAB) p++;
        else break;
      }
      reason = recall(this.#reason, buf, reasonStart, p);
      if (reason.length <= REMEMBERED_LENGTH) this.#reason = reason;
    }
    if (buf[p] !== CR || buf[p + 1] !== LF) {
      this.#fail(
        buf[p] === CR || buf[p] === LF ? E.LINE_ENDING : E.INVALID_REASON,
        'invalid status line',
        p,
      );
      return null;
    }
    const headers: string[] = [];
    p = this.#fields(buf, p + 2, headers, true);
    if (p < 0) return null;
    if (p !== end) {
      this.#fail(E.LINE_ENDING, 'head ended early', p);
      return null;
    }
    const line = { method: '', target: '', status, reason, minor, headers, names: [] };
    this.#remember(buf, start, end, line);
    return line;
  }

  #responseHead(line: HeadLine | null, start: number, end: number): number {
    if (line === null) return -2;
    const { status, reason, minor } = line;
    const headers = line.headers.slice();
    const informational = status < 200;
    if (!this.#checkFraming(minor)) return -2;
    const f = this.#framing;
    // RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 1xx or 204.
    // Parsers disagree on whether such a response has a body (llhttp reads one after 113).
    if ((informational || status === 204) && (f.transferEncodings > 0 || f.contentLength > 0)) {
      this.#fail(E.BODY_NOT_ALLOWED, `framing fields in a ${status} response`, start);
      return -2;
    }
    // A body that runs until the connection closes ends the connection too.
    if (
      !informational &&
      !this.#noBody &&
      status !== 204 &&
      status !== 304 &&
      f.contentLength < 0 &&
      !f.chunked
    )
      this.#keepAlive = false;
    const head: ResponseHead = {
      status,
      reason,
      versionMinor: minor,
      headers,
      keepAlive: this.#keepAlive,
      contentLength: informational ? -1 : f.contentLength,
      chunked: informational ? false : f.chunked,
      upgrade: f.upgradeField && f.upgradeOption,
    };
    this.#handler.onHead(head as unknown as Head);
    if (status === 101) {
      this.#state = S.UPGRADED;
      return end;
    }
    // Other 1xx: the final response follows; the HEAD flag still holds for it.
    if (informational) return end;
    if (this.#noBody || status === 204 || status === 304) {
      this.#complete();
      return end;
    }
    this.#afterHead(head);
    return end;
  }

  /** Sets the body state from the head's framing (requests and final responses). */
  #afterHead(head: MessageHead): void {
    if (head.chunked) {
      this.#state = S.CHUNK_SIZE;
      this.#remaining = 0;
      this.#chunkLineBytes = 0;
      this.#chunkDigits = 0;
    } else if (head.contentLength > 0) {
      this.#state = S.BODY_LENGTH;
      this.#remaining = head.contentLength;
    } else if (head.contentLength === 0 || this.#kind === 'request') {
      this.#complete();
    } else {
      this.#keepAlive = false;
      this.#state = S.BODY_EOF;
    }
  }

  #complete(): void {
    this.#state = S.HEAD;
    this.#noBody = false;
    this.#handler.onComplete();
  }

  /** Checks the framing fields together; false (failed) when they are unsafe. */
  #checkFraming(minor: number): boolean {
    const f = this.#framing;
    if (f.transferEncodings > 0) {
      if (f.contentLength >= 0) {
        this.#fail(
          E.CONTENT_LENGTH_AND_TRANSFER_ENCODING,
          'both Content-Length and Transfer-Encoding',
          0,
        );
        return false;
      }
      if (f.transferEncodings > 1 || !f.chunked || minor === 0) {
        this.#fail(
          E.UNSUPPORTED_TRANSFER_ENCODING,
          'Transfer-Encoding other than one "chunked" on HTTP/1.1',
          0,
        );
        return false;
      }
    }
    this.#keepAlive = minor === 1 ? !f.close : f.keepAlive && !f.close;
    return true;
  }

  /** Whether the connection can carry another message after the current one. */
  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  /**
   * Field lines from p up to and including the empty line; returns the offset after it, or
   * -1 (failed). With `framing`, notes the fields that decide the body's length.
   */
  #fields(buf: Buffer, start: number, out: string[], framing: boolean): number {
    // A head's fields are remembered by position; a trailer section's are not.
    const names = framing ? this.#names : null;
    const values = this.#values;
    let p = start;
    let count = 0;
    const max = this.#limits.maxFields;
    while (true) {
      const first = buf[p] as number;
      if (first === CR) {
        if (buf[p + 1] !== LF) return this.#failed(E.LINE_ENDING, 'CR without LF', p);
        return p + 2;
      }
      if (first === SP || first === HTAB)
        return this.#failed(E.OBS_FOLD, 'line folding (obs-fold) or whitespace before a field', p);
      const remembered = names !== null && count < REMEMBERED_FIELDS;
      const knownName = remembered ? names[count] : undefined;
      const knownValue = remembered ? values[count] : undefined;
      const nameStart = p;
      // The remembered name (tchar only, checked when it was read) followed by ':' is what
      // the scan below would find: compared instead of scanned.
      const nameKnown =
        knownName !== undefined &&
        buf[p + knownName.length] === COLON &&
        sameBytes(knownName, buf, p);
      if (nameKnown) p += knownName.length;
      else while (TCHAR[buf[p] as number] === 1) p++;
      const nameEnd = p;
      if (nameEnd === nameStart) {
        return this.#failed(
          first === LF ? E.LINE_ENDING : E.INVALID_FIELD_NAME,
          'invalid field name',
          p,
        );
      }
      if (buf[p] !== COLON) return this.#failed(E.INVALID_FIELD_NAME, 'invalid field name', p);
      p++;
      while (buf[p] === SP || buf[p] === HTAB) p++;
      const valueStart = p;
      let valueEnd = p;
      // A remembered value (checked when it was read: it starts and ends with a visible
      // character) leaves the scan where the scan over its bytes would: at its end, with
      // valueEnd there. What follows is scanned as usual.
      let valueKnown = false;
      if (knownValue !== undefined && sameBytes(knownValue, buf, p)) {
        p += knownValue.length;
        valueEnd = p;
        valueKnown = true;
      }
      while (true) {
        const byte = buf[p] as number;
        if (FIELD_VCHAR[byte] === 1) valueEnd = ++p;
        else if (byte === SP || byte === HTAB) p++;
        else break;
      }
      if (buf[p] !== CR) {
        return this.#failed(
          buf[p] === LF ? E.LINE_ENDING : E.INVALID_FIELD_VALUE,
          'invalid byte in field value',
          p,
        );
      }
      if (buf[p + 1] !== LF) return this.#failed(E.LINE_ENDING, 'CR without LF', p);
      p += 2;
      if (++count > max) return this.#failed(E.TOO_MANY_FIELDS, `more than ${max} fields`, p);
      let name: string;
      let value: string;
      if (remembered) {
        const at = count - 1;
        name = nameKnown ? (knownName as string) : latin1(buf, nameStart, nameEnd);
        value =
          valueKnown && valueEnd === valueStart + (knownValue as string).length
            ? (knownValue as string)
            : latin1(buf, valueStart, valueEnd);
        if (name.length <= REMEMBERED_LENGTH) names[at] = name;
        if (value.length <= REMEMBERED_LENGTH) values[at] = value;
      } else {
        name = latin1(buf, nameStart, nameEnd);
        value = latin1(buf, valueStart, valueEnd);
      }
      out.push(name, value);
      if (framing && !this.#frameField(buf, nameStart, nameEnd, valueStart, valueEnd, p - 2, value))
        return -1;
    }
  }

  /** Notes one field's effect on framing; false (failed) when it is malformed. */
  #frameField(
    buf: Buffer,
    nameStart: number,
    nameEnd: number,
    vs: number,
    ve: number,
    lineEnd: number,
    value: string,
  ): boolean {
    const f = this.#framing;
    const length = nameEnd - nameStart;
    if (length === 14 && nameIs(buf, nameStart, nameEnd, NAME_CONTENT_LENGTH)) {
      if (f.contentLength >= 0) {
        this.#fail(E.DUPLICATE_CONTENT_LENGTH, 'more than one Content-Length', nameStart);
        return false;
      }
      if (ve === vs || ve - vs > MAX_LENGTH_DIGITS) {
        this.#fail(E.INVALID_CONTENT_LENGTH, 'invalid Content-Length', vs);
        return false;
      }
      let value = 0;
      for (let i = vs; i < ve; i++) {
        const digit = (buf[i] as number) - 0x30;
        if (digit < 0 || digit > 9) {
          this.#fail(E.INVALID_CONTENT_LENGTH, 'invalid Content-Length', i);
          return false;
        }
        value = value * 10 + digit;
      }
      f.contentLength = value;
    } else if (length === 17 && nameIs(buf, nameStart, nameEnd, NAME_TRANSFER_ENCODING)) {
      f.transferEncodings++;
      // Trailing whitespace too: llhttp reads `chunked\t` as another coding, `chunked ` as
      // chunked; one reading only means neither.
      f.chunked = ve - vs === 7 && ve === lineEnd && nameIs(buf, vs, ve, CHUNKED);
    } else if (length === 10 && nameIs(buf, nameStart, nameEnd, NAME_CONNECTION)) {
      const lower = value.toLowerCase();
      // One option alone (the usual case) reads the same as the loop below.
      if (lower === 'keep-alive') f.keepAlive = true;
      else if (lower === 'close') f.close = true;
      else
        for (const option of lower.split(',')) {
          // OWS is SP and HTAB only: String.trim() would also drop NBSP (0xA0) and read
          // `\xA0close` as close where llhttp does not (found by the fuzzer).
          const token = option.replace(OWS_EDGES, '');
          if (token === 'close') f.close = true;
          else if (token === 'keep-alive') f.keepAlive = true;
          else if (token === 'upgrade') f.upgradeOption = true;
        }
    } else if (length === 7 && nameIs(buf, nameStart, nameEnd, NAME_UPGRADE)) {
      f.upgradeField = true;
    }
    return true;
  }

  #trailers(buf: Buffer, p: number): number {
    const end = this.#block(buf, p, this.#limits.maxTrailerBytes, E.TRAILERS_TOO_LARGE);
    if (end < 0) return end;
    if (end - p > 2) {
      const fields: string[] = [];
      const after = this.#fields(buf, p, fields, false);
      if (after < 0) return -2;
      if (after !== end) {
        this.#fail(E.LINE_ENDING, 'trailer section ended early', after);
        return -2;
      }
      this.#handler.onTrailers(fields);
    }
    this.#complete();
    return end;
  }
}

const CHUNKED = Buffer.from('chunked');
