// Both routers on the real cluster, as the ServiceAccount of examples/rbac/router.yaml: Pods
// and API-key Secrets change through the API server, clients ask from inside the cluster
// network. Every fake Pod carries both builds' annotations, so each step checks both.
// Fails, never skips, when the cluster cannot be had (root needed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNamespace, deleteNamespace, ensureClusterUp, kubectl } from '../cluster/cluster.ts';
import { type FakePod, startFakePod } from '../cluster/fake-kubelet.ts';
import {
  annotate,
  BUILDS,
  eventsIn,
  type KubeRouter,
  NetnsClient,
  podOf,
  routeAnnotations,
  routerServiceAccount,
  startKubeRouter,
  waitForEvent,
} from './support.ts';

const run = randomBytes(3).toString('hex');
const nsA = `kube-a-${run}`;
const nsB = `kube-b-${run}`;
const host = (name: string) => `${name}.${run}.example`;
const pods: FakePod[] = [];
const routers: KubeRouter[] = [];
let client: NetnsClient;

const routable = { routable: 'true' };

async function fakePod(
  namespace: string,
  name: string,
  annotations: Record<string, string>,
  ready = true,
): Promise<FakePod> {
  const pod = await startFakePod({ namespace, name, labels: routable, annotations, ready });
  pods.push(pod);
  return pod;
}

/** Polls every router until `accept` holds for the answer to host+path. */
async function allRouters(
  what: string,
  hostName: string,
  path: string,
  accept: (pod: string | undefined, status: number) => boolean,
  headers: (router: KubeRouter) => Record<string, string> = () => ({}),
): Promise<void> {
  await Promise.all(
    routers.map((router) =>
      router.until(
        what,
        hostName,
        path,
        (answer) => accept(podOf(answer), answer.status),
        headers(router),
      ),
    ),
  );
}

before(async () => {
  await ensureClusterUp();
  const kubeconfig = await routerServiceAccount();
  await Promise.all([createNamespace(nsA), createNamespace(nsB)]);
  client = new NetnsClient();
  for (const build of BUILDS) routers.push(await startKubeRouter(build, client, kubeconfig));
});

after(async () => {
  await Promise.all(routers.map((router) => router.stop()));
  await Promise.all(pods.map((pod) => pod.delete()));
  await Promise.all([deleteNamespace(nsA), deleteNamespace(nsB)]);
  await client?.close();
});

test('a Pod is routed when Ready and dropped when unready, terminating or deleted', async () => {
  const pod = await fakePod(nsA, 'web', routeAnnotations(host('web'), '8080:/'));
  await allRouters('the new Pod routed', host('web'), '/x', (name) => name === 'web');
  await pod.setReady(false);
  // An unready Pod keeps its claim (the route stays, with no ready endpoint: 503).
  await allRouters('the unready Pod dropped', host('web'), '/x', (_, status) => status === 503);
  await pod.setReady(true);
  await allRouters('the Pod back when Ready', host('web'), '/x', (name) => name === 'web');
  await pod.terminate();
  await allRouters('the terminating Pod dropped', host('web'), '/', (_, s) => s === 404);
  await pod.delete();
  const deleted = await fakePod(nsA, 'web2', routeAnnotations(host('web2'), '8080:/'));
  await allRouters('another Pod routed', host('web2'), '/', (name) => name === 'web2');
  await deleted.delete();
  await allRouters('the deleted Pod dropped', host('web2'), '/', (_, status) => status === 404);
});

test('edited annotations move the routes', async () => {
  await fakePod(nsA, 'edit', routeAnnotations(host('before'), '8080:/old'));
  await allRouters('the first route', host('before'), '/old', (name) => name === 'edit');
  await annotate(nsA, 'edit', routeAnnotations(host('after'), '8080:/new'));
  await allRouters('the new route', host('after'), '/new/x', (name) => name === 'edit');
  await allRouters('the old route gone', host('before'), '/old', (_, status) => status === 404);
});

