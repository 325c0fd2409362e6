import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import { RoundRobin } from '../balancer/round-robin.ts';
import { hostOf, matchRoute } from './match.ts';
import type { Endpoint, Route, RouteTable } from './types.ts';

const health = new EndpointHealth({ ejectionMs: 0 });

function tableOf(routes: Record<string, readonly string[]>): RouteTable {
  const hosts = new Map<string, Map<string, Route>>();
  const all: Route[] = [];
  for (const [host, paths] of Object.entries(routes)) {
    const byPath = new Map<string, Route>();
    for (const path of paths) {
      const route: Route = {
        host,
        path,
        namespace: 'ns',
        claimedAt: 0,
        balancer: new RoundRobin<Endpoint>([], health),
        access: null,
        pipeline: null,
      };
      byPath.set(path, route);
      all.push(route);
    }
    hosts.set(host, byPath);
  }
  return { version: 1, builtAt: 0, hosts, routes: all, pods: [], rejectedEntries: 0 };
}

/** The contract, spelled out naively: the longest route path on a segment boundary of the URL path. */
function expectedPath(paths: readonly string[], url: string): string | undefined {
  const path = url.split(/[?#]/)[0] ?? '';
  if (!path.startsWith('/')) return undefined;
  const matching = paths.filter(
    (candidate) => path === candidate || path.startsWith(candidate === '/' ? '/' : `${candidate}/`),
  );
  return matching.sort((a, b) => b.length - a.length)[0];
}

describe('hostOf', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, ''],
    ['', ''],
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['[::1]', '::1'],
    ['[::1]:8080', '::1'],
    ['[FD00::A]:80', 'fd00::a'],
    ['[::1', ''],
    [':80', ''],
  ];
  for (const [header, host] of cases) {
    it(`${JSON.stringify(header)} → ${JSON.stringify(host)}`, () => {
      assert.equal(hostOf(header), host);
    });
  }

  it('never throws and never keeps a port or upper case', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (header) => {
        const host = hostOf(header);
        assert.equal(host, host.toLowerCase());
        if (!header.startsWith('[')) assert.ok(!host.includes(':'));
      }),
    );
  });
});

describe('matchRoute', () => {
  const table = tableOf({
    'api.example.com': ['/', '/api', '/api/v1', '/nodejs', '/a:b'],
    'other.example.com': ['/other'],
  });
  const cases: Array<{ host: string; url: string; path: string | undefined }> = [
    { host: 'api.example.com', url: '/api', path: '/api' },
    { host: 'api.example.com', url: '/api/', path: '/api' },
    { host: 'api.example.com', url: '/api/x', path: '/api' },
    { host: 'api.example.com', url: '/apix', path: '/' },
    { host: 'api.example.com', url: '/api/v1', path: '/api/v1' },
    { host: 'api.example.com', url: '/api/v1/users/7', path: '/api/v1' },
    { host: 'api.example.com', url: '/api/v10', path: '/api' },
    { host: 'api.example.com', url: '/api/v1?x=/y', path: '/api/v1' },
    { host: 'api.example.com', url: '/api?next=/api/v1', path: '/api' },
    { host: 'api.example.com', url: '/api#/api/v1', path: '/api' },
    { host: 'api.example.com', url: '/api/v1#frag?x', path: '/api/v1' },
    { host: 'api.example.com', url: '/nodejsx', path: '/' },
    { host: 'api.example.com', url: '/a:b/c', path: '/a:b' },
    { host: 'api.example.com', url: '/', path: '/' },
    { host: 'api.example.com', url: '?x', path: undefined },
    { host: 'api.example.com', url: '', path: undefined },
    { host: 'api.example.com', url: 'http://api.example.com/api', path: undefined },
    { host: 'api.example.com', url: '*', path: undefined },
    { host: 'other.example.com', url: '/other/x', path: '/other' },
    { host: 'other.example.com', url: '/api', path: undefined },
    { host: 'other.example.com', url: '/', path: undefined },
    { host: 'unknown.example.com', url: '/api', path: undefined },
    { host: 'API.example.com', url: '/api', path: undefined },
  ];
  for (const { host, url, path } of cases) {
    it(`${host} ${JSON.stringify(url)} → ${path ?? 'no route'}`, () => {
      const route = matchRoute(table, host, url);
      assert.equal(route?.path, path);
      if (route) assert.equal(route.host, host);
    });
  }

  it('matches the Host header once normalized by hostOf', () => {
    assert.equal(matchRoute(table, hostOf('API.Example.com.:8443'), '/api/x')?.path, '/api');
  });

  it('always picks the longest prefix on a segment boundary, never a partial segment', () => {
    const segment = fc.constantFrom(
      'a',
      'ab',
      'api',
      'apix',
      'v1',
      'v10',
      'x',
      'a.b',
      'a:b',
      '%41',
    );
    const path = fc.array(segment, { maxLength: 4 }).map((segments) => `/${segments.join('/')}`);
    const url = fc
      .tuple(
        fc.array(fc.oneof(segment, fc.constant('')), { maxLength: 5 }),
        fc.constantFrom('', '/', '?q=/a/ab', '#/api', '?', '/?x#y'),
      )
      .map(([segments, tail]) => `/${segments.join('/')}${tail}`);
    fc.assert(
      fc.property(fc.uniqueArray(path, { maxLength: 8 }), url, (paths, requested) => {
        const route = matchRoute(tableOf({ h: paths }), 'h', requested);
        assert.equal(route?.path, expectedPath(paths, requested));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary request targets', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (url) => {
        const route = matchRoute(table, 'api.example.com', url);
        assert.equal(route?.path, expectedPath(['/', '/api', '/api/v1', '/nodejs', '/a:b'], url));
      }),
    );
  });
});
