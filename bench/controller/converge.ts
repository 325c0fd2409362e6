// Benchmark: 1000 aliases claimed across 100 namespaces, controller started cold against the
// real test cluster (endpointslice mode, leader election on). Measures the time from the
// process start to the last write of convergence, the API writes it took, and the writes in
// the 60 s after convergence (the aim is exactly 0). Pods are API objects only (a claim needs
// no running Pod); the router Service is selector-less with a hand-made EndpointSlice.
//   scripts/node.sh bench/controller/converge.ts   (root; starts the test cluster if needed)
// CONCURRENT_RECONCILES is passed on to the controller (A/B of the worker count).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  adminKubeconfigPath,
  apply,
  clusterInfo,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  waitFor,
} from '../../test/cluster/cluster.ts';
import { repo, startController } from '../../test/controller/support.ts';

const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 100);
const PER_NAMESPACE = Number(process.env.BENCH_ALIASES_PER_NAMESPACE ?? 10);
const QUIET_MS = Number(process.env.BENCH_QUIET_MS ?? 60_000);
const id = randomBytes(2).toString('hex');
const system = `bench-sys-${id}`;
const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${id}-${i}`);
const total = NAMESPACES * PER_NAMESPACE;

await ensureClusterUp();
const objects: object[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: system } },
  ...namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
];
await apply(objects);
await apply([
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'podrouter-private', namespace: system },
    spec: { ports: [{ name: 'http', port: 80, targetPort: 81, protocol: 'TCP' }] },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'podrouter-private-1',
      namespace: system,
      labels: { 'kubernetes.io/service-name': 'podrouter-private' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 81, protocol: 'TCP' }],
    endpoints: ['10.244.200.1', '10.244.200.2', '10.244.200.3'].map((ip) => ({
      addresses: [ip],
      conditions: { ready: true },
    })),
  },
]);
for (const name of namespaces) {
  await waitFor(
    `ServiceAccount ${name}/default`,
    60_000,
    async () =>
      (
        await kubectl(['-n', name, 'get', 'serviceaccount', 'default', '--ignore-not-found'])
      ).trim() !== '',
  );
}
await apply(
  namespaces.map((namespace) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'claimer',
      namespace,
      labels: { routable: 'true' },
      annotations: {
        privateHosts: Array.from({ length: PER_NAMESPACE }, (_, i) => `app-${i}.${namespace}`).join(
          ' ',
        ),
        privatePaths: '8080:/',
      },
    },
    spec: {
      containers: [{ name: 'app', image: 'podrouter.test/none', ports: [{ containerPort: 8080 }] }],
    },
  })),
);

/** CPU seconds (utime + stime) of a process, 0 once it is gone. */
const cpuOf = (pid: number | string) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
};
/** CPU seconds of this cluster's control plane (kube-apiserver, etcd, controller-manager,
 * kube-proxy, CoreDNS: the processes started from its directory), by program. */
const clusterCpu = () => {
  const byName: Record<string, number> = {};
  for (const pid of readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.startsWith(`${clusterInfo().binDir}/`)) continue;
    const name = cmdline.split('\0')[0]?.split('/').pop() ?? '?';
    byName[name] = (byName[name] ?? 0) + cpuOf(pid);
  }
  return byName;
};
const clusterCpuBefore = clusterCpu();
const started = Date.now();
const controller = startController({
  KUBECONFIG: adminKubeconfigPath(),
  ROUTER_SERVICE: `${system}/podrouter-private`,
  LEASE_NAMESPACE: system,
  LOG_LEVEL: 'info',
  ...(process.env.CONCURRENT_RECONCILES
    ? { CONCURRENT_RECONCILES: process.env.CONCURRENT_RECONCILES }
    : {}),
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of the controller there.
  ...(process.env.BENCH_CPU_PROF
    ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROF}` }
    : {}),
});
const count = async (resource: string, selector: string) =>
  (
    await kubectl([
      'get',
      resource,
      '-A',
      '-l',
      selector,
      '-o',
      'custom-columns=NS:.metadata.namespace',
      '--no-headers',
    ])
  )
    .split('\n')
    .filter((ns) => ns.startsWith(`bench-${id}-`)).length;
let services = 0;
let slices = 0;
await waitFor(
  'convergence',
  300_000,
  async () => {
    const metrics = await controller.metrics();
    const aliases = metrics.get('podrouter_controller_aliases{mode="endpointslice"}') ?? 0;
    if (aliases < total || (metrics.get('podrouter_controller_queue_depth') ?? 1) > 0) return false;
    services = await count('services', 'app.kubernetes.io/managed-by=podrouter');
    slices = await count(
      'endpointslices',
      'endpointslice.kubernetes.io/managed-by=controller.podrouter.dev',
    );
    return services >= total && slices >= total;
  },
  250,
);
const writeTimes = controller
  .output()
  .split('\n')
  .filter((line) => line.includes('"alias reconciled"'))
  .map((line) => Date.parse((JSON.parse(line) as { time: string }).time));
const convergedAt = Math.max(...writeTimes);
const firstWriteAt = Math.min(...writeTimes);
const cpuAtConvergence = cpuOf(controller.process.pid as number);
const clusterCpuAtConvergence = Object.fromEntries(
  Object.entries(clusterCpu()).map(([name, cpu]) => [
    name,
    Math.round((cpu - (clusterCpuBefore[name] ?? 0)) * 10) / 10,
  ]),
);
const writesAtConvergence = await controller.writes();
await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
const writesAfter = (await controller.writes()) - writesAtConvergence;
const metrics = await controller.metrics();
const reconciles = [...metrics].filter(([name]) =>
  name.startsWith('podrouter_controller_reconciles_total'),
);
await controller.stop();

const result = {
  date: new Date().toISOString(),
  aliases: total,
  namespaces: NAMESPACES,
  routerEndpoints: 3,
  convergeSeconds: Math.round((convergedAt - started) / 100) / 10,
  /** Process start → first alias written (start-up, cache sync, Lease), then the writes. */
  firstWriteSeconds: Math.round((firstWriteAt - started) / 100) / 10,
  writingSeconds: Math.round((convergedAt - firstWriteAt) / 100) / 10,
  concurrentReconciles: Number(process.env.CONCURRENT_RECONCILES ?? 16),
  controllerCpuSeconds: cpuAtConvergence,
  /** The control plane's CPU from the controller's start to convergence: on a shared
   * machine, the controller's writes compete with it for the same cores. */
  clusterCpuSeconds: clusterCpuAtConvergence,
  loadAverage1m: loadavg()[0],
  cpus: cpus().length,
  apiWrites: writesAtConvergence,
  writesInQuietWindow: writesAfter,
  quietWindowSeconds: QUIET_MS / 1000,
  services,
  slices,
  reconciles: Object.fromEntries(reconciles),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  join(repo, 'bench', 'controller', 'results.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
for (const name of [...namespaces, system]) await deleteNamespace(name);
