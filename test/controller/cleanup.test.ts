// `podrouter-controller cleanup` against the real API server: the alias objects of two
// installations (Services, EndpointSlices, v1 Endpoints, as the controller writes them), a
// user's Service, a controller Pod and the Lease; cleanup runs as a ServiceAccount holding
// exactly the RBAC the chart gives its post-delete hook, waits while the controller Pod
// exists, then deletes one installation's aliases and Lease and nothing else.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  run,
  serviceAccountKubeconfig,
  spawnInNetns,
  waitFor,
} from '../cluster/cluster.ts';
import { repo, suffix } from './support.ts';

const id = suffix();
const release = `pr${id}`;
const system = `pr-sys-${id}`;
const otherSystem = `pr-other-${id}`;
const apps = `apps-${id}`;
const bin = join(repo, 'packages/controller/bin/podrouter-controller.js');
const MANAGED = { 'app.kubernetes.io/managed-by': 'podrouter' };
const ROUTER = `${system}/${release}-podrouter-private`;
const OTHER_ROUTER = `${otherSystem}/podrouter-private`;
const CONTROLLER_LABELS = {
  'app.kubernetes.io/name': 'podrouter',
  'app.kubernetes.io/instance': release,
  'app.kubernetes.io/component': 'controller',
};
const clusterScoped: string[] = [];

