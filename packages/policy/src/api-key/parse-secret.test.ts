import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { matchKey } from './match-key.ts';
import { parseKeyField } from './parse-secret.ts';

const hex = (text: string) => createHash('sha256').update(text).digest('hex');
const parse = (text: string, base64Compat = false) =>
  parseKeyField(Buffer.from(text), { base64Compat });

describe('parseKeyField', () => {
  it('keeps only digests of plaintext and hashed entries, one a line', () => {
    const set = parse(`old-key\n# comment\n\n  sha256:${hex('new-key')}  plan=gold\r\n`);
    assert.equal(set.kind, 'keys');
    if (set.kind !== 'keys') return;
    assert.equal(set.entries.length, 2);
    assert.deepEqual(
      set.entries.map((entry) => [entry.id, entry.plan]),
      [
        [hex('old-key').slice(0, 8), undefined],
        [hex('new-key').slice(0, 8), 'gold'],
      ],
    );
    assert.ok(!JSON.stringify(set).includes('old-key'));
  });

  it('rejects what it cannot read, naming the line and never the value', () => {
    const cases: [string, RegExp][] = [
      ['', /no key/],
      ['# only a comment\n', /no key/],
      ['good\nsha256:abc123', /line 2: .*64 hex/],
      ['s3cr3t value-with space', /line 1: unknown attribute/],
      ['k\u0001ey', /line 1: .*visible ASCII/],
      ['clé-secrète', /line 1: .*visible ASCII/],
      ['key plan=Not_Valid', /line 1: unknown attribute/],
    ];
    for (const [text, reason] of cases) {
      const set = parse(text);
      assert.equal(set.kind, 'invalid', text);
      if (set.kind !== 'invalid') continue;
      assert.match(set.reason, reason);
      for (const word of text.split(/\s+/).filter((w) => w.length > 3)) {
        assert.ok(!set.reason.includes(word), `reason leaks ${word}`);
      }
    }
    assert.equal(parseKeyField(Buffer.from([0xff, 0xfe]), { base64Compat: false }).kind, 'invalid');
  });

  it('accepts the base64 form of the whole field only behind the compatibility switch', () => {
    const base64 = Buffer.from('legacy').toString('base64');
    const off = parse('legacy');
    const on = parse('legacy', true);
    assert.ok(off.kind === 'keys' && on.kind === 'keys');
    if (off.kind !== 'keys' || on.kind !== 'keys') return;
    assert.equal(matchKey(off.entries, base64), undefined);
    assert.ok(matchKey(on.entries, base64));
    assert.ok(matchKey(on.entries, 'legacy'));
  });
});

describe('matchKey', () => {
  it('finds rotated and hashed keys and nothing else', () => {
    const set = parse(`one\ntwo\nsha256:${hex('three')}`);
    assert.ok(set.kind === 'keys');
    if (set.kind !== 'keys') return;
    for (const key of ['one', 'two', 'three']) {
      assert.equal(matchKey(set.entries, key)?.id, hex(key).slice(0, 8));
      assert.equal(matchKey(set.entries, key)?.consumerId, hex(key).slice(0, 16));
    }
    for (const key of ['', 'on', 'one ', 'ONE', `sha256:${hex('three')}`]) {
      assert.equal(matchKey(set.entries, key), undefined, key);
    }
  });
});
