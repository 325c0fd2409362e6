import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHosts, parsePaths } from '../annotations/parse.ts';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
import type { PodInfo } from '../pods/types.ts';
import { buildRouteTable, type TableOptions } from './build-table.ts';
import { matchRoute } from './match.ts';
import type { RouteTable } from './types.ts';

const HOSTS = 'publicHosts';
const PATHS = 'publicPaths';
const T0 = Date.UTC(2025, 0, 1);

function pod(overrides: Partial<PodInfo> & { hosts?: string; paths?: string } = {}): PodInfo {
  const { hosts, paths, ...rest } = overrides;
  const annotations: Record<string, string> = {};
  if (hosts !== undefined) annotations[HOSTS] = hosts;
  if (paths !== undefined) annotations[PATHS] = paths;
  const namespace = rest.namespace ?? 'team-a';
  const name = rest.name ?? 'web-1';
  return {
    namespace,
    name,
    uid: `${namespace}/${name}`,
    createdAt: T0,
    labels: { routable: 'true' },
    annotations,
    containerPorts: [8080],
    phase: 'Running',
    podIP: '10.0.0.1',
    ready: true,
    terminating: false,
    ...rest,
  };
}

function options(overrides: Partial<TableOptions> = {}): TableOptions {
  return {
    hostsAnnotation: HOSTS,
    pathsAnnotation: PATHS,
    selector: parseLabelSelector('routable=true'),
    health: new EndpointHealth({ ejectionMs: 1000, now: () => 0 }),
    now: 0,
    ...overrides,
  };
}

const build = (pods: PodInfo[], overrides: Partial<TableOptions> = {}) =>
  buildRouteTable({ pods, secrets: [] }, options(overrides));

/** Everything a table says, as plain data (the balancer's cursor is private and not part of it). */
const snapshot = (table: RouteTable) =>
  JSON.stringify({
    hosts: [...table.hosts].map(([host, paths]) => [host, [...paths.keys()]]),
    routes: table.routes,
    pods: table.pods,
    rejectedEntries: table.rejectedEntries,
  });

const endpointKeys = (table: RouteTable, host: string, path: string) =>
  table.hosts
    .get(host)
    ?.get(path)
    ?.balancer.endpoints.map((endpoint) => endpoint.key);

const report = (table: RouteTable, namespace: string, name: string) =>
  table.pods.find((entry) => entry.namespace === namespace && entry.name === name);

