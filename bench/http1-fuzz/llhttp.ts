import { createRequire } from 'node:module';

/**
 * Node's own llhttp, driven directly through the binding node:http uses (same build, same
 * default strict flags), so millions of messages take seconds instead of a socket round trip
 * each. Needs `node --expose-internals`.
 */

export interface LlhttpMessage {
  readonly versionMinor: number;
  readonly versionMajor: number;
  readonly method: string | undefined;
  readonly target: string | undefined;
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly headers: string[];
  readonly body: Buffer;
  readonly trailers: string[];
  readonly upgrade: boolean;
  readonly keepAlive: boolean;
  readonly complete: boolean;
}

export interface LlhttpResult {
  readonly messages: LlhttpMessage[];
  readonly error: string | null;
}

interface Binding {
  readonly HTTPParser: {
    new (): RawParser;
    readonly REQUEST: number;
    readonly RESPONSE: number;
    readonly kOnHeaders: number;
    readonly kOnHeadersComplete: number;
    readonly kOnBody: number;
    readonly kOnMessageComplete: number;
    readonly kOnExecute: number;
  };
  readonly methods: string[];
}

interface RawParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code?: string });
  finish(): undefined | (Error & { code?: string });
  [key: number]: unknown;
}

function binding(): Binding {
  const require = createRequire(import.meta.url);
  try {
    const { internalBinding } = require('internal/test/binding') as {
      internalBinding: (name: string) => Binding;
    };
    return internalBinding('http_parser');
  } catch {
    throw new Error('run with node --expose-internals: llhttp is reached through its binding');
  }
}

export class Llhttp {
  readonly #b = binding();
  readonly #parser: RawParser = new this.#b.HTTPParser();

  /**
   * Parses a whole stream; `methods` are the methods of the requests the responses answer
   * (HEAD: llhttp is told to skip the body, as node:http's client does).
   */
  parse(kind: 'request' | 'response', data: Buffer, methods: readonly string[] = []): LlhttpResult {
    const { HTTPParser, methods: names } = this.#b;
    const parser = this.#parser;
    const messages: LlhttpMessage[] = [];
    let flushed: string[] = [];
    let current:
      | {
          -readonly [K in keyof LlhttpMessage]: LlhttpMessage[K];
        }
      | null = null;
    let body: Buffer[] = [];
    let stop = false;
    parser.initialize(
      kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE,
      {},
      64 * 1024,
      0,
    );
    // As node:http does: fields and the URL may arrive in pieces before the head completes.
    let url = '';
    parser[HTTPParser.kOnHeaders] = (headers: string[], urlPart: string | undefined) => {
      url += urlPart ?? '';
      if (current === null) flushed = flushed.concat(headers);
      else current.trailers = current.trailers.concat(headers);
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      versionMajor: number,
      versionMinor: number,
      headers: string[] | undefined,
      method: number | undefined,
      target: string | undefined,
      status: number | undefined,
      reason: string | undefined,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      current = {
        versionMajor,
        versionMinor,
        method: method === undefined ? undefined : names[method],
        target: kind === 'request' ? target || url : undefined,
        status,
        reason,
        headers: headers === undefined ? flushed : flushed.concat(headers),
        body: Buffer.alloc(0),
        trailers: [],
        upgrade,
        keepAlive,
        complete: false,
      };
      flushed = [];
      url = '';
      const answered = messages.filter((m) => (m.status ?? 200) >= 200).length;
      if (kind === 'response' && methods[answered] === 'HEAD' && (status ?? 0) >= 200) return 1;
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      body.push(Buffer.from(chunk));
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      // node:http forgets the URL pieces here too (the binding may resend them with trailers).
      url = '';
      if (current === null) return;
      current.body = Buffer.concat(body);
      current.complete = true;
      messages.push(current);
      if (current.upgrade) stop = true;
      current = null;
      body = [];
    };
    parser[HTTPParser.kOnExecute] = () => undefined;
    let error: string | null = null;
    const result = parser.execute(data);
    if (result instanceof Error) error = result.code ?? 'ERROR';
    else if (!stop) {
      const end = parser.finish();
      if (end instanceof Error) error = end.code ?? 'ERROR';
    }
    if (current !== null && error === null && !stop) {
      const open = current as LlhttpMessage;
      messages.push({ ...open, body: Buffer.concat(body), complete: false });
    }
    return { messages, error };
  }
}
