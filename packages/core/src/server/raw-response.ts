import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { isToken, isWritableValue } from '../http1/chars.ts';
import { reasonPhrase } from '../proxy/problem.ts';
import type { ClientResponseFields } from './client-contract.ts';
import type { RawRequest } from './raw-request.ts';

/**
 * The response the raw server hands the proxy handler: the part of node:http's
 * `ServerResponse` the request path writes (setHeader, writeHead, write with `drain`, end,
 * addTrailers, writeContinue, flushHeaders, destroy, headersSent, the `close` event), framed
 * by podrouter: Content-Length when the writer gave one, chunked otherwise (close-delimited
 * for an HTTP/1.0 client), no body after HEAD, 1xx, 204 and 304.
 *
 * The head is held until the first body bytes or the end, and goes out with them in one
 * write, as node:http does.
 */

/** What the response needs from its connection. */
export interface ResponseOwner {
  /** The response ended (its last bytes were handed to the socket). */
  responseEnded(res: RawResponse, close: boolean): void;
}

const LAST_CHUNK = '0\r\n\r\n';
/** Body writes up to this size are copied behind the head into one buffer (one write). */
const COPY_LIMIT = 16 * 1024;

type WriteCallback = (error?: Error | null) => void;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

function allStrings(list: readonly unknown[]): boolean {
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return false;
  return true;
}

function pushField(out: string[], name: string, value: OutgoingHttpHeader | undefined): void {
  if (value === undefined) return;
  if (Array.isArray(value)) for (const item of value) out.push(name, String(item));
  else out.push(name, String(value));
}

class InvalidHeaderError extends TypeError {
  readonly code: string;
  constructor(code: string, name: string) {
    super(
      `Invalid ${code === 'ERR_INVALID_HTTP_TOKEN' ? 'header name' : 'value of header'} "${name}"`,
    );
    this.code = code;
  }
}

/** `finish` then `close`, a tick after `end()` (as node:http emits them). */
function emitEnded(res: RawResponse): void {
  res.emit('finish');
  res.emit('close');
}

let dateText = '';
const clearDate = () => {
  dateText = '';
};
/**
 * The Date field, computed at most once a second and forgotten at the next second by a
 * timer (as node:http does): no clock read per response (a clock read costs 0.1–0.25 µs on
 * the benchmark machine's VM).
 */
function httpDate(): string {
  if (dateText === '') {
    const now = Date.now();
    dateText = new Date(now).toUTCString();
    setTimeout(clearDate, 1000 - (now % 1000)).unref();
  }
  return dateText;
}

export class RawResponse extends EventEmitter implements ClientResponseFields {
  readonly req: RawRequest;
  readonly socket: Socket;
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  readonly #owner: ResponseOwner;
  /** Set before writeHead (`setHeader`), by lower-case name. */
  #pending: Map<string, [string, OutgoingHttpHeader]> | null = null;
  /** The head, written with the first body bytes. */
  #head: string | null = null;
  #bodyAllowed = true;
  #chunked = false;
  #close = false;
  #trailers: OutgoingHttpHeaders | null = null;
  #waitingDrain = false;
  #closeEmitted = false;

  constructor(req: RawRequest, socket: Socket, owner: ResponseOwner) {
    super();
    this.req = req;
    this.socket = socket;
    this.#owner = owner;
  }

  get finished(): boolean {
    return this.writableEnded;
  }

  get connection(): Socket {
    return this.socket;
  }

  /** Whether the connection closes after this response. */
  get closes(): boolean {
    return this.#close;
  }

  setHeader(name: string, value: OutgoingHttpHeader): this {
    if (this.headersSent) throw new Error('Cannot set headers after they are sent to the client');
    this.#pending ??= new Map();
    this.#pending.set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): OutgoingHttpHeader | undefined {
    return this.#pending?.get(name.toLowerCase())?.[1];
  }

  hasHeader(name: string): boolean {
    return this.#pending?.has(name.toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    this.#pending?.delete(name.toLowerCase());
  }

  writeContinue(): void {
    if (!this.headersSent && !this.destroyed) this.socket.write(CONTINUE, 'latin1');
  }

