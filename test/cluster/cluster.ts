// Helpers for tests that use the kubelet-less cluster of test/cluster/ (see README.md).
// The API server and every cluster address are reachable only inside the cluster's network
// namespace, so commands run through `ip netns exec` unless this process is already in it.

import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ClusterInfo {
  netns: string;
  dir: string;
  adminKubeconfig: string;
  binDir: string;
  scriptsDir: string;
  nodeName: string;
  nodeIp: string;
  podCidr: string;
  serviceCidr: string;
  dnsServiceIp: string;
  apiServerUrl: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
}

export type ClusterErrorCode =
  | 'CLUSTER_NOT_ROOT'
  | 'CLUSTER_UP_FAILED'
  | 'CLUSTER_COMMAND_FAILED'
  | 'CLUSTER_TIMEOUT';

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  constructor(code: ClusterErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ClusterError';
    this.code = code;
  }
}

const scriptsDir = dirname(fileURLToPath(import.meta.url));

export function clusterInfo(): ClusterInfo {
  const dir = process.env.PODROUTER_CLUSTER_DIR ?? '/tmp/podrouter-cluster';
  return {
    netns: process.env.PODROUTER_NETNS ?? 'podrouter-test',
    dir,
    adminKubeconfig: join(dir, 'admin.kubeconfig'),
    binDir: join(dir, 'bin'),
    scriptsDir,
    nodeName: 'node-1',
    nodeIp: '10.240.0.1',
    podCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/16',
    dnsServiceIp: '10.96.0.10',
    apiServerUrl: 'https://10.240.0.1:6443',
  };
}

export function adminKubeconfigPath(): string {
  return clusterInfo().adminKubeconfig;
}

/** True when this process already runs inside the cluster's network namespace. */
export function insideNetns(info: ClusterInfo = clusterInfo()): boolean {
  try {
    const ours = statSync('/proc/self/ns/net');
    const theirs = statSync(`/run/netns/${info.netns}`);
    return ours.ino === theirs.ino && ours.dev === theirs.dev;
  } catch {
    return false;
  }
}

/** The command line that runs `cmd args` inside the namespace. */
export function netnsCommand(cmd: string, args: readonly string[]): [string, string[]] {
  const info = clusterInfo();
  return insideNetns(info) ? [cmd, [...args]] : ['ip', ['netns', 'exec', info.netns, cmd, ...args]];
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        const result = { code, stdout, stderr };
        if (code === 0 || opts.allowFailure === true) {
          resolve(result);
          return;
        }
        const timedOut = error?.killed === true;
        reject(
          new ClusterError(
            timedOut ? 'CLUSTER_TIMEOUT' : 'CLUSTER_COMMAND_FAILED',
            `${[cmd, ...args].join(' ')} ${timedOut ? 'timed out' : `exited ${code}`}: ${stderr.trim() || stdout.trim()}`,
          ),
        );
      },
    );
    // A command that exits without reading its input would make the write fail with EPIPE;
    // its exit status is what counts.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

export function runInNetns(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [c, a] = netnsCommand(cmd, args);
  return run(c, a, opts);
}

/** Starts a long-running process inside the namespace; the caller owns it. */
export function spawnInNetns(
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): ChildProcess {
  const [c, a] = netnsCommand(cmd, args);
  return spawn(c, a, opts);
}

export interface KubectlOptions extends RunOptions {
  /** Defaults to the admin kubeconfig. */
  kubeconfig?: string;
}

/** Runs the cluster's kubectl inside the namespace. */
export function kubectlRun(args: readonly string[], opts: KubectlOptions = {}): Promise<RunResult> {
  const info = clusterInfo();
  const kubeconfig = opts.kubeconfig ?? info.adminKubeconfig;
  return runInNetns(join(info.binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], opts);
}

/** Runs the cluster's kubectl inside the namespace and returns its stdout. */
export async function kubectl(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
  return (await kubectlRun(args, opts)).stdout;
}