const service = (name: string, router: string | undefined, labels: object = MANAGED) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name,
    namespace: apps,
    labels,
    ...(router ? { annotations: { 'podrouter.dev/router-service': router } } : {}),
  },
  spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 81 }] },
});
const slice = (service: string, ip: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: `${service}-podrouter-0`,
    namespace: apps,
    labels: {
      ...MANAGED,
      'kubernetes.io/service-name': service,
      'endpointslice.kubernetes.io/managed-by': 'controller.podrouter.dev',
    },
  },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 81, protocol: 'TCP' }],
  endpoints: [{ addresses: [ip], conditions: { ready: true } }],
});
const endpoints = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name, namespace: apps, labels: MANAGED },
  subsets: [
    { addresses: [{ ip: '10.96.0.200' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  ],
});

async function names(kinds: string): Promise<string[]> {
  const out = await kubectl(['-n', apps, 'get', kinds, '-o', 'name']);
  return out
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/kubernetes'))
    .sort();
}

function cleanup(kubeconfig: string, waitTimeout: string) {
  let output = '';
  const child: ChildProcess = spawnInNetns(
    process.execPath,
    [
      bin,
      'cleanup',
      `--kubeconfig=${kubeconfig}`,
      `--router-service=${ROUTER}`,
      `--controller-namespace=${system}`,
      `--controller-selector=${Object.entries(CONTROLLER_LABELS)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
      `--wait-timeout=${waitTimeout}`,
      `--lease-namespace=${system}`,
      `--lease-name=${release}-podrouter-controller`,
    ],
    { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { output: () => output, exited };
}

let kubeconfig = '';

before(async () => {
  await ensureClusterUp();
  for (const ns of [system, otherSystem, apps]) await createNamespace(ns);
  // The chart's hook ServiceAccount and RBAC, exactly as rendered.
  const rendered = await run(
    'bash',
    [
      join(repo, 'charts/tools/helm.sh'),
      'template',
      release,
      join(repo, 'charts/podrouter'),
      '--namespace',
      system,
      '--show-only',
      'templates/cleanup.yaml',
    ],
    { timeoutMs: 20 * 60_000 },
  );
  const objects = parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJS() as { kind: string; metadata: { name: string } } | null)
    .filter((o) => o !== null && o.kind !== 'Job') as {
    kind: string;
    metadata: { name: string };
  }[];
  assert.equal(objects.length, 7, 'ServiceAccount, ClusterRole/Binding, two Roles/Bindings');
  for (const o of objects) {
    if (o.kind.startsWith('Cluster'))
      clusterScoped.push(`${o.kind.toLowerCase()}/${o.metadata.name}`);
  }
  await apply(objects);
  kubeconfig = await serviceAccountKubeconfig(system, `${release}-podrouter-cleanup`, {
    create: false,
  });
});

after(async () => {
  // No kubelet runs these Pods: only a forced delete removes them (and lets the namespace go).
  await kubectl(
    ['-n', system, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--ignore-not-found'],
    { allowFailure: true },
  );
  for (const name of clusterScoped) await kubectl(['delete', name, '--ignore-not-found']);
  // Wait until they are gone: a later suite's controller must not meet their aliases while
  // the namespaces terminate.
  for (const ns of [system, otherSystem, apps]) await deleteNamespace(ns, { wait: true });
});

test('deletes one installation’s aliases and Lease once its controller Pods are gone, nothing else', async () => {
  await apply([
    // This installation: an endpointslice-mode alias and a cluster-ip-mode alias.
    service('orders', ROUTER),
    slice('orders', '10.244.9.1'),
    service('billing', ROUTER),
    endpoints('billing'),
    // Another installation's alias, and a user's Service with a slice of its own.
    service('search', OTHER_ROUTER),
    slice('search', '10.244.9.2'),
    service('mine', undefined, { app: 'mine' }),
    {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: `${release}-podrouter-controller`, namespace: system },
      spec: { holderIdentity: 'controller-0', leaseDurationSeconds: 15 },
    },
    // A controller Pod of the release (bound to the fake node; nothing runs it).
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'controller-0', namespace: system, labels: CONTROLLER_LABELS },
      spec: {
        nodeName: 'node-1',
        containers: [{ name: 'controller', image: 'podrouter-controller:test' }],
      },
    },
  ]);
  // An evicted controller Pod (phase Failed) writes nothing: cleanup does not wait for it.
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'controller-evicted', namespace: system, labels: CONTROLLER_LABELS },
      spec: {
        nodeName: 'node-1',
        containers: [{ name: 'controller', image: 'podrouter-controller:test' }],
      },
    },
  ]);
  await kubectl([
    '-n',
    system,
    'patch',
    'pod',
    'controller-evicted',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { phase: 'Failed', reason: 'Evicted' } }),
  ]);
  const before = {
    services: await names('services'),
    slices: await names('endpointslices'),
    endpoints: await names('endpoints'),
  };
  assert.deepEqual(before.services, [
    'service/billing',
    'service/mine',
    'service/orders',
    'service/search',
  ]);

  const job = cleanup(kubeconfig, '5m');
  await waitFor('cleanup to wait for the controller Pod', 60_000, async () =>
    job.output().includes('waiting for the controller Pods to be gone'),
  );
  assert.match(job.output(), /"pods":\["controller-0"\]/, 'only the running Pod is waited for');
  assert.deepEqual(await names('services'), before.services, 'nothing deleted while it runs');
  await kubectl(['-n', system, 'delete', 'pod', 'controller-0', '--grace-period=0', '--force']);
  assert.equal(await job.exited, 0, job.output());

  assert.deepEqual(await names('services'), ['service/mine', 'service/search']);
  assert.deepEqual(
    (await names('endpointslices')).filter((n) => n.includes('-podrouter-')),
    ['endpointslice.discovery.k8s.io/search-podrouter-0'],
  );
  assert.ok(!(await names('endpoints')).includes('endpoints/billing'), 'the v1 Endpoints go too');
  // The slice Kubernetes mirrored from them is its own controller's to remove, and it does.
  await waitFor('the mirrored slice of billing to go', 60_000, async () => {
    const left = await kubectl([
      '-n',
      apps,
      'get',
      'endpointslices',
      '-l',
      'kubernetes.io/service-name=billing',
      '-o',
      'name',
    ]);
    return left.trim() === '';
  });
  const lease = await kubectl([
    '-n',
    system,
    'get',
    'lease',
    `${release}-podrouter-controller`,
    '--ignore-not-found',
    '-o',
    'name',
  ]);
  assert.equal(lease.trim(), '', 'the Lease is deleted');
  assert.match(job.output(), /"deleted":4,/);

  // Run again: nothing left of this installation, nothing else touched.
  const again = cleanup(kubeconfig, '5m');
  assert.equal(await again.exited, 0, again.output());
  assert.match(again.output(), /"deleted":0/);
  assert.deepEqual(await names('services'), ['service/mine', 'service/search']);
});

test('a controller Pod that outlives the wait fails cleanup, deleting nothing', async () => {
  await apply([
    service('late', ROUTER),
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'controller-1', namespace: system, labels: CONTROLLER_LABELS },
      spec: {
        nodeName: 'node-1',
        containers: [{ name: 'controller', image: 'podrouter-controller:test' }],
      },
    },
  ]);
  const job = cleanup(kubeconfig, '1s');
  assert.equal(await job.exited, 1, job.output());
  assert.match(job.output(), /PR_CLEANUP_CONTROLLER_RUNNING/);
  assert.match(job.output(), new RegExp(`${system}/controller-1`));
  assert.ok((await names('services')).includes('service/late'));
});
