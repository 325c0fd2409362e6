// Helpers of the controller's cluster suites: a real private router running as fake-kubelet
// Pods behind its Service, the controller as a real process inside the cluster namespace
// (by default under the ServiceAccount bound to exactly examples/rbac/podrouter-controller.yaml),
// and curl from inside the namespace, resolving through CoreDNS and forwarded by kube-proxy.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import {
  adminKubeconfigPath,
  apply,
  kubectl,
  kubectlJson,
  runInNetns,
  serviceAccountKubeconfig,
  spawnInNetns,
  waitFor,
} from '../cluster/cluster.ts';
import { type FakePod, startFakePod } from '../cluster/fake-kubelet.ts';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const controllerBin = join(repo, 'packages', 'controller', 'bin', 'podrouter-controller.js');
const privateBin = join(repo, 'packages', 'private', 'bin', 'podrouter-private.js');

export const API_KEY = 'the-private-key';

export const suffix = () => randomBytes(3).toString('hex');

export interface HttpResult {
  status: number;
  body: string;
}

/** curl inside the namespace, as a Pod would; status 0 when it did not connect. */
export async function curl(
  url: string,
  headers: Record<string, string> = {},
  maxTime = 3,
): Promise<HttpResult> {
  const args = ['-sS', '--max-time', String(maxTime), '-o', '-', '-w', '\n%{http_code}', url];
  for (const [name, value] of Object.entries(headers)) {
    // Not a header: the source address to call from (a fake Pod's IP).
    if (name === 'x-interface') args.push('--interface', value);
    else args.push('-H', `${name}: ${value}`);
  }
  const r = await runInNetns('curl', args, { allowFailure: true, timeoutMs: (maxTime + 5) * 1000 });
  const cut = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(cut + 1)) || 0;
  return { status: r.code === 0 ? status : 0, body: r.stdout.slice(0, Math.max(0, cut)) };
}

/** The Pod name an echo backend reports, or undefined. */
export function echoPod(result: HttpResult): string | undefined {
  try {
    return (JSON.parse(result.body) as { pod?: string }).pod;
  } catch {
    return undefined;
  }
}

export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
): Promise<T> {
  let last: T | undefined;
  try {
    await waitFor(
      what,
      timeoutMs,
      async () => {
        last = await probe();
        return ok(last);
      },
      300,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
  return last as T;
}

/** The private router: a Service (port 80 → 81) and router Pods running the real build. */
export class RouterFleet {
  readonly namespace: string;
  readonly pods: FakePod[] = [];
  #next = 0;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  async createService(): Promise<void> {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'podrouter-private', namespace: this.namespace },
        spec: {
          selector: { app: 'podrouter-private' },
          ports: [{ name: 'http', port: 80, targetPort: 81, protocol: 'TCP' }],
        },
      },
    ]);
  }

  async scaleTo(count: number): Promise<void> {
    while (this.pods.length < count) {
      const pod = await startFakePod({
        namespace: this.namespace,
        name: `podrouter-private-${this.#next++}`,
        labels: { app: 'podrouter-private' },
        port: 81,
        // Fake Pods share the namespace's loopback, where each router's introspection
        // listener binds (a real Pod has its own): a port of its own each.
        command: [
          'bash',
          '-c',
          `LISTEN_ADDRESS="$POD_IP" INTROSPECTION_PORT=0 exec "${process.execPath}" "${privateBin}"`,
        ],
        startTimeoutMs: 30_000,
      });
      this.pods.push(pod);
    }
    while (this.pods.length > count) await this.pods.pop()?.delete();
  }

  async deleteAll(): Promise<void> {
    await this.scaleTo(0);
  }
}

/** Runs the router processes with the admin kubeconfig (their RBAC is not under test here). */
process.env.KUBECONFIG ??= adminKubeconfigPath();
process.env.SHUTDOWN_DELAY ??= '0';
process.env.LOG_LEVEL ??= 'warn';

export async function appNamespace(
  namespace: string,
  annotations: Record<string, string> = {},
): Promise<void> {
  await apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, annotations } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'routing', namespace },
      stringData: { 'private-api-key': API_KEY },
    },
  ]);
  await waitFor(
    `ServiceAccount ${namespace}/default`,
    30_000,
    async () =>
      (
        await kubectl(['-n', namespace, 'get', 'serviceaccount', 'default', '--ignore-not-found'])
      ).trim() !== '',
  );
}

export function startApp(
  namespace: string,
  name: string,
  hosts: string,
  extra: Record<string, string> = {},
): Promise<FakePod> {
  return startFakePod({
    namespace,
    name,
    labels: { routable: 'true', ...extra },
    annotations: { privateHosts: hosts, privatePaths: '8080:/' },
  });
}

