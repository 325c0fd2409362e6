import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PodrouterError } from '../errors.ts';
import { ManualClock } from '../kube/clock.ts';
import { type FakeApi, send, startFakeApi } from '../kube/testing/fake-api.ts';
import type { ClusterState } from '../pods/types.ts';
import { backoffDelay } from './backoff.ts';
import { KubeSource } from './kube-source.ts';

/**
 * The kube source against a fake API server on loopback (kube/testing/fake-api.ts); the
 * informer's own behaviour (pages, 410, backoff, silence) is tested in kube/informer.test.ts,
 * the real API server by the cluster suites.
 */

const podObject = (
  name: string,
  ip: string,
  resourceVersion: string,
  namespace = 'ns',
  annotations: Record<string, string> = {},
) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace,
    uid: `uid-${name}`,
    resourceVersion,
    creationTimestamp: '2026-01-01T00:00:00Z',
    labels: { routable: 'true' },
    annotations: { publicHosts: 'a.example.com', publicPaths: '80:/', ...annotations },
  },
  spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

const tlsSecretObject = (namespace: string, name: string, resourceVersion = '2') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'kubernetes.io/tls',
  metadata: { name, namespace, resourceVersion },
  data: { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5' },
});

const secretObject = (namespace: string, key: string, resourceVersion = '1') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'routing', namespace, resourceVersion },
  data: { 'public-api-key': Buffer.from(key).toString('base64') },
});

