// Both router builds run against the real test cluster (test/cluster/), inside its network
// namespace, with SOURCE=kube and the kubeconfig of a ServiceAccount bound by exactly
// examples/rbac/router.yaml. Clients talk to them from inside the namespace too.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apply,
  kubectl,
  kubectlJson,
  serviceAccountKubeconfig,
  spawnInNetns,
  waitFor,
} from '../cluster/cluster.ts';
import { BUILDS, type BuildUnderTest, ROOT } from '../support/harness.ts';

export { BUILDS, type BuildUnderTest, ROOT };

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly error?: string;
}

/** An HTTP client living inside the namespace (see netns-client.ts). */
export class NetnsClient {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (answer: Answer) => void>();
  #next = 0;

  constructor() {
    this.#child = spawnInNetns(process.execPath, [join(import.meta.dirname, 'netns-client.ts')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buffered = '';
    this.#child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const answer = JSON.parse(buffered.slice(0, nl)) as Answer & { id: number };
        buffered = buffered.slice(nl + 1);
        this.#waiting.get(answer.id)?.(answer);
        this.#waiting.delete(answer.id);
      }
    });
  }

  request(
    port: number,
    host: string,
    path = '/',
    headers: Record<string, string> = {},
    address = '127.0.0.1',
  ): Promise<Answer> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin?.write(`${JSON.stringify({ id, address, port, host, path, headers })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.stdin?.end();
    await exited;
  }
}

export interface LogLine {
  readonly msg?: string;
  readonly level?: string;
  readonly [key: string]: unknown;
}

export interface KubeRouter {
  readonly build: BuildUnderTest;
  readonly port: number;
  readonly adminPort: number;
  readonly logs: LogLine[];
  readonly child: ChildProcess;
  stderr(): string;
  /** A request through this router, sent from inside the namespace. */
  get(host: string, path?: string, headers?: Record<string, string>): Promise<Answer>;
  admin(path: string): Promise<Answer>;
  /** Polls `get` until `accept` holds; returns the last answer. */
  until(
    what: string,
    host: string,
    path: string,
    accept: (answer: Answer) => boolean,
    headers?: Record<string, string>,
    timeoutMs?: number,
  ): Promise<Answer>;
  stop(): Promise<number | null>;
}

/** Which Pod answered (echo-server.ts answers JSON naming its Pod). */
export function podOf(answer: Answer): string | undefined {
  if (answer.status !== 200) return undefined;
  try {
    return (JSON.parse(answer.body) as { pod?: string }).pod;
  } catch {
    return undefined;
  }
}

function routerEnv(kubeconfig: string, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    SOURCE: 'kube',
    KUBECONFIG: kubeconfig,
    PORT: '0',
    ADMIN_PORT: '0',
    TLS_PORT: '',
    INTROSPECTION_PORT: '0',
    LISTEN_ADDRESS: '127.0.0.1',
    SHUTDOWN_DELAY: '0',
    LOG_LEVEL: 'debug',
    // `WORKERS=2 scripts/node.sh --test test/kube/…` runs a suite with worker processes.
    WORKERS: process.env.WORKERS ?? '1',
    ...env,
  };
}

/** Starts `build` inside the namespace and waits until /readyz says ready. */
export async function startKubeRouter(
  build: BuildUnderTest,
  client: NetnsClient,
  kubeconfig: string,
  env: Record<string, string> = {},
  command: readonly string[] = [process.execPath, build.bin],
): Promise<KubeRouter> {
  const [cmd = process.execPath, ...args] = command;
  const child = spawnInNetns(cmd, args, {
    env: routerEnv(kubeconfig, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(text) as LogLine);
      } catch {
        logs.push({ msg: text });
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const alive = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${build.tier} router exited (${child.exitCode ?? child.signalCode}): ${stderr}`,
      );
    }
  };
  let listening: LogLine | undefined;
  await waitFor(`${build.tier} router to listen`, 20_000, async () => {
    alive();
    // Workers log their own `listening` (with their `worker` id); the primary's has the ports.
    listening = logs.find((line) => line.msg === 'listening' && line.worker === undefined);
    return listening !== undefined;
  });
  const port = listening?.port as number;
  const adminPort = listening?.adminPort as number;
  const introspectionPort = listening?.introspectionPort as number;
  const router: KubeRouter = {
    build,
    port,
    adminPort,
    logs,
    child,
    stderr: () => stderr,
    get: (host, path = '/', headers = {}) => client.request(port, host, path, headers),
    // `/routes` lives on the loopback introspection listener, the probes on the admin one.
    admin: (path) =>
      client.request(path.startsWith('/routes') ? introspectionPort : adminPort, 'admin', path),
    async until(what, host, path, accept, headers = {}, timeoutMs = 20_000) {
      let last: Answer = { status: 0, body: '' };
      try {
        await waitFor(`${build.tier}: ${what}`, timeoutMs, async () => {
          alive();
          last = await client.request(port, host, path, headers);
          return accept(last);
        });
      } catch (error) {
        throw new Error(
          `${(error as Error).message}; last answer ${last.status} ${last.body.slice(0, 300)}`,
        );
      }
      return last;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
  await waitFor(`${build.tier} router to be ready`, 20_000, async () => {
    alive();
    return (await router.admin('/readyz')).status === 200;
  });
  return router;
}

/** Runs `build` until it exits by itself (start-up failures); kills it after `timeoutMs`. */
export async function runRouterToExit(
  build: BuildUnderTest,
  kubeconfig: string,
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawnInNetns(process.execPath, [build.bin], {
    env: routerEnv(kubeconfig, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr, stdout };
}

export const RBAC_YAML = join(ROOT, 'examples/rbac/router.yaml');

/** Applies examples/rbac/router.yaml as it is and returns its ServiceAccount's kubeconfig. */
export async function routerServiceAccount(): Promise<string> {
  await apply(readFileSync(RBAC_YAML, 'utf8'));
  return serviceAccountKubeconfig('podrouter-system', 'podrouter-router', { create: false });
}

export interface KubeEvent {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly regarding?: { readonly name?: string; readonly uid?: string; readonly kind?: string };
  readonly reason?: string;
  readonly note?: string;
  readonly type?: string;
  readonly reportingController?: string;
  readonly series?: { readonly count: number };
}

export async function eventsIn(namespace: string): Promise<KubeEvent[]> {
  const list = await kubectlJson<{ items: KubeEvent[] }>([
    '-n',
    namespace,
    'get',
    'events.v1.events.k8s.io',
  ]);
  return list.items;
}

/** Waits for an Event on Pod `pod` matching `accept`. */
export async function waitForEvent(
  namespace: string,
  pod: string,
  accept: (event: KubeEvent) => boolean,
  timeoutMs = 20_000,
): Promise<KubeEvent> {
  let found: KubeEvent | undefined;
  let seen: KubeEvent[] = [];
  try {
    await waitFor(`an Event on Pod ${namespace}/${pod}`, timeoutMs, async () => {
      seen = (await eventsIn(namespace)).filter((event) => event.regarding?.name === pod);
      found = seen.find(accept);
      return found !== undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; Events seen: ${JSON.stringify(seen)}`);
  }
  return found as KubeEvent;
}

export async function annotate(
  namespace: string,
  pod: string,
  annotations: Record<string, string | null>,
): Promise<void> {
  const args = Object.entries(annotations).map(([key, value]) =>
    value === null ? `${key}-` : `${key}=${value}`,
  );
  await kubectl(['-n', namespace, 'annotate', 'pod', pod, '--overwrite', ...args]);
}

/** Annotations routing a Pod through both builds on the same host and paths. */
export function routeAnnotations(hosts: string, paths: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const build of BUILDS) {
    out[build.hostsAnnotation] = hosts;
    out[build.pathsAnnotation] = paths;
  }
  return out;
}
