// The externalname and cluster-ip alias modes in the real cluster, chosen per namespace with
// the podrouter.dev/alias-mode annotation: externalname answers through the router Service's
// DNS name; cluster-ip objects are accepted and mirrored by kube-controller-manager, and the
// call does not connect, because kube-proxy does not forward to a virtual IP (DESIGN.md).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectlJson,
} from '../cluster/cluster.ts';
import type { FakePod } from '../cluster/fake-kubelet.ts';
import {
  API_KEY,
  aliasObjects,
  appNamespace,
  type ControllerProcess,
  controllerServiceAccount,
  curl,
  deleteClusterRbac,
  echoPod,
  RouterFleet,
  startApp,
  startController,
  suffix,
  until,
} from './support.ts';

const id = suffix();
const system = `pr-sys-${id}`;
const cnameNs = `cname-${id}`;
const vipNs = `vip-${id}`;
const fleet = new RouterFleet(system);
const apps: FakePod[] = [];
let controller: ControllerProcess;
const key = { 'X-ROUTING-API-KEY': API_KEY };

before(async () => {
  await ensureClusterUp();
  await createNamespace(system);
  await appNamespace(cnameNs, { 'podrouter.dev/alias-mode': 'externalname' });
  await appNamespace(vipNs, { 'podrouter.dev/alias-mode': 'cluster-ip' });
  await fleet.createService();
  await fleet.scaleTo(1);
  apps.push(await startApp(cnameNs, 'my-app-1', `my-app.${cnameNs}`));
  apps.push(await startApp(vipNs, 'my-app-1', `my-app.${vipNs}`));
  controller = startController({
    KUBECONFIG: await controllerServiceAccount(system),
    ROUTER_SERVICE: `${system}/podrouter-private`,
    LEASE_NAMESPACE: system,
  });
});

after(async () => {
  const code = await controller?.stop();
  if (code !== 0 || process.env.CONTROLLER_LOG === '1')
    process.stderr.write(controller?.output() ?? '');
  for (const pod of apps) await pod.delete();
  await fleet.deleteAll();
  for (const ns of [cnameNs, vipNs, system]) await deleteNamespace(ns);
  await deleteClusterRbac(system);
});

test('externalname: a CNAME to the router Service; the call goes through the router, key enforced', async () => {
  const objects = await until(
    'the ExternalName alias',
    30_000,
    () => aliasObjects(cnameNs, 'my-app'),
    (o) => o.service !== undefined,
  );
  assert.equal(objects.service?.spec.type, 'ExternalName');
  assert.equal(objects.service?.spec.externalName, `podrouter-private.${system}.svc.cluster.local`);
  assert.equal(objects.slices.length, 0);
  const url = `http://my-app.${cnameNs}/`;
  await until(
    '401 without the key',
    30_000,
    () => curl(url),
    (r) => r.status === 401,
  );
  const ok = await until(
    '200 with the key',
    20_000,
    () => curl(url, key),
    (r) => r.status === 200,
  );
  assert.equal(echoPod(ok), 'my-app-1');
});

test('cluster-ip: Endpoints to the router ClusterIP are accepted and mirrored, and the call does not connect', async () => {
  const router = await kubectlJson<{ spec: { clusterIP: string } }>([
    '-n',
    system,
    'get',
    'service',
    'podrouter-private',
  ]);
  const endpoints = await until(
    'the v1 Endpoints',
    30_000,
    () =>
      kubectlJson<{ items: { subsets?: { addresses?: { ip: string }[] }[] }[] }>([
        '-n',
        vipNs,
        'get',
        'endpoints',
        '-l',
        'app.kubernetes.io/managed-by=podrouter',
      ]),
    (list) => list.items.length === 1,
  );
  assert.equal(endpoints.items[0]?.subsets?.[0]?.addresses?.[0]?.ip, router.spec.clusterIP);
  const mirrored = await until(
    'the mirrored EndpointSlice',
    30_000,
    () =>
      kubectlJson<{
        items: {
          metadata: { labels: Record<string, string> };
          endpoints?: { addresses: string[] }[];
        }[];
      }>(['-n', vipNs, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=my-app']),
    (list) =>
      list.items.some(
        (s) =>
          s.metadata.labels['endpointslice.kubernetes.io/managed-by'] ===
          'endpointslicemirroring-controller.k8s.io',
      ),
  );
  assert.deepEqual(mirrored.items[0]?.endpoints?.[0]?.addresses, [router.spec.clusterIP]);
  for (let i = 0; i < 3; i++) {
    const r = await curl(`http://my-app.${vipNs}/`, key, 3);
    assert.equal(
      r.status,
      0,
      'kube-proxy does not forward to a virtual IP: the call never connects',
    );
  }
});

test('steady state across modes: no writes', async () => {
  const writes = async () =>
    [...(await controller.metrics())].filter(([name]) => name.includes('api_writes_total'));
  const first = await writes();
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.deepEqual(await writes(), first);
});
