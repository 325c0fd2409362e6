// Proves the test cluster end to end: a Service with a selector and a fake-kubelet Pod, then
// from inside the network namespace `curl http://svc.ns/` is resolved by CoreDNS and
// forwarded by kube-proxy to the real backend. Needs root; starts the cluster through
// up.sh when it is not up and leaves it running for other suites (`npm run cluster:down`
// removes it). It fails, never skips, when the cluster cannot be had.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  kubectlJson,
  kubectlRun,
  runInNetns,
  serviceAccountKubeconfig,
  waitFor,
} from './cluster.ts';
import type { FakePod } from './fake-kubelet.ts';
import { startFakePod } from './fake-kubelet.ts';

const ns = `cluster-test-${randomBytes(3).toString('hex')}`;
const pods: FakePod[] = [];

interface Echo {
  pod: string;
  namespace: string;
  podIp: string;
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** curl from inside the namespace, as a Pod would; undefined when it cannot connect. */
async function curl(url: string): Promise<Echo | undefined> {
  const r = await runInNetns(
    'curl',
    ['-sS', '--fail', '--max-time', '3', '-H', 'x-probe: 1', url],
    {
      allowFailure: true,
    },
  );
  return r.code === 0 ? (JSON.parse(r.stdout) as Echo) : undefined;
}

async function curlUntil(
  url: string,
  accept: (e: Echo | undefined) => boolean,
): Promise<Echo | undefined> {
  let last: Echo | undefined;
  await waitFor(`${url} to answer as expected`, 20_000, async () => {
    last = await curl(url);
    return accept(last);
  });
  return last;
}

before(async () => {
  await ensureClusterUp();
  await createNamespace(ns);
});

after(async () => {
  for (const pod of pods) await pod.delete();
  await deleteNamespace(ns);
});

test('the API server reports the pinned release and the Node is Ready', async () => {
  const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(['version']);
  assert.equal(version.serverVersion.gitVersion, 'v1.36.3');
  const node = await kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>([
    'get',
    'node',
    'node-1',
  ]);
  assert.ok(node.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
});

test('a Service with a fake-kubelet Pod answers by DNS name through kube-proxy', async () => {
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo', namespace: ns },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
  ]);
  const pod = await startFakePod({ namespace: ns, name: 'echo-1', labels: { app: 'echo' } });
  pods.push(pod);

  const echo = await curlUntil(`http://echo.${ns}/hello?x=1`, (e) => e !== undefined);
  assert.ok(echo);
  assert.equal(echo.pod, 'echo-1');
  assert.equal(echo.namespace, ns);
  assert.equal(echo.podIp, pod.ip);
  assert.equal(echo.method, 'GET');
  assert.equal(echo.url, '/hello?x=1');
  assert.equal(echo.headers.host, `echo.${ns}`);
  assert.equal(echo.headers['x-probe'], '1');

  const fqdn = await curl(`http://echo.${ns}.svc.cluster.local/`);
  assert.equal(fqdn?.pod, 'echo-1');

  const slices = await kubectlJson<{
    items: {
      endpoints: { addresses: string[]; conditions: { ready: boolean }; nodeName: string }[];
    }[];
  }>(['-n', ns, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=echo']);
  const endpoints = slices.items.flatMap((s) => s.endpoints ?? []);
  assert.deepEqual(
    endpoints.map((e) => [e.addresses[0], e.conditions.ready, e.nodeName]),
    [[pod.ip, true, 'node-1']],
  );
});

test('kube-proxy follows the Pod turning unready, terminating and deleted', async () => {
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'flip', namespace: ns },
      spec: { selector: { app: 'flip' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  ]);
  const a = await startFakePod({ namespace: ns, name: 'flip-a', labels: { app: 'flip' } });
  pods.push(a);
  const b = await startFakePod({
    namespace: ns,
    name: 'flip-b',
    labels: { app: 'flip' },
    ready: false,
  });
  pods.push(b);
  const url = `http://flip.${ns}/`;

  await curlUntil(url, (e) => e?.pod === 'flip-a');
  await a.setReady(false);
  await curlUntil(url, (e) => e === undefined);
  await b.setReady(true);
  await curlUntil(url, (e) => e?.pod === 'flip-b');

  await b.terminate(600);
  const terminating = await kubectlJson<{ metadata: { deletionTimestamp?: string } }>([
    '-n',
    ns,
    'get',
    'pod',
    'flip-b',
  ]);
  assert.ok(terminating.metadata.deletionTimestamp, 'a terminating Pod keeps its object');
  await b.delete();
  const left = await kubectl(['-n', ns, 'get', 'pod', 'flip-b', '--ignore-not-found']);
  assert.equal(left.trim(), '');
  await curlUntil(url, (e) => e === undefined);
});

test('a ServiceAccount kubeconfig is held to RBAC', async () => {
  const kubeconfig = await serviceAccountKubeconfig(ns, 'reader');
  const denied = await kubectlRun(['-n', ns, 'get', 'pods'], { kubeconfig, allowFailure: true });
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /forbidden/i);
  assert.match(denied.stderr, new RegExp(`system:serviceaccount:${ns}:reader`));

  await apply([
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-reader', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'pod-reader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    },
  ]);
  await waitFor('the RoleBinding to take effect', 10_000, async () => {
    const r = await kubectlRun(['-n', ns, 'get', 'pods'], { kubeconfig, allowFailure: true });
    return r.code === 0;
  });
});