export async function kubectlJson<T>(
  args: readonly string[],
  opts: KubectlOptions = {},
): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'], opts)) as T;
}

/** Applies one or more objects (JSON or YAML text, or objects) with the admin kubeconfig. */
export async function apply(objects: string | readonly object[]): Promise<void> {
  const input =
    typeof objects === 'string'
      ? objects
      : JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
  await kubectl(['apply', '-f', '-'], { input });
}

/** Creates a namespace (if missing) and waits for its default ServiceAccount, without
 * which the ServiceAccount admission plugin rejects Pods. */
export async function createNamespace(name: string, timeoutMs = 30_000): Promise<void> {
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }]);
  await waitFor(`ServiceAccount ${name}/default`, timeoutMs, async () => {
    const r = await kubectl(['-n', name, 'get', 'serviceaccount', 'default', '--ignore-not-found']);
    return r.trim() !== '';
  });
}

export async function deleteNamespace(
  name: string,
  options: { wait?: boolean } = {},
): Promise<void> {
  await kubectl([
    'delete',
    'namespace',
    name,
    '--ignore-not-found',
    options.wait ? '--timeout=60s' : '--wait=false',
  ]);
}

export interface ServiceAccountKubeconfigOptions {
  /** Token lifetime; the API server may shorten it. Default 24 h. */
  durationSeconds?: number;
  /** Create the ServiceAccount when missing (default true). */
  create?: boolean;
}

/** A kubeconfig file for a ServiceAccount, with a token from the TokenRequest API, so what
 * the holder may do is decided by the cluster's RBAC. Returns the file's path. */
export async function serviceAccountKubeconfig(
  namespace: string,
  name: string,
  opts: ServiceAccountKubeconfigOptions = {},
): Promise<string> {
  const info = clusterInfo();
  if (opts.create !== false) {
    const existing = await kubectl([
      '-n',
      namespace,
      'get',
      'serviceaccount',
      name,
      '--ignore-not-found',
    ]);
    if (existing.trim() === '') {
      await kubectl(['-n', namespace, 'create', 'serviceaccount', name]);
    }
  }
  const token = (
    await kubectl([
      '-n',
      namespace,
      'create',
      'token',
      name,
      `--duration=${opts.durationSeconds ?? 86_400}s`,
    ])
  ).trim();
  const ca = readFileSync(join(info.dir, 'pki', 'ca.crt')).toString('base64');
  const user = `system:serviceaccount:${namespace}:${name}`;
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'podrouter-test',
        cluster: { server: info.apiServerUrl, 'certificate-authority-data': ca },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'podrouter-test', context: { cluster: 'podrouter-test', user, namespace } }],
    'current-context': 'podrouter-test',
  };
  const dir = join(info.dir, 'serviceaccounts');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${namespace}.${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  return path;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Starts the cluster unless it is healthy already (up.sh decides; it is quick then) and
 * returns its info. Throws, never skips: a suite that needs the cluster must fail loudly. */
export async function ensureClusterUp(timeoutMs = 30 * 60_000): Promise<ClusterInfo> {
  if (!isRoot()) {
    throw new ClusterError(
      'CLUSTER_NOT_ROOT',
      'the test cluster needs root (network namespaces, nftables); run the cluster suites as root',
    );
  }
  const info = clusterInfo();
  const result = await run('bash', [join(scriptsDir, 'up.sh')], { timeoutMs, allowFailure: true });
  if (result.code !== 0) {
    throw new ClusterError(
      'CLUSTER_UP_FAILED',
      `test/cluster/up.sh exited ${result.code}; logs in ${info.dir}/logs/\n${result.stderr}${result.stdout}`,
    );
  }
  return info;
}

/** Polls `check` until it returns true; an error thrown by `check` ends the wait. */
export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new ClusterError('CLUSTER_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`);
}