/** Binds exactly the documented RBAC to a ServiceAccount in `namespace`; returns its kubeconfig. */
export async function controllerServiceAccount(namespace: string): Promise<string> {
  const text = readFileSync(join(repo, 'examples', 'rbac', 'podrouter-controller.yaml'), 'utf8');
  interface RbacObject {
    kind: string;
    metadata: { name: string; namespace?: string };
    roleRef?: { name: string };
    subjects?: { namespace?: string }[];
  }
  const objects = parseAllDocuments(text).map((doc) => doc.toJSON() as RbacObject);
  for (const object of objects) {
    if (object.metadata.namespace) object.metadata.namespace = namespace;
    if (object.kind.startsWith('Cluster'))
      object.metadata.name = `${object.metadata.name}-${namespace}`;
    if (object.kind === 'ClusterRoleBinding' && object.roleRef)
      object.roleRef.name = `${object.roleRef.name}-${namespace}`;
    for (const subject of object.subjects ?? []) subject.namespace = namespace;
  }
  await apply(objects);
  return serviceAccountKubeconfig(namespace, 'podrouter-controller', { create: false });
}

export async function deleteClusterRbac(namespace: string): Promise<void> {
  await kubectl(
    [
      'delete',
      `clusterrole/podrouter-controller-${namespace}`,
      `clusterrolebinding/podrouter-controller-${namespace}`,
      '--ignore-not-found',
    ],
    { allowFailure: true },
  );
}

export interface ControllerProcess {
  readonly process: ChildProcess;
  readonly adminPort: number;
  output(): string;
  metrics(): Promise<Map<string, number>>;
  /** Sum of podrouter_controller_api_writes_total over kinds and verbs. */
  writes(): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startController(env: Record<string, string>): ControllerProcess {
  const adminPort = randomInt(20_000, 40_000);
  let output = '';
  const child = spawnInNetns(process.execPath, [controllerBin], {
    env: {
      PATH: process.env.PATH,
      ADMIN_PORT: String(adminPort),
      LISTEN_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const metrics = async () => {
    const r = await runInNetns(
      'curl',
      ['-sS', '--max-time', '2', `http://127.0.0.1:${adminPort}/metrics`],
      { allowFailure: true },
    );
    const values = new Map<string, number>();
    for (const line of r.stdout.split('\n')) {
      const match = /^(\S+) (\S+)$/.exec(line);
      if (match) values.set(match[1] as string, Number(match[2]));
    }
    return values;
  };
  return {
    process: child,
    adminPort,
    output: () => output,
    metrics,
    async writes() {
      let total = 0;
      for (const [name, value] of await metrics()) {
        if (name.startsWith('podrouter_controller_api_writes_total')) total += value;
      }
      return total;
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve(child.exitCode);
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(kill);
          resolve(code);
        });
        child.kill(signal);
      });
    },
  };
}

export interface AliasObjects {
  service?: {
    metadata: {
      uid: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    };
    spec: {
      type?: string;
      externalName?: string;
      selector?: Record<string, string>;
      ports?: unknown[];
    };
  };
  slices: {
    metadata: { name: string; labels?: Record<string, string> };
    endpoints?: { addresses: string[] }[];
  }[];
}

export async function aliasObjects(namespace: string, name: string): Promise<AliasObjects> {
  const services = await kubectlJson<{ items: AliasObjects['service'][] }>([
    '-n',
    namespace,
    'get',
    'services',
    `--field-selector=metadata.name=${name}`,
  ]);
  const slices = await kubectlJson<{ items: AliasObjects['slices'] }>([
    '-n',
    namespace,
    'get',
    'endpointslices',
    '-l',
    `kubernetes.io/service-name=${name},endpointslice.kubernetes.io/managed-by=controller.podrouter.dev`,
  ]);
  const service = services.items[0];
  return { ...(service ? { service } : {}), slices: slices.items };
}

export const sliceIps = (objects: AliasObjects) =>
  objects.slices
    .flatMap((slice) => (slice.endpoints ?? []).flatMap((endpoint) => endpoint.addresses))
    .sort();

export async function podEvents(namespace: string, pod: string): Promise<string[]> {
  const events = await kubectlJson<{
    items: { reason: string; note?: string; regarding?: { name: string } }[];
  }>(['-n', namespace, 'get', 'events.events.k8s.io']);
  return events.items
    .filter((e) => e.regarding?.name === pod)
    .map((e) => `${e.reason}: ${e.note ?? ''}`);
}
