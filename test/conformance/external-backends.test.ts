import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  type RunningRouter,
  secret,
  send,
  startRouter,
} from '../support/harness.ts';
import { type RecordingBackend, startRecordingBackend } from '../support/recording-backend.ts';

/**
 * External backends from the file source: a selector-less Service with hand-written
 * EndpointSlices (loopback "machines outside the cluster"), the same key policy as Pods,
 * endpoints changing live, conditions honoured, and the claim rules shared with Pods.
 */

const KEY = 'ext-key-9b1e5d7c3a';
let vmA: RecordingBackend;
let vmB: RecordingBackend;
let podApp: RecordingBackend;
before(async () => {
  vmA = await startRecordingBackend('127.0.23.1');
  vmB = await startRecordingBackend('127.0.23.2');
  podApp = await startRecordingBackend('127.0.23.3');
});
after(async () => {
  await Promise.all([vmA.close(), vmB.close(), podApp.close()]);
});

function service(
  build: BuildUnderTest,
  name: string,
  options: { hosts: string; paths: string; createdAt?: string; namespace?: string },
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: options.namespace ?? 'legacy',
      uid: `uid-svc-${name}`,
      creationTimestamp: options.createdAt ?? '2026-01-01T00:00:00Z',
      labels: { routable: 'true' },
      annotations: {
        [build.hostsAnnotation]: options.hosts,
        [build.pathsAnnotation]: options.paths,
      },
    },
    spec: { ports: [{ name: 'web', port: 80 }] },
  };
}

function slice(
  name: string,
  endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[],
  port: number,
  serviceName = 'billing',
) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: 'legacy',
      labels: { 'kubernetes.io/service-name': serviceName },
    },
    addressType: 'IPv4',
    ports: [{ name: 'web', port, protocol: 'TCP' }],
    endpoints: endpoints.map(({ ip, ...conditions }) => ({
      addresses: [ip],
      conditions: { ready: true, ...conditions },
    })),
  };
}

for (const build of BUILDS) {
  describe(`external backends (${build.tier} build)`, () => {
    let router: RunningRouter;
    const base = () => [
      service(build, 'billing', { hosts: 'billing.example.com', paths: 'web:/' }),
      secret('legacy', 'routing', { [build.apiKeyField]: KEY }),
    ];
    const get = (host: string, key?: string) =>
      send({
        port: router.port,
        host,
        path: '/',
        headers: key === undefined ? {} : { 'x-routing-api-key': key },
      });

    before(async () => {
      router = await startRouter(build, [
        ...base(),
        slice('billing-a', [{ ip: vmA.host }], vmA.port),
      ]);
    });
    after(() => router.stop());

    it('routes a Service port name to the EndpointSlice port, behind the namespace key', async () => {
      vmA.reset();
      assert.equal((await get('billing.example.com')).status, 401);
      assert.equal(vmA.requests.length, 0, 'no key, no request to the backend');
      const ok = await get('billing.example.com', KEY);
      assert.equal(ok.status, 200);
      assert.equal(vmA.requests.length, 1);
    });

    it('follows endpoints changing live and load-balances across them', async () => {
      await router.setState([
        ...base(),
        slice('billing-a', [{ ip: vmA.host }], vmA.port),
        slice('billing-b', [{ ip: vmB.host }], vmB.port),
      ]);
      vmA.reset();
      vmB.reset();
      for (let i = 0; i < 4; i++) assert.equal((await get('billing.example.com', KEY)).status, 200);
      assert.equal(vmA.requests.length, 2);
      assert.equal(vmB.requests.length, 2);

      // A not-ready endpoint gets nothing while a ready one exists.
      await router.setState([
        ...base(),
        slice('billing-a', [{ ip: vmA.host, ready: false }], vmA.port),
        slice('billing-b', [{ ip: vmB.host }], vmB.port),
      ]);
      vmA.reset();
      vmB.reset();
      for (let i = 0; i < 3; i++) assert.equal((await get('billing.example.com', KEY)).status, 200);
      assert.equal(vmA.requests.length, 0);
      assert.equal(vmB.requests.length, 3);

      // Nothing ready: a serving, terminating endpoint drains the traffic.
      await router.setState([
        ...base(),
        slice(
          'billing-a',
          [{ ip: vmA.host, ready: false, serving: true, terminating: true }],
          vmA.port,
        ),
      ]);
      vmA.reset();
      assert.equal((await get('billing.example.com', KEY)).status, 200);
      assert.equal(vmA.requests.length, 1);
    });

    it('reports a Service without endpoints at /routes and answers 503', async () => {
      await router.setState(base());
      const answer = await get('billing.example.com', KEY);
      assert.equal(answer.status, 503);
      const routes = JSON.parse((await router.admin('/routes')).body) as {
        pods: { namespace: string; name: string; notServing?: string }[];
      };
      assert.deepEqual(
        routes.pods.find((p) => p.name === 'service:billing'),
        {
          namespace: 'legacy',
          name: 'service:billing',
          notServing: 'no ready endpoint in its EndpointSlices',
          rejections: [],
        },
      );
    });

    it('shares the claim rules with Pods: the oldest claim wins across namespaces', async () => {
      const olderPod = pod(build, {
        name: 'web',
        namespace: 'apps',
        ip: podApp.host,
        ports: [podApp.port],
        hosts: 'billing.example.com',
        paths: `${podApp.port}:/`,
        createdAt: '2025-06-01T00:00:00Z',
      });
      await router.setState([
        ...base(),
        slice('billing-a', [{ ip: vmA.host }], vmA.port),
        olderPod,
      ]);
      podApp.reset();
      vmA.reset();
      assert.equal((await get('billing.example.com')).status, 200, 'namespace apps has no key');
      assert.equal(podApp.requests.length, 1);
      assert.equal(vmA.requests.length, 0);
      const routes = JSON.parse((await router.admin('/routes')).body) as {
        pods: { name: string; rejections: { reason: string }[] }[];
      };
      const report = routes.pods.find((p) => p.name === 'service:billing');
      assert.match(report?.rejections[0]?.reason ?? '', /already claimed by namespace apps/);
    });
  });
}
