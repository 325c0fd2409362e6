import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { PodrouterError } from '../errors.ts';
import type { ClusterState } from '../pods/types.ts';
import { backoffDelay } from './backoff.ts';
import { KubeSource } from './kube-source.ts';

/**
 * The kube source against a fake API server on loopback that speaks just enough of the
 * list/watch protocol. The real API server is exercised by the cluster suites.
 */

interface FakeApi {
  server: Server;
  lists: string[];
  watches: { url: string; res: ServerResponse }[];
  failNextLists: number;
  pods: Record<string, unknown>[];
}

const podObject = (
  name: string,
  ip: string,
  resourceVersion: string,
  annotations: Record<string, string> = {},
) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'ns',
    uid: `uid-${name}`,
    resourceVersion,
    creationTimestamp: '2026-01-01T00:00:00Z',
    labels: { routable: 'true' },
    annotations: { publicHosts: 'a.example.com', publicPaths: '80:/', ...annotations },
  },
  spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

function startFakeApi(): Promise<FakeApi> {
  const api: FakeApi = {
    server: createServer(),
    lists: [],
    watches: [],
    failNextLists: 0,
    pods: [],
  };
  api.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://api');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      api.watches.push({ url: req.url ?? '', res });
      return;
    }
    api.lists.push(req.url ?? '');
    if (api.failNextLists > 0) {
      api.failNextLists--;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          code: 500,
          message: 'boom',
        }),
      );
      return;
    }
    const isPods = url.pathname.endsWith('/pods');
    const named = /^metadata\.name=(.*)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    if (!isPods && named === 'denied') {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message: 'secrets "denied" is forbidden',
        }),
      );
      return;
    }
    const items = isPods
      ? api.pods
      : named !== 'routing'
        ? [
            {
              apiVersion: 'v1',
              kind: 'Secret',
              type: 'kubernetes.io/tls',
              metadata: {
                name: named,
                namespace: url.pathname.split('/')[4],
                resourceVersion: '2',
              },
              data: { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5' },
            },
          ]
        : [
            {
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: { name: 'routing', namespace: 'ns', resourceVersion: '1' },
              data: { 'public-api-key': Buffer.from('k').toString('base64') },
            },
          ];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        apiVersion: 'v1',
        kind: isPods ? 'PodList' : 'SecretList',
        metadata: { resourceVersion: '10' },
        items,
      }),
    );
  });
  return new Promise((resolve) => api.server.listen(0, '127.0.0.1', () => resolve(api)));
}

function kubeConfigFor(api: FakeApi): KubeConfig {
  const config = new KubeConfig();
  const server = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  config.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'fake-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return config;
}

