import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFieldValue, isRequestTarget, isToken } from './chars.ts';
import type { ParseErrorCode } from './errors.ts';
import { type ParsedStream, parseWhole } from './parse-whole.ts';
import { Http1Parser, type RequestHead, type ResponseHead } from './parser.ts';

const bytes = (text: string) => Buffer.from(text, 'latin1');
const request = (text: string, options = {}) => parseWhole('request', [bytes(text)], options);
const response = (text: string, options = {}) => parseWhole('response', [bytes(text)], options);

/** The same stream fed one byte at a time. */
const byteByByte = (kind: 'request' | 'response', text: string, options = {}) =>
  parseWhole(
    kind,
    [...bytes(text)].map((byte) => Buffer.from([byte])),
    options,
  );

const firstHead = (text: string) => {
  const first = request(text).messages[0];
  assert.ok(first);
  return first.head as RequestHead;
};

const summary = (stream: ParsedStream) => ({
  error: stream.error?.code ?? null,
  messages: stream.messages.map((m) => ({
    head: m.head,
    body: m.body.toString('latin1'),
    trailers: m.trailers,
    complete: m.complete,
  })),
});

describe('Http1Parser: requests', () => {
  it('parses a head, fields as sent and OWS trimmed', () => {
    const { messages, error } = request(
      'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Two:  a b \t\r\nEmpty:\r\n\r\n',
    );
    assert.equal(error, null);
    assert.equal(messages.length, 1);
    const head = messages[0]?.head as RequestHead;
    assert.equal(head.method, 'GET');
    assert.equal(head.target, '/a?b=c');
    assert.equal(head.versionMinor, 1);
    assert.deepEqual(head.headers, ['Host', 'example.com', 'X-Two', 'a b', 'Empty', '']);
    assert.equal(head.keepAlive, true);
    assert.equal(head.contentLength, -1);
    assert.equal(head.chunked, false);
  });

  it('reads a Content-Length body and then the next pipelined request', () => {
    const text = 'POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\n\r\n';
    const whole = summary(request(text));
    assert.equal(whole.error, null);
    assert.deepEqual(
      whole.messages.map((m) => [(m.head as RequestHead).target, m.body]),
      [
        ['/p', 'hello'],
        ['/q', ''],
      ],
    );
    assert.deepEqual(summary(byteByByte('request', text)), whole);
  });

  it('decodes chunked bodies with extensions and trailers', () => {
    const text =
      'POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n' +
      '5;name=value;q="a \\"b\\""\r\nhello\r\n' +
      '000A\r\n, world!!!\r\n' +
      '0;last\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n';
    const whole = summary(request(text));
    assert.equal(whole.error, null);
    assert.equal(whole.messages[0]?.body, 'hello, world!!!');
    assert.deepEqual(whole.messages[0]?.trailers, ['X-Sum', '1', 'X-Other', '2']);
    assert.deepEqual(summary(byteByByte('request', text)), whole);
  });

  it('accepts origin-form, absolute-form and asterisk-form for OPTIONS (RFC 9112 §3.2)', () => {
    for (const target of [
      '/a?b',
      'http://a.example',
      'HTTPS://a.example:8443/x?y',
      'http://[::1]:80/',
    ]) {
      assert.equal(request(`GET ${target} HTTP/1.1\r\n\r\n`).error, null, target);
    }
    assert.equal(request('OPTIONS * HTTP/1.1\r\n\r\n').error, null);
    assert.equal(request('PROPFIND / HTTP/1.1\r\n\r\n').error, null);
    assert.equal(request('BREW / HTTP/1.1\r\n\r\n').error?.status, 501);
  });

  it('skips empty lines before a request line (RFC 9112 §2.2)', () => {
    const { messages, error } = request('\r\n\r\nGET / HTTP/1.1\r\n\r\n');
    assert.equal(error, null);
    assert.equal(messages.length, 1);
  });

  it('keeps HTTP/1.0 alive only when asked, HTTP/1.1 unless told to close', () => {
    const keepAlive = (text: string) => firstHead(text).keepAlive;
    assert.equal(keepAlive('GET / HTTP/1.0\r\n\r\n'), false);
    assert.equal(keepAlive('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n'), true);
    assert.equal(keepAlive('GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n'), false);
    assert.equal(keepAlive('GET / HTTP/1.1\r\nConnection: x-hop\r\n\r\n'), true);
    // Only SP and HTAB are whitespace: NBSP is part of the token (as llhttp reads it).
    assert.equal(keepAlive('GET / HTTP/1.1\r\nConnection: \u00a0close\r\n\r\n'), true);
  });

  it('marks upgrades only with both the Upgrade field and the upgrade option', () => {
    const upgrade = (text: string) => firstHead(text).upgrade;
    assert.equal(
      upgrade('GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
      true,
    );
    assert.equal(upgrade('GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n'), false);
  });

  const rejected: Array<[string, string, ParseErrorCode]> = [
    [
      'Content-Length and chunked',
      'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'CONTENT_LENGTH_AND_TRANSFER_ENCODING',
    ],
    [
      'chunked then Content-Length',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n',
      'CONTENT_LENGTH_AND_TRANSFER_ENCODING',
    ],
    [
      'two equal Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n',
      'DUPLICATE_CONTENT_LENGTH',
    ],
    [
      'a Content-Length list',
      'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n',
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'a signed Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n',
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'a hex Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n',
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'an empty Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: \r\n\r\n',
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'a 16-digit Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n',
      'INVALID_CONTENT_LENGTH',
    ],
    [
      'a coding before chunked',
      'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'chunked twice',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'chunked not last',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'a look-alike coding',
      'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'chunked on HTTP/1.0',
      'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    ['obs-fold', 'GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n', 'OBS_FOLD'],
    ['whitespace before the first field', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 'OBS_FOLD'],
    ['a bare LF ending a field', 'GET / HTTP/1.1\r\nHost: a\n\r\n\r\n', 'LINE_ENDING'],
    ['a bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'LINE_ENDING'],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n', 'LINE_ENDING'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'INVALID_FIELD_NAME'],
    ['a field without a colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n', 'INVALID_FIELD_NAME'],
    ['a separator in a field name', 'GET / HTTP/1.1\r\nX(A): a\r\n\r\n', 'INVALID_FIELD_NAME'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nX-A: a\u0000b\r\n\r\n', 'INVALID_FIELD_VALUE'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nX-A: a\u007fb\r\n\r\n', 'INVALID_FIELD_VALUE'],
    ['a separator in the method', 'G(T / HTTP/1.1\r\n\r\n', 'INVALID_METHOD'],
    ['an unknown method', 'BREW / HTTP/1.1\r\n\r\n', 'UNKNOWN_METHOD'],
    ['a lower-case method', 'get / HTTP/1.1\r\n\r\n', 'UNKNOWN_METHOD'],
    ['CONNECT', 'CONNECT a.example:443 HTTP/1.1\r\n\r\n', 'UNKNOWN_METHOD'],
    ['a fragment in the target', 'GET /a#b HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['a relative target', 'GET a/b HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['asterisk-form on GET', 'GET * HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['userinfo in absolute-form', 'GET http://u@a.example/ HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['an absolute-form without authority', 'GET http:///x HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['no method', ' / HTTP/1.1\r\n\r\n', 'INVALID_METHOD'],
    ['a control byte in the target', 'GET /a\u0001 HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['a raw UTF-8 byte in the target', 'GET /\u00e9 HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['two spaces before the target', 'GET  / HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n\r\n', 'INVALID_VERSION'],
    ['a lower-case version', 'GET / http/1.1\r\n\r\n', 'INVALID_VERSION'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 'VERSION_NOT_SUPPORTED'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 'VERSION_NOT_SUPPORTED'],
    ['HTTP/0.9 style', 'GET /\r\n\r\n', 'INVALID_TARGET'],
    [
      'a chunk size with a sign',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a space after the chunk size',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a huge chunk size',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n',
      'INVALID_CHUNK_SIZE',
    ],
    [
      'no chunk size',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n',
      'INVALID_CHUNK_SIZE',
    ],
    [
      'chunk data longer than its size',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_END',
    ],
    [
      'chunk data ended by LF',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n',
      'INVALID_CHUNK_END',
    ],
    [
      'a chunk line ended by LF',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_SIZE',
    ],
    [
      'a bad chunk extension',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'an unterminated quoted extension',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n',
      'INVALID_CHUNK_EXTENSION',
    ],
    [
      'obs-fold in trailers',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n',
      'OBS_FOLD',
    ],
  ];
  for (const [name, text, code] of rejected) {
    it(`rejects ${name} (${code})`, () => {
      assert.equal(request(text).error?.code, code);
      assert.equal(byteByByte('request', text).error?.code, code, 'byte by byte');
    });
  }

  it('answers status codes a server can send for each refusal', () => {
    assert.equal(request('GET / HTTP/2.0\r\n\r\n').error?.status, 505);
    assert.equal(request('GET / HTTP/1.1\r\nX: \u0000\r\n\r\n').error?.status, 400);
    assert.equal(request('POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n').error?.status, 501);
  });

  it('bounds the head, the number of fields, chunk lines and trailers', () => {
    const big = `GET / HTTP/1.1\r\nX: ${'a'.repeat(200)}\r\n\r\n`;
    assert.equal(request(big, { limits: { maxHeadBytes: 100 } }).error?.code, 'HEAD_TOO_LARGE');
    // Without its end yet: refused as soon as the limit is passed, not when the end arrives.
    assert.equal(
      request(`GET / HTTP/1.1\r\nX: ${'a'.repeat(200)}`, { limits: { maxHeadBytes: 100 } }).error
        ?.code,
      'HEAD_TOO_LARGE',
    );
    const fields = `GET / HTTP/1.1\r\n${'X: 1\r\n'.repeat(11)}\r\n`;
    assert.equal(request(fields, { limits: { maxFields: 10 } }).error?.code, 'TOO_MANY_FIELDS');
    assert.equal(request(fields, { limits: { maxFields: 11 } }).error, null);
    const chunked = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
    assert.equal(
      request(`${chunked}5;${'a'.repeat(100)}\r\nhello\r\n0\r\n\r\n`, {
        limits: { maxChunkLineBytes: 50 },
      }).error?.code,
      'CHUNK_LINE_TOO_LONG',
    );
    assert.equal(
      request(`${chunked}0000000000000000000000000000005\r\nhello\r\n0\r\n\r\n`).error,
      null,
    );
    assert.equal(
      request(`${chunked}0\r\nX: ${'a'.repeat(200)}\r\n\r\n`, { limits: { maxTrailerBytes: 100 } })
        .error?.code,
      'TRAILERS_TOO_LARGE',
    );
  });

  it('reports a message cut short by the end of the stream', () => {
    assert.equal(
      request('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel', { eof: true }).error?.code,
      'TRUNCATED',
    );
    assert.equal(request('GET / HTTP/1.1\r\nHost: a\r\n', { eof: true }).error?.code, 'TRUNCATED');
    assert.equal(request('GET / HTTP/1.1\r\n\r\n', { eof: true }).error, null);
  });

  it('stops where a handler pauses and resumes from the rest', () => {
    const seen: string[] = [];
    const parser: Http1Parser<RequestHead> = new Http1Parser<RequestHead>('request', {
      onHead: (head) => seen.push(head.target),
      onBody: () => undefined,
      onTrailers: () => undefined,
      onComplete: () => parser.pause(),
    });
    const data = bytes('GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n');
    const used = parser.execute(data);
    assert.equal(used, 19);
    assert.deepEqual(seen, ['/1']);
    parser.resume();
    assert.equal(parser.execute(data.subarray(used)), data.length - used);
    assert.deepEqual(seen, ['/1', '/2']);
  });
});

describe('Http1Parser: responses', () => {
  it('reads a status line with and without a reason', () => {
    const ok = response('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
    assert.equal(ok.error, null);
    const head = ok.messages[0]?.head as ResponseHead;
    assert.equal(head.status, 200);
    assert.equal(head.reason, 'OK');
    assert.equal(ok.messages[0]?.body.toString(), 'hi');
    const bare = response('HTTP/1.1 204\r\n\r\n');
    assert.equal(bare.error, null);
    assert.equal((bare.messages[0]?.head as ResponseHead | undefined)?.reason, '');
  });

  it('has no body after HEAD, 204 and 304 whatever the fields say', () => {
    const afterHead = response(
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
      { requestMethods: ['HEAD', 'GET'] },
    );
    assert.equal(afterHead.error, null);
    assert.deepEqual(
      afterHead.messages.map((m) => m.body.toString()),
      ['', 'x'],
    );
    for (const [status, length] of [
      [204, 0],
      [304, 10],
    ]) {
      const stream = response(
        `HTTP/1.1 ${status} X\r\nContent-Length: ${length}\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
      );
      assert.equal(stream.error, null);
      assert.equal(stream.messages.length, 2);
    }
  });

  it('passes 1xx heads, then the final response', () => {
    const stream = response(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
    );
    assert.equal(stream.error, null);
    assert.deepEqual(
      stream.messages.map((m) => (m.head as ResponseHead).status),
      [100, 103, 200],
    );
  });

  it('stops at a 101: what follows is another protocol', () => {
    const stream = response(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u0081\u0000',
    );
    assert.equal(stream.error, null);
    assert.equal((stream.messages[0]?.head as ResponseHead | undefined)?.status, 101);
    assert.equal(stream.upgradedRest, 2);
  });

  it('reads a body without length until the connection closes', () => {
    const open = response('HTTP/1.1 200 OK\r\n\r\nabc');
    assert.equal(open.messages[0]?.complete, false);
    const closed = response('HTTP/1.1 200 OK\r\n\r\nabc', { eof: true });
    assert.equal(closed.messages[0]?.complete, true);
    assert.equal(
      closed.messages[0]?.head.keepAlive,
      false,
      'a body until close ends the connection',
    );
    assert.equal(closed.messages[0]?.body.toString(), 'abc');
  });

  const rejected: Array<[string, string, ParseErrorCode]> = [
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'INVALID_STATUS'],
    ['status 099', 'HTTP/1.1 099 X\r\n\r\n', 'INVALID_STATUS'],
    ['status 600', 'HTTP/1.1 600 X\r\n\r\n', 'INVALID_STATUS'],
    ['a control in the reason', 'HTTP/1.1 200 O\u0001K\r\n\r\n', 'INVALID_REASON'],
    ['a bare LF after the status line', 'HTTP/1.1 200 OK\n\r\n\r\n', 'LINE_ENDING'],
    ['an empty line first', '\r\nHTTP/1.1 200 OK\r\n\r\n', 'LINE_ENDING'],
    ['HTTP/2', 'HTTP/2.0 200 OK\r\n\r\n', 'VERSION_NOT_SUPPORTED'],
    [
      'Content-Length and chunked',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'CONTENT_LENGTH_AND_TRANSFER_ENCODING',
    ],
    [
      'gzip transfer coding',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'two Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'DUPLICATE_CONTENT_LENGTH',
    ],
  ];
  for (const [name, text, code] of rejected) {
    it(`rejects ${name} (${code})`, () => {
      assert.equal(response(text).error?.code, code);
      assert.equal(byteByByte('response', text).error?.code, code, 'byte by byte');
    });
  }
});

describe('chars', () => {
  it('accepts only what may be written on the wire', () => {
    assert.equal(isToken('X-Podrouter-Key-Id'), true);
    assert.equal(isToken('x y'), false);
    assert.equal(isToken(''), false);
    assert.equal(isFieldValue('a b\tc'), true);
    assert.equal(isFieldValue(''), true);
    assert.equal(isFieldValue('a\r\nX-Evil: 1'), false);
    assert.equal(isFieldValue(' leading'), false);
    assert.equal(isFieldValue('\u0100'), false);
    assert.equal(isRequestTarget('/a?b'), true);
    assert.equal(isRequestTarget('/a b'), false);
    assert.equal(isRequestTarget(''), false);
  });
});

// ---------- properties ----------

const tokenChar = fc.constantFrom(
  ..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split(''),
);
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const valueChar = fc.oneof(
  fc.integer({ min: 0x21, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xff }),
  fc.constantFrom(0x20, 0x09),
);
/** A field value as a parser returns it: no leading or trailing whitespace. */
const fieldValue = fc
  .array(valueChar, { maxLength: 20 })
  .map((codes) => String.fromCharCode(...codes).replace(/^[ \t]+|[ \t]+$/g, ''));
const framingNames = /^(content-length|transfer-encoding|connection|upgrade)$/i;
const fields = fc.array(
  fc.tuple(
    token.filter((name) => !framingNames.test(name)),
    fieldValue,
  ),
  { maxLength: 8 },
);
const body = fc.uint8Array({ maxLength: 200 }).map((array) => Buffer.from(array));

interface Model {
  readonly method: string;
  readonly target: string;
  readonly fields: Array<[string, string]>;
  readonly body: Buffer;
  readonly chunks: number[] | null;
  readonly trailers: Array<[string, string]>;
}

const model: fc.Arbitrary<Model> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PROPFIND', 'QUERY', 'M-SEARCH'),
  target: fc
    .string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 30,
    })
    .map((rest) => `/${rest.replaceAll('#', '%23')}`),
  fields,
  body,
  chunks: fc.option(fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 6 })),
  trailers: fields,
});

/** A model written the way any conforming sender would write it. */
function serialize(m: Model): Buffer {
  const lines = [`${m.method} ${m.target} HTTP/1.1`];
  for (const [name, value] of m.fields) lines.push(`${name}: ${value}`);
  if (m.chunks === null) {
    lines.push(`Content-Length: ${m.body.length}`);
    return Buffer.concat([bytes(`${lines.join('\r\n')}\r\n\r\n`), m.body]);
  }
  lines.push('Transfer-Encoding: chunked');
  const parts: Buffer[] = [bytes(`${lines.join('\r\n')}\r\n\r\n`)];
  let at = 0;
  for (const size of [...m.chunks, m.body.length]) {
    const piece = m.body.subarray(at, Math.min(m.body.length, at + size));
    if (piece.length === 0) continue;
    parts.push(bytes(`${piece.length.toString(16)}\r\n`), piece, bytes('\r\n'));
    at += piece.length;
  }
  const trailer = m.trailers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  parts.push(bytes(`0\r\n${trailer}\r\n`));
  return Buffer.concat(parts);
}

/** Splits a buffer at the given fractions of its length. */
function split(buffer: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((cut) => Math.floor(cut * buffer.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of at) {
    out.push(buffer.subarray(from, cut));
    from = cut;
  }
  out.push(buffer.subarray(from));
  return out;
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

describe('Http1Parser properties', () => {
  it('parses what a conforming sender writes back into the same message, however it is split', () => {
    fc.assert(
      fc.property(fc.array(model, { minLength: 1, maxLength: 3 }), cuts, (models, at) => {
        const stream = Buffer.concat(models.map(serialize));
        const parsed = parseWhole('request', split(stream, at));
        assert.equal(parsed.error, null);
        assert.equal(parsed.messages.length, models.length);
        models.forEach((m, i) => {
          const got = parsed.messages[i];
          const head = got?.head as RequestHead;
          assert.equal(head.method, m.method);
          assert.equal(head.target, m.target);
          assert.deepEqual(head.headers.slice(0, m.fields.length * 2), m.fields.flat());
          assert.deepEqual(got?.body, m.body);
          assert.deepEqual(got?.trailers, m.chunks === null ? [] : m.trailers.flat());
        });
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same result for any split of any bytes, and never throws', () => {
    const noise = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      // Valid messages with a few bytes overwritten: most of the interesting inputs.
      fc
        .tuple(
          model,
          fc.array(
            fc.tuple(
              fc.double({ min: 0, max: 1, noNaN: true }),
              fc.constantFrom(0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x7f, 0x80, 0x30, 0x3b),
            ),
            { minLength: 1, maxLength: 3 },
          ),
        )
        .map(([m, edits]) => {
          const buffer = Buffer.from(serialize(m));
          for (const [where, byte] of edits) buffer[Math.floor(where * (buffer.length - 1))] = byte;
          return buffer;
        }),
    );
    fc.assert(
      fc.property(
        noise,
        cuts,
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        (buffer, at, kind) => {
          const whole = summary(parseWhole(kind, [buffer], { eof: true }));
          const pieces = summary(parseWhole(kind, split(buffer, at), { eof: true }));
          assert.deepEqual(pieces, whole);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads each message of a connection as a fresh parser would, however alike they are', () => {
    // The parser reuses the previous message's strings for bytes equal to them (same
    // position): messages that differ from the one before by a byte, a case, a length or a
    // high latin1 byte must still read exactly as when each is parsed alone.
    const edit = fc.tuple(
      fc.nat(),
      fc.oneof(
        fc.constantFrom('case', 'longer', 'shorter', 'same'),
        fc.integer({ min: 0x20, max: 0xff }),
      ),
    );
    const alter = (text: string, [at, how]: [number, string | number]): string => {
      if (text.length === 0) return how === 'longer' ? 'x' : text;
      const i = at % text.length;
      if (how === 'case') {
        const c = text[i] as string;
        const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
        return text.slice(0, i) + flipped + text.slice(i + 1);
      }
      if (how === 'longer') return `${text}${text[i]}`;
      if (how === 'shorter') return text.slice(0, -1);
      if (how === 'same') return text;
      const code = how as number;
      // Field values keep their edges free of whitespace; names stay tokens (checked below).
      return text.slice(0, i) + String.fromCharCode(code) + text.slice(i + 1);
    };
    const variant = (m: Model, edits: Array<[number, string | number]>): Model => {
      const fieldsOut = m.fields.map(([name, value], i): [string, string] => {
        const e = edits[i % Math.max(edits.length, 1)];
        if (e === undefined) return [name, value];
        const newName = alter(name, e);
        const newValue = alter(value, e).replace(/^[ \t]+|[ \t]+$/g, '');
        return [isToken(newName) && !framingNames.test(newName) ? newName : name, newValue];
      });
      const target = alter(m.target, edits[0] ?? [0, 'same']);
      return { ...m, fields: fieldsOut, target: isRequestTarget(target) ? target : m.target };
    };
    const response = (m: Model, status: number): Buffer => {
      const lines = [`HTTP/1.1 ${status} ${m.target.slice(1)}`];
      for (const [name, value] of m.fields) lines.push(`${name}: ${value}`);
      lines.push(`Content-Length: ${m.body.length}`);
      return Buffer.concat([bytes(`${lines.join('\r\n')}\r\n\r\n`), m.body]);
    };
    fc.assert(
      fc.property(
        model,
        fc.array(fc.array(edit, { maxLength: 4 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        (base, edits, kind) => {
          const models = [base, ...edits.map((e) => variant(base, e))];
          const messages = models.map((m, i) =>
            kind === 'request' ? serialize(m) : response(m, 200 + i),
          );
          const together = summary(parseWhole(kind, [Buffer.concat(messages)]));
          const alone = messages.map((m) => summary(parseWhole(kind, [m])));
          assert.equal(together.error, alone.find((a) => a.error !== null)?.error ?? null);
          assert.deepEqual(
            together.messages,
            alone.flatMap((a) => a.messages).slice(0, together.messages.length),
          );
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('reads any byte put into a remembered name or value as a fresh parser does, across reads', () => {
    // The bytes a remembered string is compared with may be followed or interrupted by any
    // byte (CR, LF, NUL, HTAB, DEL, obs-text, ':'): a connection's parser must refuse or read
    // each message exactly as a parser that never saw the one before, however it is split.
    const base: Array<[string, string]> = [
      ['Host', 'api.example'],
      ['User-Agent', 'curl/8.5.0'],
      ['Accept', '*/*'],
      ['X-Api-Key', 'k-0123456789abcdef'],
      ['X-Empty', ''],
    ];
    const mutation = fc.record({
      field: fc.nat(),
      part: fc.constantFrom('name', 'value'),
      at: fc.nat(),
      how: fc.constantFrom('insert', 'replace', 'delete', 'same'),
      byte: fc.oneof(
        fc.integer({ min: 0, max: 0xff }),
        fc.constantFrom(0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x80, 0xff),
      ),
    });
    type Mutation = { field: number; part: string; at: number; how: string; byte: number };
    const edit = (text: string, m: Mutation): string => {
      const i = m.at % (text.length + 1);
      const c = String.fromCharCode(m.byte);
      if (m.how === 'insert') return text.slice(0, i) + c + text.slice(i);
      if (m.how === 'replace' && i < text.length) return text.slice(0, i) + c + text.slice(i + 1);
      if (m.how === 'delete' && i < text.length) return text.slice(0, i) + text.slice(i + 1);
      return text;
    };
    const message = (kind: 'request' | 'response', fields: Array<[string, string]>) => {
      const start = kind === 'request' ? 'GET /a/b?c=d HTTP/1.1' : 'HTTP/1.1 200 OK';
      // The framing field stays as it is: a changed length would move the next message.
      const lines = [start, ...fields.map(([n, v]) => `${n}: ${v}`), 'Content-Length: 3'];
      return Buffer.from(`${lines.join('\r\n')}\r\n\r\nabc`, 'latin1');
    };
    fc.assert(
      fc.property(
        fc.array(fc.array(mutation, { maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        fc.array(fc.nat(), { maxLength: 4 }),
        (edits, kind, cuts) => {
          const messages = [
            base,
            ...edits.map((list) => {
              const fields = base.map(([n, v]): [string, string] => [n, v]);
              for (const m of list) {
                const f = fields[m.field % fields.length] as [string, string];
                if (m.part === 'name') f[0] = edit(f[0], m);
                else f[1] = edit(f[1], m);
              }
              return fields;
            }),
          ].map((fields) => message(kind, fields));
          const whole = Buffer.concat(messages);
          const at = [...new Set(cuts.map((c) => c % whole.length))].sort((a, b) => a - b);
          const pieces = [0, ...at].map((s, i) => whole.subarray(s, at[i] ?? whole.length));
          const together = summary(parseWhole(kind, pieces));
          const alone = messages.map((m) => summary(parseWhole(kind, [m])));
          const firstBad = alone.findIndex((a) => a.error !== null);
          const expected = firstBad === -1 ? alone : alone.slice(0, firstBad + 1);
          assert.equal(together.error, firstBad === -1 ? null : alone[firstBad]?.error);
          assert.deepEqual(
            together.messages,
            expected.flatMap((a) => a.messages).slice(0, together.messages.length),
          );
          if (firstBad === -1) assert.equal(together.messages.length, messages.length);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a chunked body never yields more bytes than its chunk sizes declare', () => {
    fc.assert(
      fc.property(model, (m) => {
        const chunked = { ...m, chunks: m.chunks ?? [7] };
        const buffer = serialize(chunked);
        // Whatever follows the message is the next message, never part of this body.
        const smuggled = Buffer.concat([buffer, bytes('GET /smuggled HTTP/1.1\r\n\r\n')]);
        const parsed = parseWhole('request', [smuggled]);
        assert.equal(parsed.error, null);
        assert.equal(parsed.messages.length, 2);
        assert.equal((parsed.messages[1]?.head as RequestHead | undefined)?.target, '/smuggled');
        assert.deepEqual(parsed.messages[0]?.body, m.body);
      }),
      { numRuns: 200 },
    );
  });
});
