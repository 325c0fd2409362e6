/**
 * Request- and response-smuggling test vectors: the header permutations that published
 * smuggling scanners try, applied to a message whose two framings disagree.
 *
 * Source: the permutation list of PortSwigger's HTTP Request Smuggler
 * (github.com/PortSwigger/http-request-smuggler, src/burp/DesyncBox.java at commit
 * 1a9af54142f2f22a298f16cdacffe0249a0f0e68, Apache-2.0): the technique names below are
 * theirs; the bytes are written here for podrouter (their code builds Burp requests).
 * Plus the classic CL.TE / TE.CL / CL.CL shapes (Watchfire 2005, Kettle 2019).
 *
 * Each vector is a stream in which Content-Length and the (mutated) Transfer-Encoding say
 * different things about where the first message ends: a parser that picks either framing
 * while another parser picks the other is a desync. The safety property checked with them:
 * podrouter's parser refuses the stream, or frames it exactly as llhttp does.
 */

export interface SmugglingVector {
  readonly name: string;
  readonly kind: 'request' | 'response';
  readonly bytes: Buffer;
  /** What podrouter's parser must do: refuse, or accept with one unambiguous framing. */
  readonly expect: 'refuse' | 'accept';
}

const latin1 = (text: string) => Buffer.from(text, 'latin1');

/**
 * How each technique rewrites the line `Transfer-Encoding: chunked` (the DesyncBox names).
 * `accept`: after the rewrite the line is not a Transfer-Encoding field at all (a different,
 * valid field name), so Content-Length alone frames the message for every parser.
 */