/** Collects the source's states and errors; `next` waits for a state matching `predicate`. */
function collector() {
  const states: ClusterState[] = [];
  const errors: PodrouterError[] = [];
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  return {
    states,
    errors,
    listener: {
      onState: (state: ClusterState) => {
        states.push(state);
        wake();
      },
      onError: (error: PodrouterError) => {
        errors.push(error);
        wake();
      },
    },
    async until(predicate: () => boolean, what: string, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

describe('KubeSource', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi();
  });
  after(() => {
    for (const watch of api.watches) watch.res.destroy();
    api.server.closeAllConnections();
    api.server.close();
  });

  it('lists Pods by label selector and Secrets by name, then follows watch events', async () => {
    api.pods = [podObject('one', '10.0.0.1', '5')];
    const source = new KubeSource(
      {
        kubeconfig: '',
        namespaces: [],
        labelSelector: 'routable=true',
        secretName: 'routing',
        debounceMs: 1,
      },
      kubeConfigFor(api),
    );
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0, 'the first state');
      const first = seen.states[0] as ClusterState;
      assert.deepEqual(
        first.pods.map((pod) => pod.podIP),
        ['10.0.0.1'],
      );
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

      await seen.until(
        () => api.watches.some((watch) => watch.url.startsWith('/api/v1/pods')),
        'the pod watch',
      );
      const podWatch = api.watches.find((watch) => watch.url.startsWith('/api/v1/pods'));
      podWatch?.res.write(
        `${JSON.stringify({ type: 'ADDED', object: podObject('two', '10.0.0.2', '11') })}\n`,
      );
      await seen.until(() => seen.states.at(-1)?.pods.length === 2, 'the added pod');
      podWatch?.res.write(
        `${JSON.stringify({ type: 'DELETED', object: podObject('one', '10.0.0.1', '12') })}\n`,
      );
      await seen.until(
        () =>
          seen.states
            .at(-1)
            ?.pods.map((pod) => pod.name)
            .join() === 'two',
        'the deleted pod',
      );
    } finally {
      await source.stop();
    }
  });

  it('watches each TLS Secret a Pod names, by name in its namespace, and reports one it cannot read', async () => {
    api.pods = [podObject('one', '10.0.0.1', '5', { publicTlsSecret: 'web-tls' })];
    const source = new KubeSource(
      {
        kubeconfig: '',
        namespaces: [],
        labelSelector: 'routable=true',
        secretName: 'routing',
        tlsSecretAnnotation: 'publicTlsSecret',
        debounceMs: 1,
        backoffBaseMs: 10,
      },
      kubeConfigFor(api),
    );
    const seen = collector();
    const earlierWatches = api.watches.length;
    source.start(seen.listener);
    try {
      await seen.until(() => seen.states.length > 0, 'the first state');
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
      await seen.until(
        () =>
          api.watches.slice(earlierWatches).some((watch) => watch.url.startsWith('/api/v1/pods')),
        'the pod watch',
      );
      const podWatch = api.watches
        .slice(earlierWatches)
        .find((watch) => watch.url.startsWith('/api/v1/pods'));
      podWatch?.res.write(
        `${JSON.stringify({ type: 'MODIFIED', object: podObject('one', '10.0.0.1', '6', { publicTlsSecret: 'denied' }) })}\n`,
      );
      await seen.until(
        () => seen.states.at(-1)?.secretErrors?.has('ns/denied') === true,
        'the error',
      );
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
      assert.equal(seen.errors.length, 0);
    } finally {
      await source.stop();
    }
  });

  it('re-lists after 410 Gone and restarts after a failed list, keeping the last state', async () => {
    api.pods = [podObject('one', '10.0.0.1', '5')];
    api.watches.length = 0;
    const source = new KubeSource(
      {
        kubeconfig: '',
        namespaces: ['ns'],
        labelSelector: 'routable=true',
        secretName: 'routing',
        debounceMs: 1,
        backoffBaseMs: 10,
        backoffCapMs: 20,
      },
      kubeConfigFor(api),
    );
    const seen = collector();
    source.start(seen.listener);
    try {
      await seen.until(
        () =>
          seen.states.length > 0 &&
          api.watches.some((watch) => watch.url.startsWith('/api/v1/namespaces/ns/pods')),
        'sync and watch',
      );
      const podLists = () =>
        api.lists.filter((url) => url.startsWith('/api/v1/namespaces/ns/pods')).length;
      const before410 = podLists();
      api.pods = [podObject('one', '10.0.0.1', '5'), podObject('three', '10.0.0.3', '20')];
      const podWatch = api.watches.find((watch) =>
        watch.url.startsWith('/api/v1/namespaces/ns/pods'),
      );
      podWatch?.res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired' } })}\n`,
      );
      await seen.until(() => podLists() > before410, 'a re-list after 410');
      await seen.until(() => seen.states.at(-1)?.pods.length === 2, 'the re-listed pods');

      // The API server fails: the source reports it, keeps its state, and comes back.
      const nsWatches = () =>
        api.watches.filter((watch) => watch.url.startsWith('/api/v1/namespaces/ns/pods'));
      await seen.until(() => nsWatches().length >= 2, 'the watch after the re-list');
      api.failNextLists = 2;
      nsWatches()
        .at(-1)
        ?.res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired' } })}\n`,
        );
      await seen.until(() => seen.errors.length >= 2, 'errors reported');
      assert.match(
        seen.errors[0]?.message ?? '',
        /retrying in \d+ ms, serving the last good routes/,
      );
      api.pods = [podObject('four', '10.0.0.4', '30')];
      await seen.until(
        () =>
          seen.states
            .at(-1)
            ?.pods.map((pod) => pod.name)
            .join() === 'four',
        'recovery',
      );
    } finally {
      await source.stop();
    }
  });

  it('asks for bookmarks and restarts a silent watch from its resourceVersion', async () => {
    api.pods = [podObject('one', '10.0.0.1', '5')];
    api.watches.length = 0;
    const listsBefore = api.lists.length;
    const source = new KubeSource(
      {
        kubeconfig: '',
        namespaces: ['quiet'],
        labelSelector: 'routable=true',
        secretName: 'routing',
        debounceMs: 1,
        silenceTimeoutMs: 300,
      },
      kubeConfigFor(api),
    );
    const seen = collector();
    source.start(seen.listener);
    const podWatches = () =>
      api.watches.filter((watch) => watch.url.startsWith('/api/v1/namespaces/quiet/pods'));
    try {
      await seen.until(() => podWatches().length >= 1, 'the first watch');
      const first = new URL(podWatches()[0]?.url ?? '', 'http://api');
      assert.equal(first.searchParams.get('allowWatchBookmarks'), 'true');
      // A bookmark is activity: it moves the resourceVersion and keeps the watch.
      podWatches()[0]?.res.write(
        `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '42' } } })}\n`,
      );
      await seen.until(() => podWatches().length >= 2, 'a restart after silence', 3000);
      const second = new URL(podWatches()[1]?.url ?? '', 'http://api');
      assert.equal(second.searchParams.get('resourceVersion'), '42');
      assert.equal(
        api.lists.slice(listsBefore).filter((url) => url.includes('/quiet/pods')).length,
        1,
        'no re-list',
      );
      assert.ok(
        seen.errors.some((error) => /no event or bookmark for 300 ms/.test(error.message)),
        seen.errors.map((error) => error.message).join('; '),
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