function collector() {
  const states: ClusterState[] = [];
  const errors: PodrouterError[] = [];
  return {
    states,
    errors,
    listener: {
      onState: (state: ClusterState) => void states.push(state),
      onError: (error: PodrouterError) => void errors.push(error),
    },
    /** Waits for the predicate; fails loudly after 10 s instead of spinning forever. */
    async until(predicate: () => boolean) {
      const deadline = Date.now() + 10_000;
      while (!predicate()) {
        if (Date.now() > deadline) {
          throw new Error(
            `condition not met in 10 s; states ${states.length}, errors: ${errors.map((error) => error.message).join(' | ')}`,
          );
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
  };
}

describe('KubeSource', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi();
  });
  after(() => api.close());

  it('lists Pods by label selector and Secrets by name, then states what changed', async () => {
    api.objects.set('/api/v1/pods', [podObject('one', '10.0.0.1', '5')]);
    api.objects.set('/api/v1/secrets', [secretObject('ns', 'k')]);
    const source = new KubeSource(
      { namespaces: [], labelSelector: 'routable=true', secretName: 'routing', debounceMs: 1 },
      api.connection,
    );
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0);
      const first = seen.states[0] as ClusterState;
      assert.deepEqual(
        first.pods.map((pod) => pod.podIP),
        ['10.0.0.1'],
      );
      assert.equal(first.changes, undefined, 'the first state is whole');
      assert.equal(first.secrets[0]?.data['public-api-key']?.toString(), 'k');
      assert.ok(
        api.lists.some(
          (url) => url.startsWith('/api/v1/pods?') && url.includes('labelSelector=routable%3Dtrue'),
        ),
        api.lists.join(),
      );
      assert.ok(
        api.lists.some(
          (url) =>
            url.startsWith('/api/v1/secrets?') &&
            url.includes('fieldSelector=metadata.name%3Drouting'),
        ),
        api.lists.join(),
      );

      const podWatch = await api.watchOpened('/api/v1/pods');
      const secretWatch = await api.watchOpened('/api/v1/secrets');
      send(podWatch.res, 'ADDED', podObject('two', '10.0.0.2', '11'));
      send(podWatch.res, 'DELETED', podObject('one', '10.0.0.1', '12'));
      send(secretWatch.res, 'MODIFIED', secretObject('ns', 'k2', '13'));
      await seen.until(
        () =>
          seen.states
            .at(-1)
            ?.pods.map((pod) => pod.name)
            .join() === 'two' &&
          seen.states.at(-1)?.secrets[0]?.data['public-api-key']?.toString() === 'k2',
      );
      const changes = seen.states.slice(1).map((state) => state.changes);
      assert.deepEqual(changes.flatMap((change) => [...(change?.pods.keys() ?? [])]).sort(), [
        'ns/one',
        'ns/two',
      ]);
      assert.ok(changes.some((change) => change?.secretNamespaces.has('ns')));
      assert.equal(seen.states.at(-1)?.sequence, seen.states.length);
      for (const [index, change] of changes.entries()) assert.equal(change?.since, index + 1);
    } finally {
      await source.stop();
    }
  });

  it('watches each TLS Secret a Pod names, by name in its namespace, and reports one it cannot read', async () => {
    api.objects.set('/api/v1/pods', [
      podObject('one', '10.0.0.1', '5', 'ns', { publicTlsSecret: 'web-tls' }),
    ]);
    api.objects.set('/api/v1/secrets', [secretObject('ns', 'k')]);
    api.objects.set('/api/v1/namespaces/ns/secrets', [
      tlsSecretObject('ns', 'web-tls'),
      tlsSecretObject('ns', 'other-tls'),
    ]);
    api.refuse = (url) =>
      url.searchParams.get('fieldSelector') === 'metadata.name=denied'
        ? {
            status: 403,
            body: {
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              code: 403,
              reason: 'Forbidden',
              message: 'secrets "denied" is forbidden',
            },
          }
        : undefined;
    const source = new KubeSource(
      {
        namespaces: [],
        labelSelector: 'routable=true',
        secretName: 'routing',
        tlsSecretAnnotation: 'publicTlsSecret',
        debounceMs: 1,
        backoffBaseMs: 10,
      },
      api.connection,
    );
    const seen = collector();
    const earlierPodWatches = api.watches.filter((watch) =>
      watch.url.pathname.startsWith('/api/v1/pods'),
    ).length;
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0);
      // The first state already holds the Secret: it waited for the Secret's first list.
      const first = seen.states[0] as ClusterState;
      assert.deepEqual(
        first.secrets.map((secret) => `${secret.namespace}/${secret.name}:${secret.type}`).sort(),
        ['ns/routing:undefined', 'ns/web-tls:kubernetes.io/tls'],
      );
      assert.ok(
        api.lists.some((url) =>
          url.startsWith('/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dweb-tls'),
        ),
        api.lists.join(),
      );
      const podWatch = await api.watchOpened('/api/v1/pods', earlierPodWatches);
      send(
        podWatch.res,
        'MODIFIED',
        podObject('one', '10.0.0.1', '16', 'ns', { publicTlsSecret: 'denied' }),
      );
      await seen.until(() => seen.states.at(-1)?.secretErrors?.has('ns/denied') === true);
      const last = seen.states.at(-1) as ClusterState;
      assert.match(
        last.secretErrors?.get('ns/denied') ?? '',
        /^HTTP 403: secrets "denied" is forbidden: forbidden — grant list and watch on secrets named denied in namespace ns \(docs\/rbac.md\)$/,
      );
      // The Secret no Pod names any more is dropped; a TLS Secret's failure is not the source's.
      assert.deepEqual(
        last.secrets.map((secret) => secret.name),
        ['routing'],
      );
      assert.ok(last.changes?.secretNamespaces.has('ns'), 'the dropped Secret is a change');
      assert.equal(seen.errors.length, 0);
    } finally {
      api.refuse = undefined;
      await source.stop();
    }
  });

  it('reports failures with the retry delay and keeps serving the last state', async () => {
    api.objects.set('/api/v1/namespaces/x/pods', [podObject('one', '10.0.0.1', '5', 'x')]);
    api.objects.set('/api/v1/namespaces/x/secrets', []);
    const clock = new ManualClock(0, () => 0.5);
    const source = new KubeSource(
      {
        namespaces: ['x'],
        labelSelector: 'routable=true',
        secretName: 'routing',
        debounceMs: 1,
        backoffBaseMs: 100,
        backoffCapMs: 1000,
        clock,
      },
      api.connection,
    );
    const seen = collector();
    source.start(seen.listener);
    try {
      const watch = await api.watchOpened('/api/v1/namespaces/x/pods');
      await api.watchOpened('/api/v1/namespaces/x/secrets');
      // The next watch to open takes the 403: every other watch must be open already.
      await api.watchOpened('/api/v1/namespaces/x/services');
      await api.watchOpened('/apis/discovery.k8s.io/v1/namespaces/x/endpointslices');
      await seen.until(() => seen.states.length >= 1);
      api.failWatches.push({ status: 403, body: { kind: 'Status', code: 403, message: 'no' } });
      watch.res.destroy();
      // A destroyed socket may be reported twice within one turn of the event loop.
      await seen.until(() => seen.errors.length >= 1);
      assert.match(
        seen.errors[0]?.message ?? '',
        /retrying in 50 ms, serving the last good routes/,
      );
      clock.advance(50);
      // The destroyed socket may be reported once more before the retry meets the 403.
      const forbidden =
        /HTTP 403 no: forbidden — grant list and watch on pods in namespace x \(docs\/rbac\.md\)/;
      await seen.until(() => seen.errors.some((error) => forbidden.test(error.message)));
      assert.match(
        seen.errors.find((error) => forbidden.test(error.message))?.message ?? '',
        forbidden,
      );
      assert.equal(seen.states.length, 1);
      clock.advance(200);
      const again = await api.watchOpened('/api/v1/namespaces/x/pods', 1);
      send(again.res, 'MODIFIED', podObject('one', '10.0.0.9', '20', 'x'));
      await seen.until(() => seen.states.at(-1)?.pods[0]?.podIP === '10.0.0.9');
    } finally {
      await source.stop();
    }
  });

  it('lists Services by label selector and every EndpointSlice; a slice change names its Service', async () => {
    api.objects.set('/api/v1/pods', []);
    api.objects.set('/api/v1/secrets', []);
    api.objects.set('/api/v1/services', [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'billing', namespace: 'ext', resourceVersion: '3' },
        spec: { ports: [{ name: 'web', port: 80 }] },
      },
    ]);
    const sliceObject = (ip: string, resourceVersion: string) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'billing-1',
        namespace: 'ext',
        resourceVersion,
        labels: { 'kubernetes.io/service-name': 'billing' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'web', port: 8080 }],
      endpoints: [{ addresses: [ip] }],
    });
    api.objects.set('/apis/discovery.k8s.io/v1/endpointslices', [sliceObject('192.0.2.1', '4')]);
    const source = new KubeSource(
      { namespaces: [], labelSelector: 'routable=true', secretName: 'routing', debounceMs: 1 },
      api.connection,
    );
    const slicePath = '/apis/discovery.k8s.io/v1/endpointslices';
    // Earlier tests' sources watched slices too: wait for this source's watch.
    const earlier = api.watches.filter((w) => w.url.pathname.startsWith(slicePath)).length;
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0);
      assert.deepEqual(
        seen.states[0]?.services?.map((service) => service.name),
        ['billing'],
      );
      assert.ok(
        api.lists.some(
          (url) =>
            url.startsWith('/api/v1/services?') && url.includes('labelSelector=routable%3Dtrue'),
        ),
        api.lists.join(),
      );
      const watch = await api.watchOpened(slicePath, earlier);
      send(watch.res, 'MODIFIED', sliceObject('192.0.2.2', '20'));
      await seen.until(
        () => seen.states.at(-1)?.endpointSlices?.[0]?.endpoints[0]?.addresses[0] === '192.0.2.2',
      );
      assert.deepEqual([...(seen.states.at(-1)?.changes?.services ?? [])], ['ext/billing']);
    } finally {
      await source.stop();
      api.objects.delete('/api/v1/services');
      api.objects.delete('/apis/discovery.k8s.io/v1/endpointslices');
    }
  });

  it('watches the CA Secret a Service names for TLS to its backends, by name, without TLS_PORT', async () => {
    api.objects.set('/api/v1/pods', []);
    api.objects.set('/api/v1/secrets', []);
    const serviceObject = (ca: string, resourceVersion: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'vault',
        namespace: 'ext',
        resourceVersion,
        annotations: { publicBackendTls: ca },
      },
      spec: { ports: [{ name: 'https', port: 443 }] },
    });
    api.objects.set('/api/v1/services', [serviceObject('vault-ca', '3')]);
    api.objects.set('/api/v1/namespaces/ext/secrets', [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'vault-ca', namespace: 'ext', resourceVersion: '2' },
        data: { 'ca.crt': Buffer.from('pem').toString('base64') },
      },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other', namespace: 'ext' } },
    ]);
    const source = new KubeSource(
      {
        namespaces: [],
        labelSelector: 'routable=true',
        secretName: 'routing',
        backendTlsAnnotation: 'publicBackendTls',
        debounceMs: 1,
      },
      api.connection,
    );
    const servicesPath = '/api/v1/services';
    const earlier = api.watches.filter((w) => w.url.pathname.startsWith(servicesPath)).length;
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0);
      assert.deepEqual(
        seen.states[0]?.secrets.map((secret) => `${secret.namespace}/${secret.name}`),
        ['ext/vault-ca'],
      );
      assert.ok(
        api.lists.some((url) =>
          url.startsWith('/api/v1/namespaces/ext/secrets?fieldSelector=metadata.name%3Dvault-ca'),
        ),
        api.lists.join(),
      );
      // "system" names the system roots: the Secret is no longer watched.
      const watch = await api.watchOpened(servicesPath, earlier);
      send(watch.res, 'MODIFIED', serviceObject('system', '20'));
      await seen.until(() => seen.states.at(-1)?.secrets.length === 0);
      assert.ok(seen.states.at(-1)?.changes?.secretNamespaces.has('ext'));
    } finally {
      await source.stop();
      api.objects.delete('/api/v1/services');
      api.objects.delete('/api/v1/namespaces/ext/secrets');
    }
  });

  it('watches no Services or EndpointSlices when external backends are off', async () => {
    api.objects.set('/api/v1/pods', []);
    api.objects.set('/api/v1/secrets', []);
    const source = new KubeSource(
      { namespaces: [], labelSelector: 'routable=true', secretName: 'routing', debounceMs: 1 },
      api.connection,
    );
    source.disableExternalBackends();
    const lists = api.lists.length;
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0);
      assert.equal(seen.states[0]?.services, undefined);
      assert.ok(
        api.lists
          .slice(lists)
          .every((url) => !url.includes('services') && !url.includes('endpointslices')),
        api.lists.slice(lists).join(),
      );
    } finally {
      await source.stop();
    }
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    assert.equal(
      backoffDelay(0, 100, 1000, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(3, 100, 1000, () => 1),
      800,
    );
    assert.equal(
      backoffDelay(10, 100, 1000, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(10, 100, 1000, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(1000, 100, 1000, () => 0.5),
      500,
    );
  });
});
