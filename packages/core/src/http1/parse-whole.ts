import type { ParseError } from './errors.ts';
import {
  Http1Parser,
  type MessageHead,
  type ParserLimits,
  type RequestHead,
  type ResponseHead,
} from './parser.ts';

/** One message as the parser saw it, in plain data: for tests and the differential fuzzer. */
export interface ParsedMessage {
  readonly head: RequestHead | ResponseHead;
  readonly body: Buffer;
  readonly trailers: string[];
  readonly complete: boolean;
}

export interface ParsedStream {
  readonly messages: ParsedMessage[];
  readonly error: ParseError | null;
  /** Bytes left unparsed after a 101 response. */
  readonly upgradedRest: number;
}

export interface ParseWholeOptions {
  readonly limits?: Partial<ParserLimits>;
  /** Methods of the requests the responses answer, in order (HEAD means no body). */
  readonly requestMethods?: readonly string[];
  /** Call `finish()` after the last chunk, as when the peer closes the connection. */
  readonly eof?: boolean;
}

/** Parses a whole byte stream, given in `chunks` (any split), into its messages. */
export function parseWhole(
  kind: 'request' | 'response',
  chunks: readonly Buffer[],
  options: ParseWholeOptions = {},
): ParsedStream {
  const messages: ParsedMessage[] = [];
  let head = null as MessageHead | null;
  let body: Buffer[] = [];
  let trailers: string[] = [];
  let answered = 0;
  const methods = options.requestMethods ?? [];
  const parser: Http1Parser<MessageHead> = new Http1Parser<MessageHead>(
    kind,
    {
      onHead(next) {
        if (
          kind === 'response' &&
          (next as ResponseHead).status < 200 &&
          (next as ResponseHead).status !== 101
        ) {
          messages.push({
            head: next as ResponseHead,
            body: Buffer.alloc(0),
            trailers: [],
            complete: true,
          });
          return;
        }
        head = next;
      },
      onBody(chunk) {
        body.push(Buffer.from(chunk));
      },
      onTrailers(fields) {
        trailers = fields;
      },
      onComplete() {
        messages.push({
          head: head as RequestHead | ResponseHead,
          body: Buffer.concat(body),
          trailers,
          complete: true,
        });
        head = null;
        body = [];
        trailers = [];
        answered++;
        if (kind === 'response') parser.expectResponseTo(methods[answered] ?? 'GET');
      },
    },
    options.limits,
  );
  if (kind === 'response') parser.expectResponseTo(methods[0] ?? 'GET');
  let upgradedRest = 0;
  for (const chunk of chunks) {
    if (parser.upgraded) {
      upgradedRest += chunk.length;
      continue;
    }
    const used = parser.execute(chunk);
    if (used < 0) break;
    if (parser.upgraded) {
      upgradedRest += chunk.length - used;
      messages.push({
        head: head as ResponseHead,
        body: Buffer.alloc(0),
        trailers: [],
        complete: true,
      });
      head = null;
    }
  }
  if (options.eof && parser.error === null) parser.finish();
  if (head !== null && parser.error === null && !parser.upgraded)
    messages.push({
      head: head as RequestHead | ResponseHead,
      body: Buffer.concat(body),
      trailers,
      complete: false,
    });
  return { messages, error: parser.error, upgradedRest };
}
