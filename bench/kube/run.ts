// The kube source at scale on the real test cluster (test/cluster/): 10 000 routable Pods over
// 100 namespaces (objects only, no processes: created in bulk, status written through the
// status subresource), then podrouter-public started as the ServiceAccount of
// examples/rbac/router.yaml. Measures the first sync, the router's RSS, and the latency
// from a Pod's status change (the API server's answer to the PATCH) to its route answering,
// seen by a client polling through the router. Runs itself inside the cluster's network
// namespace. Then CHURN more status changes (readiness flips of the bench Pods, 16 at a time,
// not timed) and the RSS after them. Each --variant (Node flags for the router, ',' between
// flags; "default" = none) is measured in turn against the same Pods. With --stream N, N other
// status changes a second (readiness flips of bench Pods) run while the probes are timed.
// A variant token `bin=PATH` runs another router entry point (e.g. a checkout of the previous
// commit, for a before/after in one run). --keep leaves the Pods in place; --reuse skips
// creating them (a --keep run made them), so variants can be compared again in minutes.
// Needs root. Usage: scripts/node.sh bench/kube/run.ts [--pods N] [--namespaces N]
//   [--samples N] [--churn N] [--variant default] [--variant --max-semi-space-size=4]
//   [--keep] [--reuse]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readKubeconfig } from '../../packages/core/src/kube/connection.ts';
import { kubeRequest } from '../../packages/core/src/kube/request.ts';
import {
  clusterInfo,
  ensureClusterUp,
  insideNetns,
  netnsCommand,
  run,
} from '../../test/cluster/cluster.ts';
import { routerServiceAccount } from '../../test/kube/support.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const POD_COUNT = arg('pods', 10_000);
const NS_COUNT = arg('namespaces', 100);
const SAMPLES = arg('samples', 200);
const CHURN = arg('churn', 1000);
const STREAM = arg('stream', 0);
const variants = process.argv
  .flatMap((value, index) => (process.argv[index - 1] === '--variant' ? [value] : []))
  .map((value) => (value === 'default' ? [] : value.split(',')));
if (variants.length === 0) variants.push([]);
const KEEP = process.argv.includes('--keep');
const REUSE = process.argv.includes('--reuse');
const BACKEND_IP = '10.244.250.1';
const ROOT = join(import.meta.dirname, '../..');

if (!insideNetns()) {
  await ensureClusterUp();
  const [cmd, args] = netnsCommand(process.execPath, process.argv.slice(1));
  const child = spawn(cmd, args, { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  process.exit(code ?? 1);
}

const info = clusterInfo();
const admin =
  readKubeconfig(info.adminKubeconfig) ??
  (() => {
    throw new Error('the admin kubeconfig needs client-node');
  })();
const api = async (
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  body?: unknown,
  type?: string,
) => {
  const response = await kubeRequest(admin, method, path, body, type);
  if (response.status >= 300 && response.status !== 409) {
    throw new Error(
      `${method} ${path}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`,
    );
  }
  return response;
};
const del = (path: string) =>
  run(
    join(info.binDir, 'kubectl'),
    ['--kubeconfig', info.adminKubeconfig, 'delete', '--raw', path],
    {
      allowFailure: true,
      timeoutMs: 300_000,
    },
  );

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const namespaces = Array.from(
  { length: NS_COUNT },
  (_, i) => `bench-kube-${String(i).padStart(3, '0')}`,
);
const ipOf = (i: number) => `10.244.${200 + Math.floor(i / 250)}.${(i % 250) + 1}`;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function podBody(namespace: string, name: string, host: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { routable: 'true' },
      annotations: { publicHosts: host, publicPaths: '8080:/' },
    },
    spec: {
      nodeName: info.nodeName,
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'bench:fake', ports: [{ containerPort: 8080 }] }],
    },
  };
}

function statusBody(ip: string, ready: boolean) {
  const t = now();
  const s = ready ? 'True' : 'False';
  return {
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: info.nodeIp,
      startTime: t,
      conditions: [
        { type: 'Ready', status: s, lastTransitionTime: t },
        { type: 'ContainersReady', status: s, lastTransitionTime: t },
      ],
    },
  };
}

