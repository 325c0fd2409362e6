// The alias controller end to end in the real test cluster, endpointslice mode (the
// default): a client inside the cluster namespace calls http://my-app.<ns>/ — resolved by
// CoreDNS, forwarded by kube-proxy to the alias slices — and reaches the app through the real
// private router with the API key enforced. The controller runs as a ServiceAccount bound to
// exactly examples/rbac/podrouter-controller.yaml. Fails (never skips) without the cluster.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  kubectlRun,
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
  podEvents,
  RouterFleet,
  sliceIps,
  startApp,
  startController,
  suffix,
  until,
} from './support.ts';

const id = suffix();
const system = `pr-sys-${id}`;
const appNs = `my-ns-${id}`;
const otherNs = `other-${id}`;
const fleet = new RouterFleet(system);
const apps: FakePod[] = [];
let controller: ControllerProcess;
const key = { 'X-ROUTING-API-KEY': API_KEY };
const url = `http://my-app.${appNs}/hello`;

before(async () => {
  await ensureClusterUp();
  await createNamespace(system);
  await appNamespace(appNs);
  await appNamespace(otherNs);
  await fleet.createService();
  await fleet.scaleTo(1);
  apps.push(await startApp(appNs, 'my-app-1', `my-app.${appNs}`));
  const kubeconfig = await controllerServiceAccount(system);
  controller = startController({
    KUBECONFIG: kubeconfig,
    ROUTER_SERVICE: `${system}/podrouter-private`,
    LEASE_NAMESPACE: system,
    ALIAS_GRACE_PERIOD: '4s',
    POD_NAME: 'controller-a',
  });
});

after(async () => {
  const code = await controller?.stop();
  if (code !== 0 || process.env.CONTROLLER_LOG === '1')
    process.stderr.write(controller?.output() ?? '');
  for (const pod of apps) await pod.delete();
  await fleet.deleteAll();
  for (const ns of [appNs, otherNs, system]) await deleteNamespace(ns);
  await deleteClusterRbac(system);
});

test('curl http://my-app.<ns>/ goes through CoreDNS, kube-proxy and the private router, key enforced', async () => {
  const denied = await until(
    'the alias to answer (401 without the key)',
    60_000,
    () => curl(url),
    (r) => r.status === 401,
  );
  assert.equal(denied.status, 401);
  const ok = await until(
    '200 with the key',
    20_000,
    () => curl(url, key),
    (r) => r.status === 200,
  );
  assert.equal(echoPod(ok), 'my-app-1');
  for (const host of [`my-app.${appNs}.svc`, `my-app.${appNs}.svc.cluster.local`]) {
    const r = await until(
      `${host} to answer`,
      20_000,
      () => curl(`http://${host}/hello`, key),
      (x) => x.status === 200,
    );
    assert.equal(echoPod(r), 'my-app-1', host);
  }
  // A bare `my-app` (what a Pod of the namespace resolves through its search path) is mapped
  // by the caller's Pod IP, kept by kube-proxy: here the caller is the app's own Pod.
  const caller = apps[0] as FakePod;
  const bare = await curl(url, { ...key, Host: 'my-app', 'x-interface': caller.ip });
  assert.equal(bare.status, 200);
  assert.equal(echoPod(bare), 'my-app-1');
  const objects = await aliasObjects(appNs, 'my-app');
  assert.equal(objects.service?.metadata.labels?.['app.kubernetes.io/managed-by'], 'podrouter');
  assert.equal(
    objects.service?.metadata.annotations?.['podrouter.dev/claimed-by'],
    `${appNs}/my-app-1`,
  );
  assert.equal(objects.service?.spec.selector, undefined);
  assert.deepEqual(sliceIps(objects), fleet.pods.map((p) => p.ip).sort());
});

test('steady state: no API writes once converged', async () => {
  const writes = async () =>
    [...(await controller.metrics())].filter(([name]) => name.includes('api_writes_total'));
  const before = await writes();
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  assert.deepEqual(await writes(), before);
  const metrics = await controller.metrics();
  assert.equal(metrics.get('podrouter_controller_leader'), 1);
});

test('router Pods scale 1→3→1 and one turns unready: the alias slices follow, requests keep succeeding', async () => {
  await fleet.scaleTo(3);
  const three = fleet.pods.map((p) => p.ip).sort();
  await until(
    '3 router endpoints in the alias slices',
    30_000,
    async () => sliceIps(await aliasObjects(appNs, 'my-app')),
    (ips) => JSON.stringify(ips) === JSON.stringify(three),
  );
  for (let i = 0; i < 6; i++) assert.equal((await curl(url, key)).status, 200);
  const unready = fleet.pods[1] as FakePod;
  await unready.setReady(false);
  const two = fleet.pods
    .filter((p) => p !== unready)
    .map((p) => p.ip)
    .sort();
  await until(
    'the unready router endpoint to leave the alias slices',
    30_000,
    async () => sliceIps(await aliasObjects(appNs, 'my-app')),
    (ips) => JSON.stringify(ips) === JSON.stringify(two),
  );
  for (let i = 0; i < 6; i++) assert.equal((await curl(url, key)).status, 200);
  await fleet.scaleTo(1);
  const one = fleet.pods.map((p) => p.ip);
  await until(
    '1 router endpoint',
    30_000,
    async () => sliceIps(await aliasObjects(appNs, 'my-app')),
    (ips) => JSON.stringify(ips) === JSON.stringify(one),
  );
  await until(
    'requests to succeed on one router',
    20_000,
    () => curl(url, key),
    (r) => r.status === 200,
  );
  for (let i = 0; i < 6; i++) assert.equal((await curl(url, key)).status, 200);
});

