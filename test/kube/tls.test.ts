// TLS on the real cluster: both routers watch the kubernetes.io/tls Secret a Pod names, by
// name, as the ServiceAccount of examples/rbac/router.yaml plus a Role granting that one
// Secret name (docs/rbac.md, "TLS Secrets"); a Secret replaced through the API server is
// served from the next handshake; a Secret the router may not read disables TLS for its host
// with the grant to add, at /routes and in an Event on the Pod. HTTPS clients run inside the
// cluster network. Fails, never skips, when the cluster cannot be had (root needed).
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  runInNetns,
  waitFor,
} from '../cluster/cluster.ts';
import { type FakePod, startFakePod } from '../cluster/fake-kubelet.ts';
import { type Pem, TestCa, tlsSecret } from '../support/certs.ts';
import {
  BUILDS,
  type KubeRouter,
  NetnsClient,
  routeAnnotations,
  routerServiceAccount,
  startKubeRouter,
  waitForEvent,
} from './support.ts';

const run = randomBytes(3).toString('hex');
const ns = `kube-tls-${run}`;
const host = `shop.${run}.example`;
const deniedHost = `denied.${run}.example`;
const ca = new TestCa();
const caFile = join(ca.dir, 'ca.crt');
const pods: FakePod[] = [];
const routers: KubeRouter[] = [];
let client: NetnsClient;
let first: Pem;
let second: Pem;

interface Probe {
  readonly status: number;
  readonly body?: string;
  readonly san?: string;
  readonly sha256?: string;
  readonly error?: string;
}

const tlsPortOf = (router: KubeRouter) =>
  router.logs.find((line) => line.msg === 'listening')?.tlsPort as number;

async function probe(router: KubeRouter, servername: string): Promise<Probe> {
  const script = join(import.meta.dirname, 'tls-probe.ts');
  const result = await runInNetns(process.execPath, [
    script,
    String(tlsPortOf(router)),
    servername,
    caFile,
  ]);
  return JSON.parse(result.stdout.trim()) as Probe;
}

async function untilProbe(what: string, servername: string, accept: (probe: Probe) => boolean) {
  for (const router of routers) {
    let last: Probe = { status: 0 };
    try {
      await waitFor(`${router.build.tier}: ${what}`, 20_000, async () => {
        last = await probe(router, servername);
        return accept(last);
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last probe ${JSON.stringify(last)}`);
    }
  }
}

const fingerprint = (pem: Pem) => new X509Certificate(pem.cert).fingerprint256;

before(async () => {
  await ensureClusterUp();
  first = ca.issue({ names: [host, deniedHost] });
  second = ca.issue({ names: [host] });
  const kubeconfig = await routerServiceAccount();
  await createNamespace(ns);
  await apply([
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'podrouter-tls', namespace: ns },
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['web-tls'],
          verbs: ['list', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'podrouter-tls', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'podrouter-tls' },
      subjects: [
        { kind: 'ServiceAccount', name: 'podrouter-router', namespace: 'podrouter-system' },
      ],
    },
    tlsSecret(ns, 'web-tls', first),
    // Readable by nobody but the cluster admin: the routers get 403 for it.
    tlsSecret(ns, 'denied-tls', first),
  ]);
  client = new NetnsClient();
  for (const build of BUILDS) {
    routers.push(await startKubeRouter(build, client, kubeconfig, { TLS_PORT: '0' }));
  }
});

after(async () => {
  await Promise.all(routers.map((router) => router.stop()));
  await Promise.all(pods.map((pod) => pod.delete()));
  await deleteNamespace(ns);
  await client?.close();
  ca.close();
});

test('a Pod’s TLS Secret is watched by name and served by SNI; a replaced Secret is served next', async () => {
  const tls = Object.fromEntries(BUILDS.map((build) => [`${build.tier}TlsSecret`, 'web-tls']));
  pods.push(
    await startFakePod({
      namespace: ns,
      name: 'shop',
      labels: { routable: 'true' },
      annotations: { ...routeAnnotations(host, '8080:/'), ...tls },
    }),
  );
  await untilProbe('HTTPS with the Secret’s certificate', host, (answer) => answer.status === 200);
  for (const router of routers) {
    const answer = await probe(router, host);
    assert.equal(answer.sha256, fingerprint(first));
    assert.equal(JSON.parse(answer.body ?? '{}').pod, 'shop');
  }
  await apply([tlsSecret(ns, 'web-tls', second)]);
  await untilProbe(
    'the replaced certificate',
    host,
    (answer) => answer.status === 200 && answer.sha256 === fingerprint(second),
  );
  // Plain HTTP for that host now redirects to HTTPS.
  for (const router of routers) {
    const plain = await client.request(router.port, host, '/x');
    assert.equal(plain.status, 308);
  }
});

test('a Secret the router may not read disables TLS for its host, with the grant to add', async () => {
  const tls = Object.fromEntries(BUILDS.map((build) => [`${build.tier}TlsSecret`, 'denied-tls']));
  pods.push(
    await startFakePod({
      namespace: ns,
      name: 'denied',
      labels: { routable: 'true' },
      annotations: { ...routeAnnotations(deniedHost, '8080:/'), ...tls },
    }),
  );
  const expected = `grant list and watch on secrets named denied-tls in namespace ${ns}`;
  for (const router of routers) {
    await waitFor(`${router.build.tier}: the rejection at /routes`, 20_000, async () =>
      (await router.admin('/routes')).body.includes(expected),
    );
    const event = await waitForEvent(
      ns,
      'denied',
      (e) =>
        e.reportingController === `podrouter.dev/podrouter-${router.build.tier}` &&
        (e.note ?? '').includes(expected),
    );
    assert.match(
      event.note ?? '',
      new RegExp(
        `^${router.build.tier}TlsSecret entry "denied-tls": Secret ${ns}/denied-tls cannot be read: HTTP 403`,
      ),
    );
    // The host is still served over plain HTTP; the other host keeps its TLS.
    assert.equal((await client.request(router.port, deniedHost, '/')).status, 200);
    assert.equal((await probe(router, host)).status, 200);
  }
  assert.ok(await kubectl(['-n', ns, 'get', 'secret', 'denied-tls', '-o', 'name']));
});
