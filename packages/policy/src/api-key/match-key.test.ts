import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { matchKey, matchKeyOn, sha256OfHeader } from './match-key.ts';
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

test('matchKeyOn answers as matchKey does, request after request on one connection', () => {
  const long = 'k'.repeat(300);
  const parsed = parseKeyField(Buffer.from(`first-key\nsecond-key plan=gold\n${long}\n`), {
    base64Compat: false,
  });
  assert.equal(parsed.kind, 'keys');
  if (parsed.kind !== 'keys') return;
  const entries = parsed.entries;
  const connection = {};
  const other = {};
  const presented = [
    'first-key',
    'first-key',
    'first-ke',
    'first-key ',
    'first-key\u0000',
    'second-key',
    'first-key',
    long,
    long,
    `${long}x`,
    'caf\u00e9',
    '',
    'first-key',
  ];
  for (const key of presented) {
    assert.equal(matchKeyOn(connection, entries, key), matchKey(entries, key), JSON.stringify(key));
    assert.equal(matchKeyOn(other, entries, 'second-key'), entries[1]);
    assert.equal(matchKeyOn(undefined, entries, key), matchKey(entries, key));
  }
});

test('matchKeyOn refuses a remembered key once the entries no longer hold it', () => {
  const before = parseKeyField(Buffer.from('old-key\n'), { base64Compat: false });
  const after = parseKeyField(Buffer.from('new-key\n'), { base64Compat: false });
  assert.ok(before.kind === 'keys' && after.kind === 'keys');
  if (before.kind !== 'keys' || after.kind !== 'keys') return;
  const connection = {};
  assert.equal(matchKeyOn(connection, before.entries, 'old-key'), before.entries[0]);
  assert.equal(matchKeyOn(connection, after.entries, 'old-key'), undefined);
  assert.equal(matchKeyOn(connection, after.entries, 'new-key'), after.entries[0]);
  assert.equal(matchKeyOn(connection, before.entries, 'new-key'), undefined);
});

test('matchKeyOn answers as matchKey does for near-identical keys, rotations and connections', () => {
  // Keys that differ from an accepted one by a byte, a length (around the 255 remembered),
  // a high latin1 byte or a trailing NUL, presented on a few connections while the Secret
  // rotates (a new entries array: one key dropped, one kept with a new plan, one added).
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const base = ['a', 'k'.repeat(254), 'k'.repeat(255), 'm'.repeat(256), 'key-0123456789'];
  const versions = [0, 1, 2].map((v) => {
    const lines = base
      .filter((_, i) => (i + v) % 4 !== 0)
      .map((key, i) => (i === v ? `${key} plan=p${v}` : key));
    const keys = parseKeyField(Buffer.from(`${lines.join('\n')}\n`), { base64Compat: v === 2 });
    assert.equal(keys.kind, 'keys');
    return keys.kind === 'keys' ? keys.entries : [];
  });
  const near = (key: string): string => {
    const i = random(key.length + 1);
    switch (random(6)) {
      case 0:
        return key;
      case 1:
        return `${key.slice(0, i)}${String.fromCharCode(random(256))}${key.slice(i + 1)}`;
      case 2:
        return key.slice(0, -1);
      case 3:
        return `${key}\u0000`;
      case 4:
        return `${key.slice(0, i)}${String.fromCharCode(0x100 + (key.charCodeAt(i) || 0x61))}${key.slice(i + 1)}`;
      default:
        return `${key}${key.at(-1) ?? 'k'}`;
    }
  };
  const connections = [{}, {}, {}];
  for (let n = 0; n < 20_000; n++) {
    const entries = versions[random(versions.length)] as (typeof versions)[number];
    const connection = connections[random(connections.length)] as object;
    const key = near(base[random(base.length)] as string);
    assert.equal(
      matchKeyOn(connection, entries, key),
      matchKey(entries, key),
      `request ${n}: ${JSON.stringify(key.slice(0, 20))}, length ${key.length}`,
    );
  }
});