test('an alias object deleted or edited by hand is repaired', async () => {
  const before = await aliasObjects(appNs, 'my-app');
  const slice = before.slices[0]?.metadata.name as string;
  await kubectl([
    '-n',
    appNs,
    'patch',
    'endpointslice',
    slice,
    '--type=merge',
    '-p',
    JSON.stringify({ endpoints: [{ addresses: ['10.244.250.250'], conditions: { ready: true } }] }),
  ]);
  await until(
    'the edited slice repaired',
    20_000,
    async () => sliceIps(await aliasObjects(appNs, 'my-app')),
    (ips) => JSON.stringify(ips) === JSON.stringify(fleet.pods.map((p) => p.ip)),
  );
  await kubectl(['-n', appNs, 'delete', 'service', 'my-app', '--wait=true']);
  await until(
    'the deleted Service re-created',
    20_000,
    () => aliasObjects(appNs, 'my-app'),
    (o) => o.service !== undefined && o.service.metadata.uid !== before.service?.metadata.uid,
  );
  await until(
    'the alias to answer again',
    30_000,
    () => curl(url, key),
    (r) => r.status === 200,
  );
});

test('a user-owned Service with the alias name is left untouched and reported', async () => {
  await kubectl(['-n', appNs, 'create', 'service', 'clusterip', 'taken', '--tcp=80:8080']);
  const user = await aliasObjects(appNs, 'taken');
  apps.push(await startApp(appNs, 'taker', `taken.${appNs}`));
  await until(
    'an AliasClash Event on the claiming Pod',
    30_000,
    () => podEvents(appNs, 'taker'),
    (events) =>
      events.some((e) => e.startsWith('AliasClash: ') && e.includes('not managed by podrouter')),
  );
  const after = await aliasObjects(appNs, 'taken');
  assert.equal(after.service?.metadata.uid, user.service?.metadata.uid);
  assert.equal(after.service?.metadata.labels?.['app.kubernetes.io/managed-by'], undefined);
  assert.deepEqual(after.service?.spec.ports, user.service?.spec.ports);
  assert.equal(after.slices.length, 0);
  const metrics = await controller.metrics();
  assert.ok((metrics.get('podrouter_controller_claim_problems{kind="clash"}') ?? 0) >= 1);
});

test('a cross-namespace claim is refused, then allowed by the target namespace annotation', async () => {
  apps.push(await startApp(otherNs, 'cross', `cross-app.${appNs}`));
  await until(
    'an AliasRefused Event',
    30_000,
    () => podEvents(otherNs, 'cross'),
    (events) =>
      events.some(
        (e) =>
          e.startsWith('AliasRefused: ') &&
          e.includes(`does not accept aliases claimed from namespace ${otherNs}`),
      ),
  );
  assert.equal((await aliasObjects(appNs, 'cross-app')).service, undefined);
  await kubectl(['annotate', 'namespace', appNs, `podrouter.dev/allow-aliases-from=${otherNs}`]);
  await until(
    'the cross-namespace alias created',
    30_000,
    () => aliasObjects(appNs, 'cross-app'),
    (o) => o.service !== undefined,
  );
  const r = await until(
    'the cross-namespace alias to answer',
    30_000,
    () => curl(`http://cross-app.${appNs}/`, key),
    (x) => x.status === 200,
  );
  assert.equal(echoPod(r), 'cross');
});

test('a claim released → the alias is deleted after the grace period, not before', async () => {
  apps.push(await startApp(appNs, 'brief', `brief.${appNs}`));
  await until(
    'the alias created',
    30_000,
    () => aliasObjects(appNs, 'brief'),
    (o) => o.service !== undefined && o.slices.length === 1,
  );
  await (apps.pop() as FakePod).delete();
  const marked = await until(
    'the alias marked unclaimed',
    20_000,
    () => aliasObjects(appNs, 'brief'),
    (o) => o.service?.metadata.annotations?.['podrouter.dev/unclaimed-since'] !== undefined,
  );
  const since = Date.parse(
    marked.service?.metadata.annotations?.['podrouter.dev/unclaimed-since'] as string,
  );
  await until(
    'the alias deleted',
    30_000,
    () => aliasObjects(appNs, 'brief'),
    (o) => o.service === undefined && o.slices.length === 0,
  );
  assert.ok(Date.now() - since >= 4_000, 'deleted only after the 4 s grace period');
});

test('the ServiceAccount holds exactly the documented rights', async () => {
  const sa = `system:serviceaccount:${system}:podrouter-controller`;
  const can = async (...args: string[]) =>
    (
      await kubectlRun(['auth', 'can-i', ...args, `--as=${sa}`], { allowFailure: true })
    ).stdout.trim();
  assert.equal(await can('patch', 'services', '-n', appNs), 'yes');
  assert.equal(await can('create', 'endpointslices.discovery.k8s.io', '-n', appNs), 'yes');
  assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', system), 'yes');
  assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', appNs), 'no');
  assert.equal(await can('list', 'secrets', '-A'), 'no');
  assert.equal(await can('update', 'services', '-n', appNs), 'no');
  assert.equal(await can('delete', 'pods', '-n', appNs), 'no');
  assert.doesNotMatch(controller.output(), /forbidden/i);
});
