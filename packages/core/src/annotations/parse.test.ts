import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizeHostEntry, normalizePathEntry, parseHosts, parsePaths } from './parse.ts';

const HOSTS = 'publicHosts';
const PATHS = 'publicPaths';

/** An oracle written independently of parse.ts: what an accepted, normalized path looks like. */
function isCanonicalPath(path: string): boolean {
  if (!path.startsWith('/')) return false;
  if (path !== '/' && path.endsWith('/')) return false;
  if (/[^\x21-\x7e]/.test(path) || /[?#]/.test(path)) return false;
  if (path.includes('//')) return false;
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return false;
  return path
    .split('/')
    .map((segment) => segment.replace(/%2e/gi, '.'))
    .every((segment) => segment !== '.' && segment !== '..');
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

const isAcceptableHost = (host: string): boolean =>
  isIP(host) !== 0 || (HOSTNAME.test(host) && !/^[0-9.]+$/.test(host));

const entriesOf = (value: string) => value.split(/\s+/).filter((entry) => entry !== '');

/** Pieces that, glued together, reach the corners of both grammars far more often than noise. */
const tricky = fc.constantFrom(
  '/',
  '//',
  '.',
  '..',
  '/..',
  '/.',
  '%',
  '%2',
  '%2e',
  '%2E',
  '%2f',
  '%zz',
  '%41',
  '?',
  '#',
  ' ',
  '\t',
  '\n',
  '\u00a0',
  '\u3000',
  '\u0000',
  '\u007f',
  '\u00e9',
  '\u212a',
  '\u0130',
  '😀',
  '\ud800',
  ':',
  '[',
  ']',
  '*',
  '-',
  '_',
  'a',
  'Z',
  'api',
  'x',
  '0',
  '1',
  '8080',
  '65535',
  '65536',
  '99999',
  '00080',
  '10.0.0.1',
  '::1',
  'example.com',
  '.com',
  'a'.repeat(64),
);
const trickyString = fc.array(tricky, { maxLength: 24 }).map((parts) => parts.join(''));
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary-ascii', maxLength: 2000 }),
  trickyString,
);
const declaredPorts = fc.uniqueArray(
  fc.oneof(fc.constantFrom(80, 3000, 8080, 65535), fc.integer({ min: -5, max: 70000 })),
  {
    maxLength: 5,
  },
);

describe('normalizeHostEntry', () => {
  const cases: Array<{ name: string; entry: string; host?: string; reason?: RegExp }> = [
    { name: 'plain hostname', entry: 'api.example.com', host: 'api.example.com' },
    { name: 'lower-cases', entry: 'API.Example.COM', host: 'api.example.com' },
    { name: 'drops one trailing dot', entry: 'example.com.', host: 'example.com' },
    { name: 'single label', entry: 'localhost', host: 'localhost' },
    { name: 'digits and hyphens inside labels', entry: 'a-1.b2.c', host: 'a-1.b2.c' },
    { name: 'label of 63 characters', entry: `${'a'.repeat(63)}.io`, host: `${'a'.repeat(63)}.io` },
    { name: 'IPv4', entry: '10.0.0.1', host: '10.0.0.1' },
    { name: 'IPv6', entry: 'fd00::1', host: 'fd00::1' },
    { name: 'IPv6 upper case', entry: 'FD00::A', host: 'fd00::a' },
    { name: 'bracketed IPv6', entry: '[::1]', host: '::1' },
    { name: 'label of 64 characters', entry: `${'a'.repeat(64)}.io`, reason: /DNS label/ },
    { name: 'hostname over 253 characters', entry: `${'a.'.repeat(127)}ab`, reason: /1 to 253/ },
    { name: 'bad IPv4', entry: '10.0.0.256', reason: /IPv4/ },
    { name: 'all-digit name', entry: '123', reason: /IPv4/ },
    { name: 'wildcard', entry: '*.example.com', reason: /wildcard/ },
    { name: 'port', entry: 'example.com:8080', reason: /port/ },
    { name: 'bracketed IPv6 with port', entry: '[::1]:8080', reason: /port/ },
    { name: 'path', entry: 'example.com/api', reason: /"\/"/ },
    { name: 'leading hyphen', entry: '-a.example.com', reason: /DNS label/ },
    { name: 'trailing hyphen', entry: 'a-.example.com', reason: /DNS label/ },
    { name: 'underscore', entry: 'my_app.local', reason: /DNS label/ },
    { name: 'empty label', entry: 'a..b', reason: /DNS label/ },
    { name: 'only a dot', entry: '.', reason: /IPv4|1 to 253/ },
    { name: 'empty brackets', entry: '[]', reason: /./ },
    { name: 'brackets around a name', entry: '[example.com]', reason: /IPv6/ },
    { name: 'brackets around IPv4', entry: '[10.0.0.1]', reason: /IPv6/ },
    { name: 'non-ASCII letter', entry: 'bücher.example', reason: /ASCII|punycode/ },
    // U+212A KELVIN SIGN lower-cases to an ASCII "k": it must not sneak in as "kube.io".
    { name: 'Kelvin sign', entry: '\u212aube.io', reason: /ASCII|punycode/ },
    { name: 'punycode', entry: 'xn--bcher-kva.example', host: 'xn--bcher-kva.example' },
  ];
  for (const { name, entry, host, reason } of cases) {
    it(name, () => {
      const result = normalizeHostEntry(entry);
      if (host !== undefined) assert.deepEqual(result, { host });
      else {
        assert.ok(
          'reason' in result,
          `expected ${JSON.stringify(entry)} to be rejected, got ${JSON.stringify(result)}`,
        );
        assert.match(result.reason, reason ?? /./);
      }
    });
  }
});

describe('parseHosts', () => {
  it('splits on any whitespace and keeps the order', () => {
    assert.deepEqual(parseHosts(HOSTS, '  b.example\ta.example\n\n10.0.0.1 '), {
      hosts: ['b.example', 'a.example', '10.0.0.1'],
      rejections: [],
    });
  });

  it('treats a missing or blank annotation as no hosts', () => {
    assert.deepEqual(parseHosts(HOSTS, undefined), { hosts: [], rejections: [] });
    assert.deepEqual(parseHosts(HOSTS, ' \t\n'), { hosts: [], rejections: [] });
  });

  it('rejects bad entries one by one and keeps the others', () => {
    const parsed = parseHosts(
      HOSTS,
      'good.example *.bad example.com:80 Good.Example other.example',
    );
    assert.deepEqual(parsed.hosts, ['good.example', 'other.example']);
    assert.deepEqual(
      parsed.rejections.map(({ annotation, entry }) => ({ annotation, entry })),
      [
        { annotation: HOSTS, entry: '*.bad' },
        { annotation: HOSTS, entry: 'example.com:80' },
        { annotation: HOSTS, entry: 'Good.Example' },
      ],
    );
    assert.match(parsed.rejections[2]?.reason ?? '', /duplicate/);
  });

  it('never throws and only accepts valid, lower-case, ASCII hosts', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        const { hosts, rejections } = parseHosts(HOSTS, value);
        assert.equal(hosts.length + rejections.length, entriesOf(value).length);
        assert.equal(new Set(hosts).size, hosts.length);
        for (const host of hosts) {
          assert.ok(isAcceptableHost(host), `accepted ${JSON.stringify(host)}`);
          assert.equal(host, host.toLowerCase());
        }
        for (const rejection of rejections) {
          assert.equal(rejection.annotation, HOSTS);
          assert.notEqual(rejection.reason, '');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every valid hostname, whatever its case', () => {
    const label = fc.stringMatching(/^[a-zA-Z0-9]([-a-zA-Z0-9]{0,10}[a-zA-Z0-9])?$/);
    const hostname = fc
      .array(label, { minLength: 1, maxLength: 5 })
      .map((labels) => labels.join('.'))
      .filter((host) => !/^[0-9.]+$/.test(host));
    fc.assert(
      fc.property(hostname, (host) => {
        assert.deepEqual(parseHosts(HOSTS, host), { hosts: [host.toLowerCase()], rejections: [] });
      }),
    );
  });

  it('survives huge inputs', () => {
    for (const value of [
      'a'.repeat(1_000_000),
      `${'a.'.repeat(300_000)}b`,
      ' '.repeat(1_000_000),
      'x '.repeat(100_000),
    ]) {
      const { hosts, rejections } = parseHosts(HOSTS, value);
      assert.equal(hosts.length + rejections.length, entriesOf(value).length);
    }
  });
});

describe('normalizePathEntry', () => {
  const cases: Array<{ name: string; raw: string; path?: string; reason?: RegExp }> = [
    { name: 'root', raw: '/', path: '/' },
    { name: 'one segment', raw: '/api', path: '/api' },
    { name: 'trailing slash dropped', raw: '/api/', path: '/api' },
    { name: 'nested', raw: '/api/v1/users', path: '/api/v1/users' },
    {
      name: 'sub-delims, colon and at',
      raw: "/a:b@c!$&'()*+,;=~_-.",
      path: "/a:b@c!$&'()*+,;=~_-.",
    },
    { name: 'dots inside a segment', raw: '/v1.2/..x/x..', path: '/v1.2/..x/x..' },
    { name: 'valid percent-encoding', raw: '/caf%C3%A9', path: '/caf%C3%A9' },
    { name: 'relative', raw: 'api', reason: /start with/ },
    { name: 'empty', raw: '', reason: /start with/ },
    { name: 'query', raw: '/api?x=1', reason: /not allowed/ },
    { name: 'fragment', raw: '/api#x', reason: /not allowed/ },
    { name: 'space', raw: '/a b', reason: /not allowed/ },
    { name: 'tab', raw: '/a\tb', reason: /not allowed/ },
    { name: 'NUL', raw: '/a\u0000', reason: /not allowed/ },
    { name: 'non-ASCII', raw: '/café', reason: /not allowed/ },
    { name: 'backslash', raw: '/a\\b', reason: /not allowed/ },
    { name: 'lone percent', raw: '/a%', reason: /%/ },
    { name: 'short percent', raw: '/a%4', reason: /%/ },
    { name: 'non-hex percent', raw: '/a%zz', reason: /%/ },
    { name: 'double slash inside', raw: '/a//b', reason: /\/\// },
    { name: 'double slash at the end', raw: '/a//', reason: /\/\// },
    { name: 'only a double slash', raw: '//', reason: /\/\// },
    { name: 'leading double slash', raw: '//a', reason: /\/\// },
    { name: 'dot-dot segment', raw: '/a/../b', reason: /\.\./ },
    { name: 'trailing dot-dot', raw: '/a/..', reason: /\.\./ },
    { name: 'dot segment', raw: '/./a', reason: /"\."/ },
    { name: 'dot-dot with trailing slash', raw: '/../', reason: /\.\./ },
    { name: 'percent-encoded dot-dot', raw: '/a/%2e%2E/b', reason: /\.\./ },
    { name: 'half-encoded dot-dot', raw: '/a/.%2e', reason: /\.\./ },
    { name: 'too long', raw: `/${'a'.repeat(1024)}`, reason: /longer/ },
  ];
  for (const { name, raw, path, reason } of cases) {
    it(name, () => {
      const result = normalizePathEntry(raw);
      if (path !== undefined) assert.deepEqual(result, { path });
      else {
        assert.ok(
          'reason' in result,
          `expected ${JSON.stringify(raw)} to be rejected, got ${JSON.stringify(result)}`,
        );
        assert.match(result.reason, reason ?? /./);
      }
    });
  }

  it('never throws; what it accepts is canonical, idempotent and the input minus one trailing "/"', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyString,
          trickyString.map((s) => `/${s}`),
        ),
        (raw) => {
          const result = normalizePathEntry(raw);
          if ('reason' in result) return;
          assert.ok(
            isCanonicalPath(result.path),
            `accepted ${JSON.stringify(raw)} as ${JSON.stringify(result.path)}`,
          );
          assert.ok(raw === result.path || raw === `${result.path}/`);
          assert.deepEqual(normalizePathEntry(result.path), result);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('accepts every canonical path built from safe segments', () => {
    const segment = fc
      .stringMatching(/^[A-Za-z0-9\-_~:@!$&'()*+,;=]{1,8}$/)
      .filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), fc.boolean(), (segments, trailing) => {
        const path = `/${segments.join('/')}`;
        const raw = trailing && path !== '/' ? `${path}/` : path;
        assert.deepEqual(normalizePathEntry(raw), { path });
      }),
    );
  });
});

describe('parsePaths', () => {
  const ports = [3000, 8080];
  const cases: Array<{
    name: string;
    value: string;
    paths: Array<[number, string]>;
    reasons?: RegExp[];
  }> = [
    {
      name: 'two pairs',
      value: '3000:/nodejs 8080:/java',
      paths: [
        [3000, '/nodejs'],
        [8080, '/java'],
      ],
    },
    { name: 'root path', value: '8080:/', paths: [[8080, '/']] },
    { name: 'normalizes', value: '8080:/api/', paths: [[8080, '/api']] },
    { name: 'leading zeros', value: '08080:/api', paths: [[8080, '/api']] },
    { name: 'colon inside the path', value: '8080:/a:b', paths: [[8080, '/a:b']] },
    { name: 'no colon', value: '/api', paths: [], reasons: [/PORT:PATH/] },
    { name: 'no port', value: ':/api', paths: [], reasons: [/not a port/] },
    { name: 'named port', value: 'http:/api', paths: [], reasons: [/not a port/] },
    { name: 'negative port', value: '-1:/api', paths: [], reasons: [/not a port/] },
    { name: 'six digits', value: '100000:/api', paths: [], reasons: [/not a port/] },
    { name: 'port 0', value: '0:/api', paths: [], reasons: [/1-65535/] },
    { name: 'port 65536', value: '65536:/api', paths: [], reasons: [/1-65535/] },
    { name: 'undeclared port', value: '9090:/api', paths: [], reasons: [/3000, 8080/] },
    { name: 'bad path', value: '8080:api', paths: [], reasons: [/start with/] },
    { name: 'empty path', value: '8080:', paths: [], reasons: [/start with/] },
    {
      name: 'duplicate path, even normalized',
      value: '8080:/api 3000:/api/',
      paths: [[8080, '/api']],
      reasons: [/duplicate path \/api \(already routed to port 8080\)/],
    },
    {
      name: 'a bad entry rejects only itself',
      value: '3000:/a 9:/b 8080:/c?x 8080:/d',
      paths: [
        [3000, '/a'],
        [8080, '/d'],
      ],
      reasons: [/not one of/, /not allowed/],
    },
  ];
  for (const { name, value, paths, reasons = [] } of cases) {
    it(name, () => {
      const parsed = parsePaths(PATHS, value, ports);
      assert.deepEqual(
        parsed.paths.map(({ port, path }) => [port, path]),
        paths,
      );
      assert.equal(parsed.rejections.length, reasons.length);
      reasons.forEach((reason, index) => {
        assert.equal(parsed.rejections[index]?.annotation, PATHS);
        assert.match(parsed.rejections[index]?.reason ?? '', reason);
      });
    });
  }

  it('says so when the Pod declares no port at all', () => {
    const parsed = parsePaths(PATHS, '8080:/api', []);
    assert.deepEqual(parsed.paths, []);
    assert.match(parsed.rejections[0]?.reason ?? '', /declares no containerPort/);
  });

  it('never throws and never accepts an undeclared or out-of-range port or a non-canonical path', () => {
    const entry = fc.oneof(
      anyString,
      fc
        .tuple(
          fc.oneof(fc.integer({ min: -10, max: 70000 }).map(String), trickyString),
          fc.oneof(anyString, trickyString),
        )
        .map(([port, path]) => `${port}:${path}`),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), declaredPorts, (parts, declared) => {
        const value = parts.join(' ');
        const { paths, rejections } = parsePaths(PATHS, value, declared);
        assert.equal(paths.length + rejections.length, entriesOf(value).length);
        assert.equal(new Set(paths.map((spec) => spec.path)).size, paths.length);
        for (const { port, path } of paths) {
          assert.ok(Number.isInteger(port) && port >= 1 && port <= 65535, `accepted port ${port}`);
          assert.ok(declared.includes(port), `accepted undeclared port ${port}`);
          assert.ok(isCanonicalPath(path), `accepted path ${JSON.stringify(path)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps every good entry whatever bad entries surround it', () => {
    const good = fc
      .uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { maxLength: 5 })
      .map((names) =>
        names.map((name, index) => ({ port: index % 2 === 0 ? 3000 : 8080, path: `/${name}` })),
      );
    const bad = fc.oneof(
      fc.constantFrom(
        '9999:/x',
        '0:/x',
        '70000:/x',
        '8080:x',
        '8080:/a//b',
        '8080:/../x',
        '8080:/%zz',
        'junk',
        ':',
      ),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `8080:/?${s.replace(/\s/g, '')}`),
    );
    fc.assert(
      fc.property(good, fc.array(fc.tuple(bad, fc.nat()), { maxLength: 6 }), (specs, noise) => {
        const parts = specs.map(({ port, path }) => `${port}:${path}`);
        for (const [entry, at] of noise) parts.splice(at % (parts.length + 1), 0, entry);
        const parsed = parsePaths(PATHS, parts.join(' '), ports);
        assert.deepEqual(parsed.paths, specs);
        assert.equal(parsed.rejections.length, noise.length);
      }),
    );
  });

  it('survives huge inputs', () => {
    const values = [
      `8080:/${'a'.repeat(1_000_000)}`,
      '8080:/a '.repeat(50_000),
      `${'9'.repeat(1_000_000)}:/a`,
      `8080:${'/'.repeat(1_000_000)}`,
      `8080:/${'%'.repeat(1000)}`,
    ];
    for (const value of values) {
      const { paths, rejections } = parsePaths(PATHS, value, ports);
      assert.equal(paths.length + rejections.length, entriesOf(value).length);
    }
  });
});