const patchStatus = (namespace: string, name: string, ip: string, ready: boolean) =>
  api(
    'PATCH',
    `/api/v1/namespaces/${namespace}/pods/${name}/status`,
    statusBody(ip, ready),
    'application/merge-patch+json',
  );

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Math.round(Number(line?.[1] ?? 0) / 1024);
}

const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

// --- objects -------------------------------------------------------------------------------
const perNs = Math.ceil(POD_COUNT / NS_COUNT);
const all = Array.from({ length: POD_COUNT }, (_, i) => ({
  namespace: namespaces[i % NS_COUNT] as string,
  name: `pod-${String(Math.floor(i / NS_COUNT)).padStart(4, '0')}`,
  host: `p${i}.bench.example`,
  ip: ipOf(i),
}));
const started = Date.now();
if (!REUSE) await createObjects();
async function createObjects() {
  await pool(namespaces, 8, async (namespace) => {
    await api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
  });
  // The ServiceAccount admission plugin rejects Pods until each namespace's default exists.
  await pool(namespaces, 8, async (namespace) => {
    for (;;) {
      const r = await kubeRequest(
        admin,
        'GET',
        `/api/v1/namespaces/${namespace}/serviceaccounts/default`,
      );
      if (r.status === 200) return;
      await sleep(200);
    }
  });
  await pool(all, 32, async (pod) => {
    await api(
      'POST',
      `/api/v1/namespaces/${pod.namespace}/pods`,
      podBody(pod.namespace, pod.name, pod.host),
    );
  });
  const createdMs = Date.now() - started;
  await pool(all, 32, async (pod) => {
    await patchStatus(pod.namespace, pod.name, pod.ip, true);
  });
  const readyMs = Date.now() - started - createdMs;
  process.stdout.write(
    `objects: ${POD_COUNT} Pods (${perNs} per namespace, ${NS_COUNT} namespaces) created in ${(createdMs / 1000).toFixed(1)} s, Running+Ready in ${(readyMs / 1000).toFixed(1)} s\n`,
  );
}

// Probe Pods: not Ready at first, their Pod IP is a real backend.
const probes = Array.from({ length: SAMPLES }, (_, i) => ({
  namespace: namespaces[i % NS_COUNT] as string,
  name: `probe-${i}`,
  host: `probe-${i}.bench.example`,
}));
await pool(probes, 16, async (probe) => {
  await api(
    'POST',
    `/api/v1/namespaces/${probe.namespace}/pods`,
    podBody(probe.namespace, probe.name, probe.host),
  );
  await patchStatus(probe.namespace, probe.name, BACKEND_IP, false);
});
await run('ip', ['addr', 'add', `${BACKEND_IP}/32`, 'dev', 'lo'], { allowFailure: true });
const backend = spawn(process.execPath, [join(ROOT, 'test/cluster/echo-server.ts')], {
  env: {
    ...process.env,
    POD_IP: BACKEND_IP,
    PORT: '8080',
    POD_NAME: 'backend',
    POD_NAMESPACE: 'bench',
  },
  stdio: 'ignore',
});

// --- router --------------------------------------------------------------------------------
const kubeconfig = await routerServiceAccount();
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port: number, host: string, path = '/') =>
  new Promise<number>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });

async function measure(flags: readonly string[]): Promise<void> {
  await pool(probes, 16, async (probe) => {
    await patchStatus(probe.namespace, probe.name, BACKEND_IP, false);
  });
  const t0 = performance.now();
  const router: ChildProcess = spawn(
    process.execPath,
    [
      ...flags.filter((flag) => !flag.startsWith('bin=')),
      flags.find((flag) => flag.startsWith('bin='))?.slice(4) ??
        join(ROOT, 'packages/public/bin/podrouter-public.js'),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        SOURCE: 'kube',
        KUBECONFIG: kubeconfig,
        PORT: '0',
        ADMIN_PORT: '0',
        INTROSPECTION_PORT: '0',
        TLS_PORT: '',
        LISTEN_ADDRESS: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const logs: {
    msg?: string;
    port?: number;
    adminPort?: number;
    routes?: number;
    buildMs?: number;
  }[] = [];
  let buffered = '';
  router.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      logs.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
    }
  });
  let listenedAt = 0;
  let ports = { port: 0, adminPort: 0 };
  for (;;) {
    const listening = logs.find((line) => line.msg === 'listening');
    if (listening) {
      if (listenedAt === 0) {
        listenedAt = performance.now();
        ports = { port: listening.port ?? 0, adminPort: listening.adminPort ?? 0 };
      }
      if ((await get(ports.adminPort, 'admin', '/readyz')) === 200) break;
    }
    await sleep(5);
  }
  const readyAt = performance.now();
  const firstTable = logs.find((line) => line.msg === 'route table applied');
  const routes = firstTable?.routes ?? 0;
  await sleep(1000);
  const rssSynced = rssMb(router.pid as number);

  // A steady stream of other changes while the probes are timed (--stream per second).
  let streaming = STREAM > 0;
  let streamed = 0;
  const stream = (async () => {
    const started = performance.now();
    while (streaming) {
      const pod = all[(streamed * 7919) % all.length] as (typeof all)[number];
      await patchStatus(pod.namespace, pod.name, pod.ip, streamed % 2 === 1);
      streamed++;
      const due = started + (streamed * 1000) / STREAM;
      if (due > performance.now()) await sleep(due - performance.now());
    }
  })();
  const streamStarted = performance.now();
  const latencies: number[] = [];
  for (const probe of probes) {
    if ((await get(ports.port, probe.host)) !== 503)
      throw new Error(`${probe.host} not 503 before`);
    await patchStatus(probe.namespace, probe.name, BACKEND_IP, true);
    const committed = performance.now();
    for (;;) {
      if ((await get(ports.port, probe.host)) === 200) break;
    }
    latencies.push(performance.now() - committed);
  }
  streaming = false;
  await stream;
  const streamRate = (streamed * 1000) / (performance.now() - streamStarted);
  latencies.sort((a, b) => a - b);
  await sleep(1000);
  const rssAfter = rssMb(router.pid as number);
  const builds = logs
    .filter((line) => line.msg === 'route table applied')
    .slice(1)
    .map((line) => line.buildMs ?? 0)
    .sort((a, b) => a - b);
  // Churn: readiness flips of bench Pods (each Pod twice: not Ready, Ready again).
  const churned = all.slice(0, Math.ceil(CHURN / 2));
  for (const ready of [false, true]) {
    await pool(churned, 16, async (pod) => {
      await patchStatus(pod.namespace, pod.name, pod.ip, ready);
    });
  }
  await sleep(2000);
  const rssChurned = rssMb(router.pid as number);
  router.kill('SIGTERM');
  await once(router, 'exit');

  process.stdout.write(
    [
      `variant: node ${flags.join(' ') || '(no flags)'}`,
      `router start → ready (first full sync, ${routes} routes): ${Math.round(readyAt - t0)} ms (process start → listening ${Math.round(listenedAt - t0)} ms, listening → ready ${Math.round(readyAt - listenedAt)} ms; table build ${firstTable?.buildMs} ms)`,
      `router RSS: ${rssSynced} MB after the sync, ${rssAfter} MB after ${SAMPLES + streamed} status changes, ${rssChurned} MB after ${churned.length * 2} more`,
      `status change committed → route answering (${SAMPLES} samples${STREAM > 0 ? `, under ${streamRate.toFixed(1)} other changes/s` : ''}): p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms, max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`,
      `table apply per change (router's buildMs, ${builds.length} tables): p50 ${pct(builds, 50).toFixed(2)} ms, p99 ${pct(builds, 99).toFixed(2)} ms`,
      '',
    ].join('\n'),
  );
}

for (const flags of variants) await measure(flags);

// --- clean up ------------------------------------------------------------------------------
backend.kill('SIGTERM');
agent.destroy();
await run('ip', ['addr', 'del', `${BACKEND_IP}/32`, 'dev', 'lo'], { allowFailure: true });
// Without a kubelet a bound Pod is never finalized: delete them with grace period 0 first.
if (!KEEP)
  await pool(namespaces, 8, async (namespace) => {
    await del(`/api/v1/namespaces/${namespace}/pods?gracePeriodSeconds=0`);
    await del(`/api/v1/namespaces/${namespace}`);
  });
process.exit(0);
