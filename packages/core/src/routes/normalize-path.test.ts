import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizePath, type PathOptions } from './normalize-path.ts';

const STRICT: PathOptions = { mergeSlashes: false, escapedSlashes: 'reject' };
const KEEP: PathOptions = { mergeSlashes: false, escapedSlashes: 'keep' };
const MERGE: PathOptions = { mergeSlashes: true, escapedSlashes: 'reject' };

const ok = (path: string, options = STRICT) => {
  const result = normalizePath(path, options);
  assert.ok(result.ok, `${path} should normalise, got ${JSON.stringify(result)}`);
  return result.path;
};
const reason = (path: string, options = STRICT) => {
  const result = normalizePath(path, options);
  assert.equal(result.ok, false, `${path} should be refused`);
  return result.ok ? '' : result.reason;
};

describe('normalizePath', () => {
  it('leaves normal paths alone (same string)', () => {
    for (const path of ['/', '/a', '/a/b/', '/a//b', "/x-_~!$&'()*+,;=:@"]) {
      assert.equal(ok(path), path);
    }
  });

  it('removes dot segments in every spelling', () => {
    const cases: [string, string][] = [
      ['/public/../internal', '/internal'],
      ['/public/%2e%2e/internal', '/internal'],
      ['/public/.%2E/internal', '/internal'],
      ['/public/%2E./internal', '/internal'],
      ['/a/./b', '/a/b'],
      ['/a/%2e/b', '/a/b'],
      ['/a/b/..', '/a/'],
      ['/a/.', '/a/'],
      ['/a/b/../../c', '/c'],
      ['/a/..', '/'],
      ['/.', '/'],
      ['/a/...', '/a/...'],
      ['/a/..b', '/a/..b'],
      ['/a/.b/', '/a/.b/'],
    ];
    for (const [input, output] of cases) assert.equal(ok(input), output, input);
  });

  it('decodes unreserved escapes and upper-cases the hex of the others', () => {
    assert.equal(ok('/%7euser/%41%62'), '/~user/Ab');
    assert.equal(ok('/a%20b/%3f/%25'), '/a%20b/%3F/%25');
  });

  it('refuses a path that climbs above the root', () => {
    for (const path of ['/..', '/../a', '/a/../..', '/%2e%2e/x', '/a/%2E%2E/%2e%2e/b']) {
      assert.equal(reason(path), 'above-root', path);
    }
  });

  it('refuses encoded slashes and backslashes unless asked to keep them', () => {
    assert.equal(reason('/public/..\\internal'), 'escaped-slash');
    assert.equal(reason('/a%2Fb'), 'escaped-slash');
    assert.equal(reason('/a%2fb'), 'escaped-slash');
    assert.equal(reason('/a%5cb'), 'escaped-slash');
    assert.equal(ok('/a%2fb', KEEP), '/a%2Fb');
    // Kept as data: `..\x` is one segment, never a way up.
    assert.equal(ok('/public/..\\internal', KEEP), '/public/..%5Cinternal');
  });

  it('refuses broken escapes, controls and fragments; escapes the rest', () => {
    assert.equal(reason('/a%'), 'bad-escape');
    assert.equal(reason('/a%2'), 'bad-escape');
    assert.equal(reason('/a%zz'), 'bad-escape');
    assert.equal(reason('/a#frag'), 'bad-char');
    assert.equal(reason('/a\u0001'), 'bad-char');
    assert.equal(ok('/a{b}"'), '/a%7Bb%7D%22');
    assert.equal(ok('/caf\u00e9'), '/caf%E9');
    assert.equal(reason('relative'), 'not-absolute');
    assert.equal(reason('*'), 'not-absolute');
  });

  it('merges slashes only when asked', () => {
    assert.equal(ok('//a///b//', MERGE), '/a/b/');
    assert.equal(ok('/a//../b', MERGE), '/b');
    assert.equal(ok('/a//../b'), '/a/b');
  });

  describe('properties', () => {
    const segment = fc.oneof(
      fc.constantFrom('', '.', '..', '%2e', '%2E%2e', '.%2e', '%2e.', 'a', 'b', '..a', '%41'),
      fc.constantFrom('%2f', '%5C', '\\', '%25', '%', '%g1', '~', '{', '#', '\u00e9', '\u0000'),
      fc.string({ maxLength: 6 }),
    );
    const path = fc.array(segment, { maxLength: 12 }).map((parts) => `/${parts.join('/')}`);
    const options = fc.record({
      mergeSlashes: fc.boolean(),
      escapedSlashes: fc.constantFrom('reject' as const, 'keep' as const),
    });

    it('never throws, and what it accepts is normal, idempotent and under the root', () => {
      fc.assert(
        fc.property(path, options, (input, opts) => {
          const result = normalizePath(input, opts);
          if (!result.ok) return;
          const out = result.path;
          assert.equal(out.charCodeAt(0), 47);
          const segments = out.split('/').slice(1);
          assert.ok(!segments.includes('.') && !segments.includes('..'), out);
          assert.match(out, /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/);
          assert.doesNotMatch(out, /%(2[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9]|5[fF]|7[eE])/);
          if (opts.escapedSlashes === 'reject') assert.doesNotMatch(out, /%2F|%5C|\\/i);
          if (opts.mergeSlashes) assert.doesNotMatch(out, /\/\//);
          const again = normalizePath(out, opts);
          assert.deepEqual(again, { ok: true, path: out });
        }),
        { numRuns: 5000 },
      );
    });

    it('a path inside a prefix stays inside it or is refused (no escape with dot segments)', () => {
      fc.assert(
        fc.property(path, (rest) => {
          const result = normalizePath(`/public${rest}`, STRICT);
          if (!result.ok) return;
          // Climbing out of /public is only possible with as many `..` as segments; then
          // the result must not claim to be inside /public unless it is literally so.
          const climbs = rest
            .split('/')
            .map((part) => part.replace(/%2e/gi, '.'))
            .filter((part) => part === '..').length;
          if (climbs === 0) assert.ok(result.path.startsWith('/public'), result.path);
        }),
        { numRuns: 3000 },
      );
    });
  });
});