describe('buildRouteTable', () => {
  it('routes every path of a Pod on every one of its hosts', () => {
    const table = build([
      pod({
        hosts: 'a.example B.example',
        paths: '8080:/api 3000:/web/',
        containerPorts: [3000, 8080],
      }),
    ]);
    assert.deepEqual(
      table.routes.map((route) => [route.host, route.path, route.namespace, route.claimedAt]),
      [
        ['a.example', '/api', 'team-a', T0],
        ['a.example', '/web', 'team-a', T0],
        ['b.example', '/api', 'team-a', T0],
        ['b.example', '/web', 'team-a', T0],
      ],
    );
    assert.deepEqual(endpointKeys(table, 'b.example', '/web'), ['10.0.0.1:3000']);
    assert.deepEqual(table.hosts.get('a.example')?.get('/api')?.balancer.endpoints, [
      {
        key: '10.0.0.1:8080',
        origin: 'http://10.0.0.1:8080',
        ip: '10.0.0.1',
        port: 8080,
        namespace: 'team-a',
        podName: 'web-1',
        protocol: 'http1',
      },
    ]);
    assert.deepEqual(table.pods, []);
    assert.equal(table.rejectedEntries, 0);
  });

  it('brackets IPv6 Pod IPs in endpoint keys and origins', () => {
    const table = build([pod({ hosts: 'a.example', paths: '8080:/', podIP: 'fd00::7' })]);
    const [endpoint] = table.routes[0]?.balancer.endpoints ?? [];
    assert.equal(endpoint?.key, '[fd00::7]:8080');
    assert.equal(endpoint?.origin, 'http://[fd00::7]:8080');
    assert.equal(endpoint?.ip, 'fd00::7');
  });

  it('speaks h2c to the Pod ports named for it, HTTP/1.1 to the others', () => {
    const table = build([
      pod({
        hosts: 'a.example',
        paths: '8080:/api 50051:/grpc',
        containerPorts: [8080, 50051],
        h2cPorts: [50051],
      }),
    ]);
    const protocols = table.routes.map((route) =>
      route.balancer.endpoints.map((endpoint) => `${endpoint.port} ${endpoint.protocol}`),
    );
    assert.deepEqual(protocols, [['8080 http1'], ['50051 h2c']]);
  });

  it('stamps version and build time from the options', () => {
    const table = build([], { version: 7, now: 1234 });
    assert.equal(table.version, 7);
    assert.equal(table.builtAt, 1234);
    assert.deepEqual(table.routes, []);
  });

  it('ignores Pods the selector does not select and Pods without routing annotations', () => {
    const table = build([
      pod({ name: 'unlabelled', labels: {}, hosts: 'a.example', paths: '8080:/' }),
      pod({
        name: 'wrong-label',
        labels: { routable: 'false' },
        hosts: 'a.example',
        paths: '8080:/',
      }),
      pod({ name: 'plain' }),
    ]);
    assert.deepEqual(table.routes, []);
    assert.deepEqual(table.pods, []);
  });

  describe('Pods that are not serving get no endpoints', () => {
    const cases: Array<{ name: string; pod: Partial<PodInfo>; notServing: RegExp }> = [
      { name: 'Pending', pod: { phase: 'Pending' }, notServing: /Pending/ },
      { name: 'unknown phase', pod: { phase: '' }, notServing: /unknown/ },
      { name: 'no Pod IP', pod: { podIP: '' }, notServing: /IP/ },
      { name: 'not Ready', pod: { ready: false }, notServing: /Ready/ },
    ];
    for (const { name, pod: overrides, notServing } of cases) {
      it(name, () => {
        const table = build([
          pod({ name: 'ok', podIP: '10.0.0.1', hosts: 'a.example', paths: '8080:/api' }),
          pod({
            name: 'bad',
            podIP: '10.0.0.2',
            hosts: 'a.example',
            paths: '8080:/api',
            ...overrides,
          }),
        ]);
        assert.deepEqual(endpointKeys(table, 'a.example', '/api'), ['10.0.0.1:8080']);
        assert.match(report(table, 'team-a', 'bad')?.notServing ?? '', notServing);
        assert.deepEqual(report(table, 'team-a', 'bad')?.rejections, []);
        assert.equal(report(table, 'team-a', 'ok'), undefined);
      });
    }

    it('a starting Pod keeps its claim: the route exists, with no endpoint', () => {
      const table = build([
        pod({ phase: 'Pending', podIP: '', hosts: 'a.example', paths: '8080:/api' }),
      ]);
      assert.deepEqual(endpointKeys(table, 'a.example', '/api'), []);
      assert.equal(table.routes[0]?.balancer.pick(), undefined);
    });

    for (const stopped of [{ terminating: true }, { phase: 'Succeeded' }, { phase: 'Failed' }]) {
      it(`a ${JSON.stringify(stopped)} Pod holds no claim`, () => {
        const table = build([pod({ hosts: 'a.example', paths: '8080:/api', ...stopped })]);
        assert.deepEqual(table.routes, []);
      });
    }
  });

  it('keeps one endpoint per ip:port, the same whatever the Pod order', () => {
    // Two serving Pods can briefly report one IP (a reused IP in an eventually consistent view).
    const first = pod({ name: 'web-1', podIP: '10.0.0.1', hosts: 'a.example', paths: '8080:/api' });
    const second = pod({
      name: 'web-2',
      podIP: '10.0.0.1',
      hosts: 'a.example',
      paths: '8080:/api',
    });
    const forward = build([first, second]);
    const backward = build([second, first]);
    assert.deepEqual(endpointKeys(forward, 'a.example', '/api'), ['10.0.0.1:8080']);
    assert.equal(snapshot(backward), snapshot(forward));
  });

  it('load-balances the Pods of one namespace round-robin', () => {
    const table = build([
      pod({ name: 'web-2', podIP: '10.0.0.2', hosts: 'a.example', paths: '8080:/api' }),
      pod({ name: 'web-1', podIP: '10.0.0.1', hosts: 'a.example', paths: '8080:/api' }),
      pod({
        name: 'web-3',
        podIP: '10.0.0.3',
        hosts: 'a.example',
        paths: '8080:/api',
        createdAt: T0 - 5,
      }),
    ]);
    const route = matchRoute(table, 'a.example', '/api/x');
    assert.ok(route);
    assert.equal(route.claimedAt, T0 - 5);
    assert.deepEqual(
      Array.from({ length: 6 }, () => route.balancer.pick()?.podName),
      ['web-1', 'web-2', 'web-3', 'web-1', 'web-2', 'web-3'],
    );
  });

  it('skips ejected endpoints, unless all are ejected', () => {
    const health = new EndpointHealth({ ejectionMs: 1000, now: () => 0 });
    const table = build(
      [
        pod({ name: 'web-1', podIP: '10.0.0.1', hosts: 'a.example', paths: '8080:/api' }),
        pod({ name: 'web-2', podIP: '10.0.0.2', hosts: 'a.example', paths: '8080:/api' }),
      ],
      { health },
    );
    const route = matchRoute(table, 'a.example', '/api');
    assert.ok(route);
    health.eject('10.0.0.1:8080');
    assert.deepEqual(
      [route.balancer.pick()?.key, route.balancer.pick()?.key],
      ['10.0.0.2:8080', '10.0.0.2:8080'],
    );
    health.eject('10.0.0.2:8080');
    assert.deepEqual(
      new Set([route.balancer.pick()?.key, route.balancer.pick()?.key]),
      new Set(['10.0.0.1:8080', '10.0.0.2:8080']),
    );
  });

  describe('two namespaces claiming one host+path', () => {
    const older = pod({
      namespace: 'zeta',
      name: 'old',
      podIP: '10.0.0.1',
      createdAt: T0,
      hosts: 'a.example',
      paths: '8080:/api',
    });
    const newer = pod({
      namespace: 'alpha',
      name: 'new',
      podIP: '10.0.0.2',
      createdAt: T0 + 1,
      hosts: 'a.example',
      paths: '8080:/api 8080:/own',
    });

    for (const [order, pods] of [
      ['older first', [older, newer]],
      ['newer first', [newer, older]],
    ] as const) {
      it(`the older claim wins (${order})`, () => {
        const table = build([...pods]);
        const route = table.hosts.get('a.example')?.get('/api');
        assert.equal(route?.namespace, 'zeta');
        assert.deepEqual(endpointKeys(table, 'a.example', '/api'), ['10.0.0.1:8080']);
        assert.equal(table.hosts.get('a.example')?.get('/own')?.namespace, 'alpha');
        const loser = report(table, 'alpha', 'new');
        assert.equal(loser?.rejections.length, 1);
        assert.equal(loser?.rejections[0]?.entry, 'a.example/api');
        assert.match(
          loser?.rejections[0]?.reason ?? '',
          /claimed by namespace zeta since 2025-01-01T00:00:00.000Z/,
        );
        assert.equal(report(table, 'zeta', 'old'), undefined);
        assert.equal(table.rejectedEntries, 1);
      });
    }

    it('the age of a namespace claim is its oldest Pod, even a starting one', () => {
      const table = build([
        pod({ namespace: 'a', name: 'new', createdAt: T0 + 10, hosts: 'h', paths: '8080:/' }),
        pod({ namespace: 'b', name: 'newer', createdAt: T0 + 20, hosts: 'h', paths: '8080:/' }),
        pod({
          namespace: 'b',
          name: 'oldest',
          createdAt: T0,
          phase: 'Pending',
          hosts: 'h',
          paths: '8080:/',
        }),
      ]);
      assert.equal(table.routes[0]?.namespace, 'b');
      assert.equal(table.routes[0]?.claimedAt, T0);
      assert.match(report(table, 'a', 'new')?.rejections[0]?.reason ?? '', /namespace b/);
    });

    it('ties go to the namespace that sorts first', () => {
      for (const pods of [
        [
          pod({ namespace: 'b', name: 'p', hosts: 'h', paths: '8080:/' }),
          pod({ namespace: 'a', name: 'p', hosts: 'h', paths: '8080:/' }),
        ],
        [
          pod({ namespace: 'a', name: 'p', hosts: 'h', paths: '8080:/' }),
          pod({ namespace: 'b', name: 'p', hosts: 'h', paths: '8080:/' }),
        ],
      ]) {
        const table = build(pods);
        assert.equal(table.routes[0]?.namespace, 'a');
        assert.match(report(table, 'b', 'p')?.rejections[0]?.reason ?? '', /namespace a/);
      }
    });
  });

  describe('bad input is rejected entry by entry', () => {
    it('keeps the good hosts and paths of a Pod with bad ones', () => {
      const table = build([
        pod({ name: 'mixed', hosts: 'good.example *.bad', paths: '8080:/ok 9999:/nope 8080:/q?x' }),
        pod({
          name: 'other',
          namespace: 'team-b',
          podIP: '10.0.0.9',
          hosts: 'other.example',
          paths: '8080:/',
        }),
      ]);
      assert.deepEqual(
        table.routes.map((route) => `${route.host}${route.path}`),
        ['good.example/ok', 'other.example/'],
      );
      assert.deepEqual(
        report(table, 'team-a', 'mixed')?.rejections.map((rejection) => [
          rejection.annotation,
          rejection.entry,
        ]),
        [
          [HOSTS, '*.bad'],
          [PATHS, '9999:/nope'],
          [PATHS, '8080:/q?x'],
        ],
      );
      assert.equal(table.rejectedEntries, 3);
    });

    it('reports hosts without paths, and paths without hosts', () => {
      const table = build([
        pod({ name: 'no-paths', hosts: 'a.example' }),
        pod({ name: 'no-hosts', paths: '8080:/' }),
      ]);
      assert.deepEqual(table.routes, []);
      assert.match(
        report(table, 'team-a', 'no-paths')?.rejections[0]?.reason ?? '',
        /no PORT:PATH/,
      );
      assert.match(report(table, 'team-a', 'no-hosts')?.rejections[0]?.reason ?? '', /no host/);
    });

    it('does not add that complaint when the entries were all rejected', () => {
      const table = build([pod({ hosts: 'a.example', paths: '1:/x' })]);
      assert.equal(report(table, 'team-a', 'web-1')?.rejections.length, 1);
    });
  });

  it('compiles each route pipeline once, from the route it belongs to', () => {
    const seen: string[] = [];
    const pipeline = { run: () => undefined };
    const table = build([pod({ hosts: 'a.example b.example', paths: '8080:/api' })], {
      compilePipeline: (route) => {
        seen.push(`${route.host}${route.path}:${route.balancer.endpoints.length}`);
        return route.host === 'a.example' ? pipeline : null;
      },
    });
    assert.deepEqual(seen, ['a.example/api:1', 'b.example/api:1']);
    assert.equal(table.hosts.get('a.example')?.get('/api')?.pipeline, pipeline);
    assert.equal(table.hosts.get('b.example')?.get('/api')?.pipeline, null);
  });

  it('closes only the route whose policy cannot be built, and says why on its Pods', async () => {
    const table = build(
      [
        pod({ hosts: 'a.example', paths: '8080:/broken 8080:/fine' }),
        pod({ name: 'other', namespace: 'team-b', hosts: 'b.example', paths: '8080:/' }),
      ],
      {
        compilePipeline: (route) => {
          if (route.path === '/broken') throw new Error('appliesTo exploded');
          return null;
        },
      },
    );
    assert.equal(table.hosts.get('a.example')?.get('/fine')?.pipeline, null);
    assert.equal(table.hosts.get('b.example')?.get('/')?.pipeline, null);
    const broken = table.hosts.get('a.example')?.get('/broken');
    assert.ok(broken?.pipeline, 'the broken route stays claimed, closed');
    const answer = await broken.pipeline.run({} as never);
    assert.equal(answer?.status, 503);
    const rejection = report(table, 'team-a', 'web-1')?.rejections[0];
    assert.equal(rejection?.entry, 'a.example/broken');
    assert.match(rejection?.reason ?? '', /appliesTo exploded/);
    assert.equal(report(table, 'team-b', 'other'), undefined);
  });

  describe('properties', () => {
    const hostEntries = ['a.example', 'b.example', 'A.example', '*.bad', 'x:1', '10.0.0.1'];
    const pathEntries = [
      '80:/',
      '80:/api',
      '8080:/api',
      '8080:/api/v1',
      '3000:/web',
      '9999:/x',
      '80:/a//b',
      '80:api',
      'junk',
    ];
    const podArb = fc.record({
      namespace: fc.constantFrom('a', 'b', 'c'),
      createdAt: fc.integer({ min: 0, max: 3 }).map((age) => T0 + age),
      // Weighted towards serving Pods, so that claims actually meet and conflict.
      selected: fc.constantFrom(true, true, true, false),
      containerPorts: fc.constantFrom([80, 3000, 8080], [80, 8080], [8080], []),
      phase: fc.constantFrom('Running', 'Running', 'Running', 'Pending', 'Succeeded', 'Failed', ''),
      // Few IPs, so that two Pods sometimes share an endpoint key.
      podIP: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1', ''),
      ready: fc.constantFrom(true, true, true, false),
      terminating: fc.constantFrom(false, false, false, true),
      hosts: fc.option(
        fc.subarray(hostEntries).map((list) => list.join(' ')),
        { nil: undefined },
      ),
      paths: fc.option(
        fc.subarray(pathEntries).map((list) => list.join(' ')),
        { nil: undefined },
      ),
    });
    const podsArb = fc
      .array(podArb, { maxLength: 10 })
      .map((records) =>
        records.map(({ selected, ...record }, index) =>
          pod({ ...record, name: `p${index}`, labels: selected ? { routable: 'true' } : {} }),
        ),
      );

    it('the same Pods in any order give the same table', () => {
      fc.assert(
        fc.property(
          podsArb.chain((pods) =>
            fc.tuple(
              fc.constant(pods),
              fc.shuffledSubarray(pods, { minLength: pods.length, maxLength: pods.length }),
            ),
          ),
          ([pods, shuffled]) => {
            assert.equal(snapshot(build(shuffled)), snapshot(build(pods)));
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('every route goes to the oldest claiming namespace and serves only its ready Pods', () => {
      fc.assert(
        fc.property(podsArb, (pods) => {
          const table = build(pods);
          for (const route of table.routes) {
            const claimants = pods.filter(
              (candidate) =>
                candidate.labels.routable === 'true' &&
                !candidate.terminating &&
                candidate.phase !== 'Succeeded' &&
                candidate.phase !== 'Failed' &&
                parseHosts(HOSTS, candidate.annotations[HOSTS]).hosts.includes(route.host) &&
                parsePaths(
                  PATHS,
                  candidate.annotations[PATHS],
                  candidate.containerPorts,
                ).paths.some((spec) => spec.path === route.path),
            );
            const oldest = Math.min(...claimants.map((claimant) => claimant.createdAt));
            assert.equal(route.claimedAt, oldest);
            for (const endpoint of route.balancer.endpoints) {
              assert.equal(endpoint.namespace, route.namespace);
              const owner = pods.find((candidate) => candidate.name === endpoint.podName);
              assert.ok(owner?.phase === 'Running' && owner.ready && owner.podIP !== '');
            }
            assert.equal(
              new Set(route.balancer.endpoints.map((endpoint) => endpoint.key)).size,
              route.balancer.endpoints.length,
            );
          }
          const counted = table.pods.reduce((sum, entry) => sum + entry.rejections.length, 0);
          assert.equal(table.rejectedEntries, counted);
        }),
        { numRuns: 500 },
      );
    });

    it('a bad entry never takes a good route away', () => {
      const bad = fc.subarray(['*.bad', 'x:1', '-x.example']);
      const badPaths = fc.subarray(['9999:/x', '80:/a//b', '80:api', '80:/../x', 'junk']);
      fc.assert(
        fc.property(podsArb, bad, badPaths, (pods, extraHosts, extraPaths) => {
          const noisy = pods.map((entry) => {
            const annotations = { ...entry.annotations };
            if (annotations[HOSTS] !== undefined)
              annotations[HOSTS] = [annotations[HOSTS], ...extraHosts].join(' ');
            if (annotations[PATHS] !== undefined)
              annotations[PATHS] = [...extraPaths, annotations[PATHS]].join(' ');
            return { ...entry, annotations };
          });
          assert.equal(JSON.stringify(build(noisy).routes), JSON.stringify(build(pods).routes));
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('Service alias hosts (aliasDomain set, private build)', () => {
  const aliasDomain = 'cluster.local';
  const podOf = (namespace: string, name: string, hosts: string, podIP: string) =>
    pod({ namespace, name, hosts, paths: '8080:/', podIP });
  const table = build(
    [
      podOf('my-ns', 'my-app-1', 'my-app.my-ns', '10.0.1.1'),
      podOf('my-ns', 'my-app-2', 'my-app.my-ns.svc.cluster.local', '10.0.1.2'),
      podOf('other', 'api-1', 'api.other', '10.0.2.1'),
      podOf('third', 'api-2', 'api.third.svc', '10.0.3.1'),
      podOf('web', 'www', 'www.example.com', '10.0.4.1'),
    ],
    { aliasDomain },
  );
  const pods = (host: string, clientIp?: string) =>
    matchRoute(table, host, '/x', clientIp)
      ?.balancer.endpoints.map((e) => e.podName)
      .sort();

  it('reads every form of one alias as one route', () => {
    assert.deepEqual([...table.hosts.keys()].sort(), [
      'api.other',
      'api.third',
      'my-app.my-ns',
      'www.example.com',
    ]);
    for (const host of ['my-app.my-ns', 'my-app.my-ns.svc', 'my-app.my-ns.svc.cluster.local']) {
      assert.deepEqual(pods(host), ['my-app-1', 'my-app-2'], host);
    }
    assert.equal(pods('my-app.my-ns.svc.other.domain'), undefined);
    assert.deepEqual(pods('www.example.com'), ['www']);
  });

  it('maps a bare svc by the caller’s namespace, or when only one namespace has it', () => {
    assert.deepEqual(pods('my-app'), ['my-app-1', 'my-app-2']);
    assert.deepEqual(pods('my-app', '10.0.9.9'), ['my-app-1', 'my-app-2']);
    assert.equal(pods('api'), undefined, 'two namespaces have api and the caller is unknown');
    assert.deepEqual(pods('api', '10.0.2.1'), ['api-1']);
    assert.deepEqual(pods('api', '::ffff:10.0.3.1'), ['api-2']);
    assert.equal(pods('api', '10.0.1.1'), undefined, 'the caller’s namespace has no api alias');
    assert.equal(pods('my-app', '10.0.2.1'), undefined, 'a known caller elsewhere never guesses');
    assert.equal(pods('www'), undefined);
  });

  it('is off without aliasDomain: hosts stay as written', () => {
    const plain = build([podOf('my-ns', 'my-app-2', 'my-app.my-ns.svc.cluster.local', '10.0.1.2')]);
    assert.deepEqual([...plain.hosts.keys()], ['my-app.my-ns.svc.cluster.local']);
    assert.equal(matchRoute(plain, 'my-app.my-ns', '/'), undefined);
    assert.equal(plain.aliases, undefined);
  });
});