const TE_TECHNIQUES: ReadonlyArray<[string, string, 'refuse' | 'accept']> = [
  ['vanilla', 'Transfer-Encoding: chunked', 'refuse'],
  ['underjoin1', 'Transfer_Encoding: chunked', 'accept'],
  ['spacejoin1', 'Transfer Encoding: chunked', 'refuse'],
  ['space1', 'Transfer-Encoding : chunked', 'refuse'],
  ['nameprefix1', 'Foo: bar\r\n Transfer-Encoding: chunked', 'refuse'],
  ['nameprefix2', 'Foo: bar\r\n\tTransfer-Encoding: chunked', 'refuse'],
  ['valueprefix1', 'Transfer-Encoding:  chunked', 'refuse'],
  ['nospace1', 'Transfer-Encoding:chunked', 'refuse'],
  ['linewrapped1', 'Transfer-Encoding:\n chunked', 'refuse'],
  ['gareth1', 'Transfer-Encoding\n : chunked', 'refuse'],
  ['badsetupCR', 'Foo: bar\rTransfer-Encoding: chunked', 'refuse'],
  ['badsetupLF', 'Foo: bar\nTransfer-Encoding: chunked', 'refuse'],
  ['vertwrap', 'Transfer-Encoding: \n\u000bchunked', 'refuse'],
  ['tabwrap', 'Transfer-Encoding: \r\n\tchunked', 'refuse'],
  ['multiCase', 'tRANSFER-ENCODING: chunked', 'refuse'],
  ['UPPERCASE', 'TRANSFER-ENCODING: CHUNKED', 'refuse'],
  ['0dwrap', 'Foo: bar\r\n\rTransfer-Encoding: chunked', 'refuse'],
  ['0dspam', 'Tra\rnsfer-Encoding: chunked', 'refuse'],
  ['connection', 'Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked', 'refuse'],
  ['spjunk', 'Transfer-Encoding x: chunked', 'refuse'],
  ['backslash', 'Transfer\\Encoding: chunked', 'refuse'],
  ['spaceFF', 'Transfer-Encoding:\u00ffchunked', 'refuse'],
  ['unispace', 'Transfer-Encoding:\u00a0chunked', 'refuse'],
  ['commaCow', 'Transfer-Encoding: chunked, identity', 'refuse'],
  ['cowComma', 'Transfer-Encoding: identity, chunked', 'refuse'],
  ['contentEnc', 'Content-Encoding: chunked', 'accept'],
  ['quoted', 'Transfer-Encoding: "chunked"', 'refuse'],
  ['aposed', "Transfer-Encoding: 'chunked'", 'refuse'],
  ['dualchunk', 'Transfer-Encoding: chunked\r\nTransfer-encoding: identity', 'refuse'],
  ['lazygrep', 'Transfer-Encoding: chunk', 'refuse'],
  ['0dsuffix', 'Transfer-Encoding: chunked\r', 'refuse'],
  ['tabsuffix', 'Transfer-Encoding: chunked\t', 'refuse'],
  ['revdualchunk', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked', 'refuse'],
  ['nested', 'Transfer-Encoding: identity, chunked, identity', 'refuse'],
  ['encode', 'Transfer-%45ncoding: chunked', 'accept'],
  ['accentTE', 'Transf\u0082r-Encoding: chunked', 'refuse'],
  ['accentCH', 'Transfer-Encoding: ch\u0096nked', 'refuse'],
  ['bodysplit', 'Foo: barn\n\nTransfer-Encoding: chunked', 'refuse'],
  ...[0x00, 0x09, 0x0b, 0x0c, 0x0d, 0x7f].flatMap(
    (code): Array<[string, string, 'refuse']> => [
      [`spacefix1:${code}`, `Transfer-Encoding:${String.fromCharCode(code)}chunked`, 'refuse'],
      [`prefix1:${code}`, `Transfer-Encoding: ${String.fromCharCode(code)}chunked`, 'refuse'],
      [`suffix1:${code}`, `Transfer-Encoding: chunked${String.fromCharCode(code)}`, 'refuse'],
    ],
  ),
];

/** Content-Length permutations: two lengths, or one length two parsers read differently. */
const CL_TECHNIQUES: ReadonlyArray<[string, string, 'refuse' | 'accept']> = [
  ['cl-duplicate-differing', 'Content-Length: 6\r\nContent-Length: 5', 'refuse'],
  ['cl-duplicate-equal', 'Content-Length: 6\r\nContent-Length: 6', 'refuse'],
  ['cl-list', 'Content-Length: 6, 5', 'refuse'],
  ['cl-plus', 'Content-Length: +6', 'refuse'],
  ['cl-space-before-colon', 'Content-Length : 6', 'refuse'],
  ['cl-folded', 'Content-Length:\r\n 6', 'refuse'],
  ['cl-underscore', 'Content_Length: 6', 'accept'],
  ['cl-hex', 'Content-Length: 0x6', 'refuse'],
  ['cl-trailing-junk', 'Content-Length: 6x', 'refuse'],
  ['cl-overflow', 'Content-Length: 18446744073709551622', 'refuse'],
];

/** The request's body under chunked framing ends after `0\r\n\r\n`; under CL=6, after `X`. */
const CHUNKED_THEN_NEXT = '0\r\n\r\nX';

function requestWith(line: string, contentLength: boolean): Buffer {
  const cl = contentLength ? 'Content-Length: 6\r\n' : '';
  return latin1(
    `POST /a HTTP/1.1\r\nHost: h.example\r\n${cl}${line}\r\n\r\n${CHUNKED_THEN_NEXT}GET /smuggled HTTP/1.1\r\nHost: h.example\r\n\r\n`,
  );
}

function responseWith(line: string, contentLength: boolean): Buffer {
  const cl = contentLength ? 'Content-Length: 6\r\n' : '';
  return latin1(
    `HTTP/1.1 200 OK\r\n${cl}${line}\r\n\r\n${CHUNKED_THEN_NEXT}HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled`,
  );
}

function build(): SmugglingVector[] {
  const out: SmugglingVector[] = [];
  for (const [name, line, expect] of TE_TECHNIQUES) {
    // CL.TE / TE.CL: both framings present.
    out.push({
      name: `${name} (with CL)`,
      kind: 'request',
      bytes: requestWith(line, true),
      expect,
    });
    out.push({
      name: `${name} (with CL)`,
      kind: 'response',
      bytes: responseWith(line, true),
      expect,
    });
    // TE alone: a parser that reads the mutated value as chunked and one that does not
    // (a response then runs until close) part ways just the same. After a chunked body
    // comes `X…`, which is no valid start line: refused unless the line is no TE at all
    // and the response body simply runs until close.
    out.push({ name, kind: 'request', bytes: requestWith(line, false), expect: 'refuse' });
    out.push({ name, kind: 'response', bytes: responseWith(line, false), expect });
  }
  for (const [name, line, expect] of CL_TECHNIQUES) {
    const body = `${line}\r\nTransfer-Encoding: chunked`;
    out.push({
      name: `${name} (with TE)`,
      kind: 'request',
      bytes: requestWith(body, false),
      expect: 'refuse',
    });
    // Without any framing field a request has no body: what follows must parse as a request.
    out.push({ name, kind: 'request', bytes: requestWith(line, false), expect: 'refuse' });
    out.push({ name, kind: 'response', bytes: responseWith(line, false), expect });
  }
  // Chunk-size games: a size two parsers read differently.
  const chunked = (body: string) =>
    latin1(
      `POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n`,
    );
  const sizes: ReadonlyArray<[string, string]> = [
    ['chunk-size-overflow', 'fffffffffffffffff1\r\nA\r\n0\r\n\r\n'],
    ['chunk-size-space', '1 \r\nA\r\n0\r\n\r\n'],
    ['chunk-size-leading-space', ' 1\r\nA\r\n0\r\n\r\n'],
    ['chunk-size-0x', '0x1\r\nA\r\n0\r\n\r\n'],
    ['chunk-size-lf-only', '1\nA\r\n0\r\n\r\n'],
    ['chunk-data-lf-only', '1\r\nA\n0\r\n\r\n'],
    ['chunk-data-too-long', '1\r\nAB\r\n0\r\n\r\n'],
    ['chunk-ext-bare-cr', '1;a\rb\r\nA\r\n0\r\n\r\n'],
    ['last-chunk-no-crlf', '0\r\n'],
    ['trailer-obs-fold', '0\r\nX: a\r\n b\r\n\r\n'],
  ];
  for (const [name, body] of sizes)
    out.push({ name, kind: 'request', bytes: chunked(body), expect: 'refuse' });
  return out;
}

export const SMUGGLING_VECTORS: readonly SmugglingVector[] = build();