test('a rejected entry gets an Event naming it and the reason; the rest routes', async () => {
  const pod = await fakePod(
    nsA,
    'bad',
    routeAnnotations(`${host('good')} bad_host!`, '8080:/ok 9999:/nope'),
  );
  await allRouters('the valid entries routed', host('good'), '/ok', (name) => name === 'bad');
  for (const router of routers) {
    const controller = `podrouter.dev/podrouter-${router.build.tier}`;
    const onHost = await waitForEvent(
      nsA,
      'bad',
      (e) => e.reportingController === controller && (e.note ?? '').includes('bad_host!'),
    );
    assert.equal(onHost.type, 'Warning');
    assert.equal(onHost.reason, 'RouteRejected');
    assert.equal(onHost.regarding?.uid, pod.uid);
    assert.match(onHost.note ?? '', new RegExp(`^${router.build.hostsAnnotation} entry`));
    const onPort = await waitForEvent(
      nsA,
      'bad',
      (e) => e.reportingController === controller && (e.note ?? '').includes('9999:/nope'),
    );
    assert.match(onPort.note ?? '', /9999/);
  }
  // More tables with the same rejections (another Pod changing) write no more Events.
  await fakePod(nsA, 'other', routeAnnotations(host('other'), '8080:/'));
  await allRouters('another Pod routed', host('other'), '/', (name) => name === 'other');
  await sleep(1000);
  // Only the routers' Events (the alias controller, when running, writes its own), and one
  // per rejection whatever the number of router replicas watching.
  const events = (await eventsIn(nsA)).filter(
    (event) =>
      event.regarding?.name === 'bad' &&
      event.reportingController?.startsWith('podrouter.dev/podrouter-'),
  );
  assert.equal(events.length, 4, JSON.stringify(events));
  assert.ok(events.every((event) => event.series === undefined));
});

test('two namespaces claiming one host+path: the older claim wins, the other gets an Event', async () => {
  const paths = '8080:/claimed';
  const older = await fakePod(nsA, 'first', routeAnnotations(host('shared'), paths));
  await allRouters('the first claim routed', host('shared'), '/claimed', (n) => n === 'first');
  // creationTimestamp has one-second resolution; the same second would fall to name order.
  await sleep(1100);
  await fakePod(nsB, 'second', routeAnnotations(host('shared'), paths));
  for (const router of routers) {
    const event = await waitForEvent(
      nsB,
      'second',
      (e) => e.reportingController === `podrouter.dev/podrouter-${router.build.tier}`,
    );
    assert.match(event.note ?? '', new RegExp(`already claimed by namespace ${nsA}`));
  }
  for (let i = 0; i < 5; i++) {
    for (const router of routers) {
      assert.equal(podOf(await router.get(host('shared'), '/claimed')), 'first');
    }
  }
  await older.delete();
  await allRouters('the other claim after the first is gone', host('shared'), '/claimed', (n) => {
    return n === 'second';
  });
});

test('API-key Secret created, rotated, made malformed (fails closed) and deleted', async () => {
  await fakePod(nsB, 'keyed', routeAnnotations(host('keyed'), '8080:/'));
  const h = host('keyed');
  await allRouters('open without a Secret', h, '/', (name) => name === 'keyed');
  const keyHeader = (key: string) => ({ 'x-routing-api-key': key });
  const setSecret = async (values: Record<string, string>) => {
    const data = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'routing', namespace: nsB },
        data,
      }),
    });
  };
  const keys = (suffix: string) =>
    Object.fromEntries(BUILDS.map((b) => [b.apiKeyField, `${b.tier}-key-${suffix}`]));
  const keyOf = (router: KubeRouter, suffix: string) => `${router.build.tier}-key-${suffix}`;

  await setSecret(keys('one'));
  await allRouters('a key required', h, '/', (_, status) => status === 401);
  await allRouters(
    'the key accepted',
    h,
    '/',
    (n) => n === 'keyed',
    (r) => keyHeader(keyOf(r, 'one')),
  );

  await setSecret(keys('two'));
  await allRouters(
    'the old key refused',
    h,
    '/',
    (_, s) => s === 403,
    (r) => keyHeader(keyOf(r, 'one')),
  );
  await allRouters(
    'the new key accepted',
    h,
    '/',
    (n) => n === 'keyed',
    (r) => keyHeader(keyOf(r, 'two')),
  );

  await setSecret(Object.fromEntries(BUILDS.map((b) => [b.apiKeyField, 'not a key line'])));
  await allRouters(
    'closed on a malformed Secret',
    h,
    '/',
    (_, s) => s === 503,
    (r) => keyHeader(keyOf(r, 'two')),
  );
  await allRouters('closed without a key too', h, '/', (_, status) => status === 503);

  await kubectl(['-n', nsB, 'delete', 'secret', 'routing']);
  await allRouters('open again without the Secret', h, '/', (name) => name === 'keyed');
});
