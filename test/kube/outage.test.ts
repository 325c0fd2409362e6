// kube-apiserver goes away for 30 s: both routers keep serving the last good table and stay
// ready, then their watches reconnect and a change made right after the restart is routed
// within seconds. This suite stops the cluster's API server: run it on its own, never next
// to other cluster suites. Fails, never skips, when the cluster cannot be had (root needed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  clusterInfo,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  run,
} from '../cluster/cluster.ts';
import { type FakePod, startFakePod } from '../cluster/fake-kubelet.ts';
import {
  annotate,
  BUILDS,
  type KubeRouter,
  NetnsClient,
  podOf,
  routeAnnotations,
  routerServiceAccount,
  startKubeRouter,
} from './support.ts';

const runId = randomBytes(3).toString('hex');
const ns = `kube-outage-${runId}`;
const steady = `steady.${runId}.example`;
const late = `late.${runId}.example`;
const routers: KubeRouter[] = [];
let pod: FakePod | undefined;
let client: NetnsClient;
const apiserver = (verb: 'stop' | 'start') =>
  run('bash', [join(clusterInfo().scriptsDir, 'apiserver.sh'), verb], { timeoutMs: 180_000 });

before(async () => {
  await ensureClusterUp();
  const kubeconfig = await routerServiceAccount();
  await createNamespace(ns);
  client = new NetnsClient();
  pod = await startFakePod({
    namespace: ns,
    name: 'steady',
    labels: { routable: 'true' },
    annotations: routeAnnotations(steady, '8080:/'),
  });
  for (const build of BUILDS) routers.push(await startKubeRouter(build, client, kubeconfig));
  for (const router of routers) {
    await router.until('the Pod routed', steady, '/', (answer) => podOf(answer) === 'steady');
  }
});

after(async () => {
  // Whatever happened, leave the API server running for whoever comes next.
  await apiserver('start');
  await Promise.all(routers.map((router) => router.stop()));
  await pod?.delete();
  await deleteNamespace(ns);
  await client?.close();
});

test('serves throughout a 30 s API server outage and catches up after it', async () => {
  const failures: string[] = [];
  let requests = 0;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      for (const router of routers) {
        const [answer, ready] = await Promise.all([
          router.get(steady, '/'),
          router.admin('/readyz'),
        ]);
        requests++;
        if (podOf(answer) !== 'steady') failures.push(`${router.build.tier}: ${answer.status}`);
        if (ready.status !== 200) failures.push(`${router.build.tier} /readyz: ${ready.status}`);
      }
      await sleep(100);
    }
  })();

  await apiserver('stop');
  const stoppedAt = Date.now();
  await sleep(30_000);
  for (const router of routers) {
    assert.ok(
      router.logs.some((line) => /watch .* failed/.test(String(line.msg))),
      `${router.build.tier} reported the lost watch`,
    );
  }
  await apiserver('start');
  const restartedAt = Date.now();
  await annotate(ns, 'steady', routeAnnotations(`${steady} ${late}`, '8080:/'));
  const changedAt = Date.now();
  for (const router of routers) {
    await router.until(
      'the change made after the restart',
      late,
      '/',
      (answer) => podOf(answer) === 'steady',
      {},
      20_000,
    );
  }
  const caughtUpMs = Date.now() - changedAt;
  probing = false;
  await probe;

  assert.deepEqual(failures, [], `${failures.length} failed of ${requests}`);
  assert.ok(requests > 100, `only ${requests} requests during the outage`);
  assert.ok(restartedAt - stoppedAt >= 30_000);
  assert.ok(caughtUpMs < 15_000, `the change took ${caughtUpMs} ms to be routed`);
  process.stdout.write(
    `# outage: ${requests} requests, none failed; change routed ${caughtUpMs} ms after it was made\n`,
  );
});
