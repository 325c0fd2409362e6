// How the routers reach the API server: in-cluster configuration (token, CA and the
// kubernetes Service through kube-proxy, as in a Pod) and RBAC checked at start, so a missing
// required permission stops the router with the verb and resource named instead of a silent
// retry loop, and a missing optional one (Events) turns its feature off and says so. Fails, never skips, when the cluster cannot be had (root needed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  apply,
  clusterInfo,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  serviceAccountKubeconfig,
} from '../cluster/cluster.ts';
import { type FakePod, startFakePod } from '../cluster/fake-kubelet.ts';
import {
  BUILDS,
  NetnsClient,
  podOf,
  routeAnnotations,
  routerServiceAccount,
  runRouterToExit,
  startKubeRouter,
} from './support.ts';

const run = randomBytes(3).toString('hex');
const ns = `kube-access-${run}`;
const pods: FakePod[] = [];
const cleanup: (() => Promise<unknown>)[] = [];
let client: NetnsClient;

before(async () => {
  await ensureClusterUp();
  await createNamespace(ns);
  client = new NetnsClient();
});

after(async () => {
  for (const step of cleanup.reverse()) await step();
  await Promise.all(pods.map((pod) => pod.delete()));
  await deleteNamespace(ns);
  await client?.close();
});

/** A ServiceAccount in `ns` bound to a ClusterRole with `rules` (cluster-wide). */
async function serviceAccountWith(name: string, rules: readonly object[]): Promise<string> {
  const role = `podrouter-test-${name}-${run}`;
  await apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: role },
      rules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    },
  ]);
  cleanup.push(() => kubectl(['delete', 'clusterrole,clusterrolebinding', role]));
  return serviceAccountKubeconfig(ns, name, { create: false });
}

test('a missing required permission stops both builds at start, naming verb and resource', async () => {
  // The example's rules without `watch` on the API-key Secret, and without Events.
  const kubeconfig = await serviceAccountWith('partial', [
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['routing'], verbs: ['list'] },
  ]);
  for (const build of BUILDS) {
    const result = await runRouterToExit(build, kubeconfig);
    assert.equal(result.code, 1, `${build.tier}: ${result.stderr}${result.stdout.slice(-500)}`);
    assert.match(result.stderr, /forbidden/);
    assert.match(result.stderr, new RegExp(`system:serviceaccount:${ns}:partial`));
    assert.match(result.stderr, /watch secrets named routing at cluster scope/);
    // Events are optional: their absence is no reason to stop.
    assert.doesNotMatch(result.stderr, /events\.k8s\.io/);
    assert.doesNotMatch(result.stderr, /(list|watch) pods/);
    assert.match(result.stderr, /docs\/rbac\.md/);
  }
  // Without Events (POD_EVENTS=false) only the Secret's watch is missing.
  const quiet = await runRouterToExit(BUILDS[0] as (typeof BUILDS)[0], kubeconfig, {
    POD_EVENTS: 'false',
    WATCH_NAMESPACES: ns,
  });
  assert.equal(quiet.code, 1, quiet.stderr);
  assert.match(
    quiet.stderr,
    new RegExp(`may not watch secrets named routing in namespace ${ns}\\.`),
  );
});

test('without Events permissions both builds run, with Pod Events off: warning, metric, /routes', async () => {
  const kubeconfig = await serviceAccountWith('no-events', [
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    {
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['routing'],
      verbs: ['list', 'watch'],
    },
  ]);
  for (const build of BUILDS) {
    const router = await startKubeRouter(build, client, kubeconfig, { WATCH_NAMESPACES: ns });
    try {
      const warning = router.logs.find((line) => String(line.msg).startsWith('Pod Events are off'));
      assert.ok(warning, `${build.tier}: no warning in ${JSON.stringify(router.logs)}`);
      assert.match(
        String(warning.msg),
        new RegExp(`create events\\.events\\.k8s\\.io in namespace ${ns}`),
      );
      const metrics = await router.admin('/metrics');
      assert.match(
        metrics.body,
        new RegExp(`podrouter_feature_enabled\\{tier="${build.tier}",feature="pod-events"\\} 0`),
      );
      const routes = JSON.parse((await router.admin('/routes')).body) as {
        features?: Record<string, { enabled: boolean; reason?: string }>;
      };
      assert.equal(routes.features?.['pod-events']?.enabled, false);
      assert.match(
        routes.features?.['pod-events']?.reason ?? '',
        /missing RBAC permissions: create events/,
      );
    } finally {
      await router.stop();
    }
  }
});

test("with Pod Events on, /routes still shows each extension's own section (the policy's closed namespaces)", async () => {
  // The event recorder adds a part of its own: sections are found by extension name, not place.
  const kubeconfig = await routerServiceAccount();
  for (const build of BUILDS) {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'routing', namespace: ns },
        stringData: { [build.apiKeyField]: 'first-key\nsha256:nothex' },
      },
    ]);
    const router = await startKubeRouter(build, client, kubeconfig, { WATCH_NAMESPACES: ns });
    try {
      let routes: { features?: Record<string, { enabled: boolean }>; policy?: unknown } = {};
      for (let tries = 0; tries < 50; tries++) {
        routes = JSON.parse((await router.admin('/routes')).body);
        const closed = (routes.policy as { closedNamespaces?: Record<string, string> } | undefined)
          ?.closedNamespaces;
        if (closed?.[ns] !== undefined) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(routes.features?.['pod-events']?.enabled, true, JSON.stringify(routes));
      assert.match(
        (routes.policy as { closedNamespaces: Record<string, string> }).closedNamespaces[ns] ?? '',
        /line 2: .*64 hex/,
        `${build.tier}: ${JSON.stringify(routes)}`,
      );
      assert.ok(!JSON.stringify(routes).includes('first-key'), 'no key value at /routes');
    } finally {
      await router.stop();
      await kubectl(['delete', 'secret', '-n', ns, 'routing']);
    }
  }
});

test('in-cluster configuration: token and CA files, the kubernetes Service', async () => {
  const kubeconfig = await routerServiceAccount();
  const token = (
    JSON.parse(readFileSync(kubeconfig, 'utf8')) as { users: { user: { token: string } }[] }
  ).users[0]?.user.token;
  assert.ok(token);
  const dir = mkdtempSync(join(tmpdir(), 'podrouter-incluster-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), token);
  writeFileSync(join(dir, 'namespace'), 'podrouter-system');
  writeFileSync(join(dir, 'ca.crt'), readFileSync(join(clusterInfo().dir, 'pki', 'ca.crt')));
  // A private mount namespace with a fresh /run holding the files where a Pod has them;
  // nothing appears on the host.
  const sa = '/run/secrets/kubernetes.io/serviceaccount';
  const script = `mount -t tmpfs tmpfs /run && mkdir -p ${sa} && cp ${dir}/* ${sa}/ && exec "$@"`;
  const build = BUILDS[0] as (typeof BUILDS)[0];
  const router = await startKubeRouter(
    build,
    client,
    '',
    { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'sh',
      process.execPath,
      build.bin,
    ],
  );
  cleanup.push(() => router.stop());
  pods.push(
    await startFakePod({
      namespace: ns,
      name: 'in-cluster',
      labels: { routable: 'true' },
      annotations: routeAnnotations(`in-cluster.${run}.example`, '8080:/'),
    }),
  );
  const answer = await router.until(
    'the Pod routed',
    `in-cluster.${run}.example`,
    '/',
    (a) => podOf(a) === 'in-cluster',
  );
  assert.equal(answer.status, 200);
});
