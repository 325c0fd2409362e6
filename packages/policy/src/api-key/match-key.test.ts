import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { matchKey, sha256OfHeader } from './match-key.ts';
import { parseKeyField } from './parse-secret.ts';

const latin1Digest = (text: string) => createHash('sha256').update(text, 'latin1').digest();

test('sha256OfHeader hashes the latin1 bytes node:http decoded, ASCII or not', () => {
  for (const value of [
    '',
    'k',
    'bench-key-5e6f7a8b9c0d1e2f',
    'caf\u00e9',
    '\u00ff\u0080x',
    'a\u0000b',
  ]) {
    assert.deepEqual(sha256OfHeader(value), latin1Digest(value), JSON.stringify(value));
  }
});

test('matchKey finds the entry of a key, whichever line it is on, and nothing for others', () => {
  const keys = parseKeyField(Buffer.from('first-key\nsecond-key plan=gold\n'), {
    base64Compat: false,
  });
  assert.equal(keys.kind, 'keys');
  if (keys.kind !== 'keys') return;
  assert.equal(matchKey(keys.entries, 'first-key'), keys.entries[0]);
  assert.equal(matchKey(keys.entries, 'second-key')?.plan, 'gold');
  assert.equal(matchKey(keys.entries, 'second-key '), undefined);
  assert.equal(matchKey(keys.entries, 'caf\u00e9'), undefined);
});