  /** `(status, headers?)` or `(status, reason, headers?)`; headers as an object or a flat list. */
  writeHead(
    status: number,
    reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    maybeHeaders?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (this.headersSent) throw new Error('Cannot write headers after they are sent to the client');
    let reason = '';
    let fields = maybeHeaders;
    if (typeof reasonOrHeaders === 'string') reason = reasonOrHeaders;
    else fields = reasonOrHeaders;
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw new RangeError(`Invalid status code: ${status}`);
    if (!isWritableValue(reason)) throw new InvalidHeaderError('ERR_INVALID_CHAR', 'reason');
    const list = this.#fieldList(fields);
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i] as string;
      if (!isToken(name)) throw new InvalidHeaderError('ERR_INVALID_HTTP_TOKEN', name);
      if (!isWritableValue(list[i + 1] as string))
        throw new InvalidHeaderError('ERR_INVALID_CHAR', name);
    }
    this.#compose(status, reason, list);
    return this;
  }

  /**
   * writeHead for a head whose parts were checked where they came from: `fields` names are
   * tokens and every value is writable (the strict parser read them, or the handler checked
   * them where a policy set them), `status` is 100–999 and `reason` writable. The public
   * writeHead checks them again per call; the proxy's hot path need not. Fields given with
   * `setHeader` were checked by nobody: with any, this is writeHead.
   */
  writeCheckedHead(status: number, reason: string, fields: readonly string[]): void {
    if (this.#pending !== null) {
      this.writeHead(status, reason, fields as string[]);
      return;
    }
    if (this.headersSent) throw new Error('Cannot write headers after they are sent to the client');
    this.#compose(status, reason, fields);
  }

  /** The head text from checked parts, and the framing it implies. */
  #compose(status: number, reason: string, list: readonly string[]): void {
    const req = this.req;
    const noBody = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    // A client that asked to close, or spoke HTTP/1.0 without keep-alive, gets its close.
    let close = !req.keepAlive;
    let length = false;
    let date = false;
    let head = `HTTP/1.1 ${status} ${reason || reasonPhrase(status)}\r\n`;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i] as string;
      const value = list[i + 1] as string;
      const n = name.length;
      if (n === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (n === 10 && name.toLowerCase() === 'connection') {
        if (/(?:^|[\s,])close(?:$|[\s,])/i.test(value)) close = true;
        continue;
      } else if (n === 17 && name.toLowerCase() === 'transfer-encoding') continue;
      else if (n === 4 && name.toLowerCase() === 'date') date = true;
      head += `${name}: ${value}\r\n`;
    }
    if (!date) head += `date: ${httpDate()}\r\n`;
    if (noBody) this.#bodyAllowed = false;
    else if (!length) {
      if (req.httpVersionMinor === 1) {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else close = true;
    }
    if (status >= 200) {
      if (close) head += 'connection: close\r\n';
      else if (req.httpVersionMinor === 0) head += 'connection: keep-alive\r\n';
    }
    this.#close = close;
    this.statusCode = status;
    this.statusMessage = reason;
    this.#head = `${head}\r\n`;
    this.headersSent = true;
  }

  /** setHeader's fields, overridden by name by writeHead's (node:http's merge), as a flat list. */
  #fieldList(fields: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): string[] {
    const pending = this.#pending;
    if (pending === null && Array.isArray(fields) && allStrings(fields)) return fields as string[];
    const out: string[] = [];
    if (pending !== null) {
      const given = new Set<string>();
      if (Array.isArray(fields)) {
        for (let i = 0; i < fields.length; i += 2) given.add(String(fields[i]).toLowerCase());
      } else if (fields) for (const name of Object.keys(fields)) given.add(name.toLowerCase());
      for (const [lower, [name, value]] of pending)
        if (!given.has(lower)) pushField(out, name, value);
    }
    if (Array.isArray(fields)) {
      for (let i = 0; i < fields.length; i += 2) pushField(out, String(fields[i]), fields[i + 1]);
    } else if (fields) for (const name of Object.keys(fields)) pushField(out, name, fields[name]);
    return out;
  }

  /** Sends the head now, without waiting for body bytes. */
  flushHeaders(): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
    const head = this.#head;
    if (head === null || this.destroyed) return;
    this.#head = null;
    this.socket.write(head, 'latin1');
  }

  write(
    chunk: Buffer | string,
    encoding?: BufferEncoding | WriteCallback,
    cb?: WriteCallback,
  ): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const callback = typeof encoding === 'function' ? encoding : cb;
    const data =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk;
    const socket = this.socket;
    if (!this.#bodyAllowed || data.length === 0) {
      this.#flushHead();
      if (callback) process.nextTick(callback);
      return true;
    }
    const head = this.#head;
    let flushed: boolean;
    if (head === null && !this.#chunked) flushed = socket.write(data, callback);
    else if (data.length <= COPY_LIMIT) {
      // One buffer, one write: the head (or the chunk frame) and a small body go out together
      // without corking, which costs a writev and an array of chunks per answer.
      if (head !== null) this.#head = null;
      const prefix = this.#chunked ? `${head ?? ''}${data.length.toString(16)}\r\n` : head;
      const suffix = this.#chunked ? 2 : 0;
      const frame = Buffer.allocUnsafe((prefix?.length ?? 0) + data.length + suffix);
      let at = prefix === null ? 0 : frame.write(prefix, 0, 'latin1');
      at += data.copy(frame, at);
      if (suffix > 0) frame.write('\r\n', at, 'latin1');
      flushed = socket.write(frame, callback);
    } else {
      socket.cork();
      if (head !== null) {
        this.#head = null;
        socket.write(head, 'latin1');
      }
      if (this.#chunked) {
        socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
        socket.write(data);
        flushed = socket.write('\r\n', 'latin1', callback);
      } else flushed = socket.write(data, callback);
      socket.uncork();
    }
    if (!flushed && !this.#waitingDrain) {
      this.#waitingDrain = true;
      socket.once('drain', this.#onDrain);
    }
    return flushed;
  }

  #onDrain = () => {
    this.#waitingDrain = false;
    if (!this.destroyed) this.emit('drain');
  };

  #flushHead(): void {
    const head = this.#head;
    if (head === null) return;
    this.#head = null;
    this.socket.write(head, 'latin1');
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    this.#trailers = { ...this.#trailers, ...trailers };
  }

  end(
    chunk?: Buffer | string | (() => void),
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    if (this.writableEnded || this.destroyed) return this;
    let callback = cb;
    if (typeof chunk === 'function') callback = chunk;
    else if (typeof encoding === 'function') callback = encoding;
    if (!this.headersSent) {
      // An end without a head: the length is known, so no chunked framing.
      const length =
        typeof chunk === 'string' || Buffer.isBuffer(chunk) ? Buffer.byteLength(chunk) : 0;
      if (!this.hasHeader('content-length') && !this.hasHeader('transfer-encoding'))
        this.setHeader('content-length', length);
      this.writeHead(this.statusCode);
    }
    const socket = this.socket;
    const withChunk = typeof chunk === 'string' || Buffer.isBuffer(chunk);
    // Nothing left to write (a body with a length, already sent): no cork, no write.
    const writes = withChunk || this.#head !== null || this.#chunked;
    if (writes) socket.cork();
    if (withChunk) this.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    this.#flushHead();
    if (this.#chunked) socket.write(this.#lastChunk(), 'latin1');
    if (writes) socket.uncork();
    this.writableEnded = true;
    if (callback) process.nextTick(callback);
    if (this.#waitingDrain) socket.off('drain', this.#onDrain);
    this.#owner.responseEnded(this, this.#close);
    if (this.listenerCount('finish') > 0 || this.listenerCount('close') > 0)
      process.nextTick(emitEnded, this);
    return this;
  }

  #lastChunk(): string {
    const trailers = this.#trailers;
    if (trailers === null) return LAST_CHUNK;
    let text = '0\r\n';
    for (const [name, value] of Object.entries(trailers)) {
      if (value === undefined) continue;
      if (!isToken(name)) continue;
      for (const item of Array.isArray(value) ? value : [value]) {
        const textValue = String(item);
        if (isWritableValue(textValue)) text += `${name}: ${textValue}\r\n`;
      }
    }
    return `${text}\r\n`;
  }

  /** Ends the connection under this response (a response that cannot be finished). */
  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.socket.destroy(error);
    return this;
  }

  /**
   * The connection answers for this response (a broken request body): nothing more is
   * written through it. False when its head already went out.
   */
  abandon(): boolean {
    if (this.headersSent && this.#head === null) return false;
    this.destroyed = true;
    return true;
  }

  /** The connection closed before or after this response ended. */
  closed(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.destroyed = true;
    if (!this.writableEnded) this.emit('close');
  }
}
