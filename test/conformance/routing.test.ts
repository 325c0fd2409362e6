import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, type RunningRouter, send, startRouter } from '../support/harness.ts';

/**
 * Conformance: routing. The same cases run against both builds; only the annotation
 * names differ, and the harness picks them from the build.
 */

const apps: EchoApp[] = [];
let a1: EchoApp;
let a2: EchoApp;
let b: EchoApp;
let c: EchoApp;

before(async () => {
  a1 = await startEchoApp({ host: '127.0.10.1', port: 0, name: 'a1' });
  a2 = await startEchoApp({ host: '127.0.10.2', port: 0, name: 'a2' });
  b = await startEchoApp({ host: '127.0.10.3', port: 0, name: 'b' });
  c = await startEchoApp({ host: '127.0.10.4', port: 0, name: 'c' });
  apps.push(a1, a2, b, c);
});

after(async () => {
  await Promise.all(apps.map((app) => app.close()));
});

for (const build of BUILDS) {
  describe(`routing (${build.tier} build)`, () => {
    let router: RunningRouter;
    const get = (host: string, path: string, headers: Record<string, string> = {}) =>
      send({ port: router.port, host, path, headers });

    before(async () => {
      router = await startRouter(build, [
        pod(build, {
          name: 'a-1',
          namespace: 'team-a',
          ip: '127.0.10.1',
          ports: [a1.port],
          hosts: 'api.example.com Other.Example.com',
          paths: `${a1.port}:/api`,
        }),
        pod(build, {
          name: 'a-2',
          namespace: 'team-a',
          ip: '127.0.10.2',
          ports: [a2.port],
          hosts: 'api.example.com Other.Example.com',
          paths: `${a2.port}:/api`,
        }),
        pod(build, {
          name: 'b-1',
          namespace: 'team-b',
          ip: '127.0.10.3',
          ports: [b.port],
          hosts: 'api.example.com',
          paths: `${b.port}:/api/v2 ${b.port}:/`,
        }),
        // Claims a route team-a already holds, but is younger: rejected, never served.
        pod(build, {
          name: 'late',
          namespace: 'team-z',
          ip: '127.0.10.4',
          ports: [c.port],
          hosts: 'api.example.com',
          paths: `${c.port}:/api`,
          createdAt: '2026-06-01T00:00:00Z',
        }),
        // One good entry, one bad: the good one serves.
        pod(build, {
          name: 'mixed',
          namespace: 'team-c',
          ip: '127.0.10.4',
          ports: [c.port],
          hosts: 'mixed.example.com bad_host!',
          paths: `${c.port}:/ok 9:/nope ${c.port}:relative`,
        }),
      ]);
    });

    after(async () => {
      await router.stop();
    });

    it('routes by host and path prefix to the claiming Pod', async () => {
      const res = await get('api.example.com', '/api/items?x=1');
      assert.equal(res.status, 200);
      assert.match(res.json<{ pod: string }>().pod, /^a[12]$/);
      assert.equal(res.json<{ url: string }>().url, '/api/items?x=1');
    });

    it('matches hosts case-insensitively and ignores the Host port', async () => {
      for (const host of [
        'API.Example.COM',
        'api.example.com:8443',
        'other.example.com',
        'api.example.com.',
      ]) {
        const res = await get(host, '/api');
        assert.equal(res.status, 200, host);
        assert.match(res.json<{ pod: string }>().pod, /^a[12]$/);
      }
    });

    it('matches prefixes on segment boundaries and prefers the longest', async () => {
      assert.match((await get('api.example.com', '/api')).json<{ pod: string }>().pod, /^a/);
      assert.match((await get('api.example.com', '/api/')).json<{ pod: string }>().pod, /^a/);
      assert.equal((await get('api.example.com', '/api/v2')).json<{ pod: string }>().pod, 'b');
      assert.equal((await get('api.example.com', '/api/v2/x')).json<{ pod: string }>().pod, 'b');
      assert.equal(
        (await get('api.example.com', '/api/v20')).json<{ pod: string }>().pod.startsWith('a'),
        true,
      );
      // /apix is not under /api: it falls to the root route of b.
      assert.equal((await get('api.example.com', '/apix')).json<{ pod: string }>().pod, 'b');
    });

    it('round-robins between the Pods of one route', async () => {
      const seen: string[] = [];
      for (let i = 0; i < 6; i++)
        seen.push((await get('api.example.com', '/api')).json<{ pod: string }>().pod);
      assert.equal(seen.filter((name) => name === 'a1').length, 3, seen.join());
      assert.equal(seen.filter((name) => name === 'a2').length, 3, seen.join());
    });

    it('answers 404 with a problem body when no route matches', async () => {
      const res = await get('unknown.example.com', '/api');
      assert.equal(res.status, 404);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(res.json<{ status: number }>().status, 404);
      assert.equal((await get('other.example.com', '/nothing-here')).status, 404);
    });

    it('gives a contested host+path to the oldest claim and reports the loser', async () => {
      for (let i = 0; i < 4; i++) {
        assert.notEqual((await get('api.example.com', '/api')).json<{ pod: string }>().pod, 'c');
      }
      const routes = (await router.admin('/routes')).json<{
        pods: { name: string; rejections: { reason: string }[] }[];
      }>();
      const late = routes.pods.find((entry) => entry.name === 'late');
      assert.ok(late, 'the younger claimant is listed');
      assert.match(late.rejections[0]?.reason ?? '', /already claimed by namespace team-a/);
    });

    it('rejects bad annotation entries one by one while the rest serves', async () => {
      assert.equal((await get('mixed.example.com', '/ok')).json<{ pod: string }>().pod, 'c');
      const routes = (await router.admin('/routes')).json<{
        pods: { name: string; rejections: { entry: string; reason: string }[] }[];
      }>();
      const mixed = routes.pods.find((entry) => entry.name === 'mixed');
      assert.deepEqual(
        mixed?.rejections.map((rejection) => rejection.entry).sort(),
        [`${c.port}:relative`, '9:/nope', 'bad_host!'].sort(),
      );
      for (const rejection of mixed?.rejections ?? [])
        assert.ok(rejection.reason.length > 10, rejection.reason);
    });

    it('exposes readiness, health and Prometheus metrics on the admin port', async () => {
      assert.equal((await router.admin('/healthz')).status, 200);
      assert.equal((await router.admin('/readyz')).status, 200);
      const metrics = (await router.admin('/metrics')).body;
      assert.match(
        metrics,
        new RegExp(
          `podrouter_requests_total\\{tier="${build.tier}",host="api.example.com",status="200"\\} [1-9]`,
        ),
      );
      assert.match(metrics, /podrouter_routes\{tier="\w+"\} 5/);
      assert.match(metrics, /podrouter_rejected_annotations\{tier="\w+"\} 4/);
      assert.match(metrics, /podrouter_upstream_duration_seconds_bucket/);
      assert.match(metrics, /podrouter_reloads_total\{tier="\w+",result="applied"\} 1/);
    });

    it('follows the file: Pods added, made unready and removed', async () => {
      const base = [
        pod(build, {
          name: 'a-1',
          namespace: 'team-a',
          ip: '127.0.10.1',
          ports: [a1.port],
          hosts: 'api.example.com',
          paths: `${a1.port}:/api`,
        }),
      ];
      await router.setState(base);
      assert.equal((await get('api.example.com', '/api/v2')).json<{ pod: string }>().pod, 'a1');
      assert.equal((await get('mixed.example.com', '/ok')).status, 404);
      await router.setState([
        ...base,
        pod(build, {
          name: 'a-2',
          namespace: 'team-a',
          ip: '127.0.10.2',
          ports: [a2.port],
          hosts: 'api.example.com',
          paths: `${a2.port}:/api`,
          ready: false,
        }),
      ]);
      for (let i = 0; i < 4; i++)
        assert.equal((await get('api.example.com', '/api')).json<{ pod: string }>().pod, 'a1');
      await router.setState([]);
      assert.equal((await get('api.example.com', '/api')).status, 404);
    });
  });
}
