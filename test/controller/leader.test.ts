// Two controller replicas on one Lease in the real cluster: one leads, the other makes no API
// write; the leader killed mid-way (SIGKILL, no release) → the other takes over within the
// lease duration and converges with no duplicate objects; a clean stop releases the Lease.
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
  appNamespace,
  type ControllerProcess,
  controllerServiceAccount,
  deleteClusterRbac,
  RouterFleet,
  startApp,
  startController,
  suffix,
  until,
} from './support.ts';

const id = suffix();
const system = `pr-sys-${id}`;
const appNs = `lead-${id}`;
const fleet = new RouterFleet(system);
const apps: FakePod[] = [];
const replicas: ControllerProcess[] = [];
const LEASE = { LEASE_DURATION: '6s', LEASE_RENEW_DEADLINE: '4s', LEASE_RETRY_PERIOD: '1s' };

interface Listed {
  items: { metadata: { name: string; labels?: Record<string, string> } }[];
}

const managed = async () => {
  const services = await kubectlJson<Listed>([
    '-n',
    appNs,
    'get',
    'services',
    '-l',
    'app.kubernetes.io/managed-by=podrouter',
  ]);
  const slices = await kubectlJson<Listed>([
    '-n',
    appNs,
    'get',
    'endpointslices',
    '-l',
    'endpointslice.kubernetes.io/managed-by=controller.podrouter.dev',
  ]);
  return {
    services: services.items.map((s) => s.metadata.name).sort(),
    slices: slices.items.map((s) => s.metadata.labels?.['kubernetes.io/service-name'] ?? '').sort(),
  };
};

const leaderOf = async () => {
  const flags = await Promise.all(
    replicas.map(async (r) => (await r.metrics()).get('podrouter_controller_leader')),
  );
  return flags.map((flag, i) => (flag === 1 ? i : -1)).filter((i) => i >= 0);
};

before(async () => {
  await ensureClusterUp();
  await createNamespace(system);
  await appNamespace(appNs);
  await fleet.createService();
  await fleet.scaleTo(1);
  const kubeconfig = await controllerServiceAccount(system);
  for (const name of ['replica-a', 'replica-b']) {
    replicas.push(
      startController({
        KUBECONFIG: kubeconfig,
        ROUTER_SERVICE: `${system}/podrouter-private`,
        LEASE_NAMESPACE: system,
        POD_NAME: name,
        ...LEASE,
      }),
    );
  }
});

after(async () => {
  for (const replica of replicas) {
    const code = await replica.stop();
    if ((code !== 0 && code !== null) || process.env.CONTROLLER_LOG === '1')
      process.stderr.write(replica.output());
  }
  for (const pod of apps) await pod.delete();
  await fleet.deleteAll();
  for (const ns of [appNs, system]) await deleteNamespace(ns);
  await deleteClusterRbac(system);
});

test('one replica leads; the other makes no API write', async () => {
  const leaders = await until('exactly one leader', 30_000, leaderOf, (l) => l.length === 1);
  apps.push(await startApp(appNs, 'first', `first.${appNs}`));
  await until(
    'the alias created',
    30_000,
    managed,
    (m) => m.services.includes('first') && m.slices.includes('first'),
  );
  const follower = replicas[1 - (leaders[0] as number)] as ControllerProcess;
  const leader = replicas[leaders[0] as number] as ControllerProcess;
  assert.equal(await follower.writes(), 0);
  assert.ok((await leader.writes()) >= 2);
  assert.deepEqual(await leaderOf(), leaders);
});

test('the leader killed mid-way → the other takes over within the lease duration and converges without duplicates', async () => {
  const [index] = await leaderOf();
  const leader = replicas[index as number] as ControllerProcess;
  const other = replicas[1 - (index as number)] as ControllerProcess;
  const hosts = Array.from({ length: 20 }, (_, i) => `svc-${i}.${appNs}`);
  apps.push(await startApp(appNs, 'many', hosts.join(' ')));
  await until('the leader to start writing the new aliases', 30_000, managed, (m) =>
    m.services.some((s) => s.startsWith('svc-')),
  );
  await leader.stop('SIGKILL');
  const killedAt = Date.now();
  await until(
    'the other replica to lead',
    15_000,
    async () => (await other.metrics()).get('podrouter_controller_leader'),
    (flag) => flag === 1,
  );
  const takeover = Date.now() - killedAt;
  assert.ok(takeover <= 6_000 + 2_000, `took over in ${takeover} ms (lease 6 s, retry 1 s)`);
  const expected = ['first', ...hosts.map((h) => h.split('.')[0] as string)].sort();
  const converged = await until(
    'all aliases, once each',
    30_000,
    managed,
    (m) => JSON.stringify(m.services) === JSON.stringify(expected),
  );
  assert.deepEqual(converged.slices, expected, 'one slice per alias, no duplicates');
});

test('a clean stop releases the Lease', async () => {
  const [index] = await leaderOf();
  const leader = replicas[index as number] as ControllerProcess;
  assert.equal(await leader.stop('SIGTERM'), 0);
  const lease = await kubectlJson<{ spec: { holderIdentity?: string } }>([
    '-n',
    system,
    'get',
    'lease',
    'podrouter-controller',
  ]);
  assert.equal(lease.spec.holderIdentity ?? '', '');
});
