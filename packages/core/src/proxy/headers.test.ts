import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Http1Parser, type RequestHead } from '../http1/parser.ts';
import { RawRequest } from '../server/raw-request.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';

/** What clientResponseHeaders did before it skipped lower-casing: the reference. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'expect',
];

function reference(raw: readonly string[]): string[] {
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection')
      connection = connection === undefined ? raw[i + 1] : `${connection},${raw[i + 1]}`;
  }
  const listed = new Set(
    (connection ?? '')
      .split(',')
      .map((token) => token.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase())
      .filter((token) => !['', 'close', 'keep-alive', 'upgrade'].includes(token)),
  );
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.includes(lower) || listed.has(lower)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

/** Same length and first letter as a hop-by-hop name, or the name itself in another case. */
const NAMES = [
  ...HOP_BY_HOP,
  ...HOP_BY_HOP.map((name) => name.toUpperCase()),
  'Connection',
  'Keep-Alive',
  'TE',
  'Te',
  'Trailer',
  'Upgrade',
  'Expect',
  'Server',
  'tx',
  'Content-Length',
  'Content-Type',
  'Date',
  'X-Thing',
  'cookie',
  'Transfer-Encodinx',
  'proxy-connectiox',
  'http2-settingz',
  'keep-alivf',
];
const VALUES = ['close', 'keep-alive', 'x-thing, Date', 'upgrade', 'te', '\xa0server', 'a'];

describe('clientResponseHeaders', () => {
  it('drops what the lower-casing version dropped, for every hop-by-hop name and its near misses', () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 5000; round++) {
      const raw: string[] = [];
      const count = 1 + next(8);
      for (let i = 0; i < count; i++)
        raw.push(NAMES[next(NAMES.length)] as string, VALUES[next(VALUES.length)] as string);
      assert.deepEqual(clientResponseHeaders(raw), reference(raw), JSON.stringify(raw));
    }
  });

  it('reads Buffer names and values as latin1', () => {
    const raw = [
      Buffer.from('Connection'),
      Buffer.from('X-A'),
      Buffer.from('X-A'),
      Buffer.from('1'),
    ];
    assert.deepEqual(clientResponseHeaders(raw), []);
    assert.deepEqual(clientResponseHeaders([Buffer.from('X-B'), Buffer.from([0xe9])]), [
      'X-B',
      '\xe9',
    ]);
  });
});

/** A RawRequest as the raw server makes it from `text`. */
function rawRequest(text: string): RawRequest {
  let head: RequestHead | undefined;
  const parser = new Http1Parser<RequestHead>('request', {
    onHead: (h) => {
      head = h;
    },
    onBody: () => undefined,
    onTrailers: () => undefined,
    onComplete: () => undefined,
  });
  parser.execute(Buffer.from(text, 'latin1'));
  const socket = { remoteAddress: '10.0.0.1' } as Socket;
  return new RawRequest(head as RequestHead, socket, () => undefined);
}

const OPTIONS = {
  upgrade: false,
  trustForwarded: false,
  underscores: false,
  identity: new Set<string>(),
  set: new Map([['x-policy', 'v']]),
};

describe('upstreamRequestHeaders', () => {
  const TEXT = 'GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n';

  it('vouches for the client fields as the strict parser read them, and only those', () => {
    const { fields, checked } = upstreamRequestHeaders(
      rawRequest(TEXT) as unknown as IncomingMessage,
      OPTIONS,
    );
    assert.deepEqual(fields.slice(0, checked), ['Host', 'a.example', 'Accept', '*/*']);
    assert.deepEqual(fields.slice(checked, checked + 2), ['x-forwarded-for', '10.0.0.1']);
    assert.deepEqual(fields.slice(-2), ['x-policy', 'v']);
  });

  it('vouches for none once a field changed after parsing (a hook has the request)', () => {
    const req = rawRequest(TEXT);
    req.rawHeaders[3] = 'a\r\nInjected: 1';
    const { fields, checked } = upstreamRequestHeaders(req as unknown as IncomingMessage, OPTIONS);
    assert.equal(checked, 0);
    assert.ok(fields.includes('a\r\nInjected: 1'));
  });

  it('reads the names a hook moved or added as they are now, not by their old position', () => {
    // A hook that removes the first field shifts the rest: the names lower-cased by position
    // when the request was parsed no longer belong to them.
    const req = rawRequest(
      'GET / HTTP/1.1\r\nX-Drop: 1\r\nHost: a.example\r\nX-Pad: 1\r\nKeep-Alive: smuggled\r\nX-Podrouter-Consumer: admin\r\n\r\n',
    );
    req.rawHeaders.splice(0, 2);
    req.rawHeaders.push('X-Added', '1');
    const { fields } = upstreamRequestHeaders(req as unknown as IncomingMessage, OPTIONS);
    assert.deepEqual(fields.slice(0, 6), ['Host', 'a.example', 'X-Pad', '1', 'X-Added', '1']);
  });

  it('vouches for none for a request node:http parsed', () => {
    const req = {
      rawHeaders: ['Host', 'a.example'],
      headers: { host: 'a.example' },
      socket: { remoteAddress: '10.0.0.1' },
    } as unknown as IncomingMessage;
    assert.equal(upstreamRequestHeaders(req, OPTIONS).checked, 0);
  });
});
