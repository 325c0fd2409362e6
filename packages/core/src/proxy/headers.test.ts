import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientResponseHeaders } from './headers.ts';

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
