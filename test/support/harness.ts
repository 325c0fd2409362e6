import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

/**
 * Runs the real router builds as child processes over the file source, for the conformance
 * suite and the other cross-package tests. Everything listens on 127.0.0.x.
 */

export const ROOT = resolve(import.meta.dirname, '../..');

export interface BuildUnderTest {
  readonly tier: 'public' | 'private';
  readonly bin: string;
  readonly hostsAnnotation: string;
  readonly pathsAnnotation: string;
  readonly apiKeyField: string;
}

export const BUILDS: readonly BuildUnderTest[] = [
  {
    tier: 'public',
    bin: join(ROOT, 'packages/public/bin/podrouter-public.js'),
    hostsAnnotation: 'publicHosts',
    pathsAnnotation: 'publicPaths',
    apiKeyField: 'public-api-key',
  },
  {
    tier: 'private',
    bin: join(ROOT, 'packages/private/bin/podrouter-private.js'),
    hostsAnnotation: 'privateHosts',
    pathsAnnotation: 'privatePaths',
    apiKeyField: 'private-api-key',
  },
];

export interface PodOptions {
  readonly name: string;
  readonly namespace?: string;
  readonly ip: string;
  readonly ports: readonly number[];
  /** `containerPort` names by port (`grpc` makes the router speak h2c to it). */
  readonly portNames?: Readonly<Record<number, string>>;
  readonly hosts?: string;
  readonly paths?: string;
  readonly createdAt?: string;
  readonly ready?: boolean;
  readonly phase?: string;
  readonly labels?: Record<string, string>;
  readonly extraAnnotations?: Record<string, string>;
}

/** A Pod object as `kubectl get pods -o yaml` shows it, annotated for `build`. */
export function pod(build: BuildUnderTest, options: PodOptions): Record<string, unknown> {
  const annotations: Record<string, string> = { ...options.extraAnnotations };
  if (options.hosts !== undefined) annotations[build.hostsAnnotation] = options.hosts;
  if (options.paths !== undefined) annotations[build.pathsAnnotation] = options.paths;
  const namespace = options.namespace ?? 'default';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name,
      namespace,
      uid: `uid-${namespace}-${options.name}`,
      creationTimestamp: options.createdAt ?? '2026-01-01T00:00:00Z',
      labels: options.labels ?? { routable: 'true' },
      annotations,
    },
    spec: {
      containers: [
        {
          name: 'app',
          ports: options.ports.map((containerPort) => {
            const name = options.portNames?.[containerPort];
            return name === undefined ? { containerPort } : { name, containerPort };
          }),
        },
      ],
    },
    status: {
      phase: options.phase ?? 'Running',
      podIP: options.ip,
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
    },
  };
}

/** A Pod whose every path on `hosts` goes to the backend listening at `at`. */
export const podServing = (
  build: BuildUnderTest,
  name: string,
  at: { readonly host: string; readonly port: number },
  hosts: string,
): Record<string, unknown> =>
  pod(build, { name, ip: at.host, ports: [at.port], hosts, paths: `${at.port}:/` });

export function secret(
  namespace: string,
  name: string,
  data: Record<string, string>,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}

export const listYaml = (items: readonly unknown[]) =>
  stringify({ apiVersion: 'v1', kind: 'List', items });

interface LogLine {
  readonly msg?: string;
  readonly version?: number;
  readonly port?: number;
  readonly adminPort?: number;
  readonly [key: string]: unknown;
}

export interface RunningRouter {
  readonly port: number;
  /** The TLS listener's port, when the router was started with TLS_PORT. */
  readonly tlsPort: number | undefined;
  readonly adminPort: number;
  readonly introspectionPort: number;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  readonly file: string;
  /** Replaces the source file and waits until a table built from it is serving. */
  setState(items: readonly unknown[]): Promise<number>;
  /** Writes raw text to the source file (no waiting). */
  writeRaw(text: string): void;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  admin(path: string): Promise<HttpResult>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a build on 127.0.0.1 with random ports and the given initial objects. */
export async function startRouter(
  build: BuildUnderTest,
  items: readonly unknown[],
  env: Record<string, string> = {},
  args: readonly string[] = [],
): Promise<RunningRouter> {
  const dir = mkdtempSync(join(tmpdir(), `podrouter-${build.tier}-`));
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, listYaml(items));
  const child = spawn(process.execPath, [build.bin, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      SOURCE: 'file',
      SOURCE_FILE: file,
      PORT: '0',
      ADMIN_PORT: '0',
      // No TLS listener unless a test asks for one (TLS_PORT: '0').
      TLS_PORT: '',
      INTROSPECTION_PORT: '0',
      LISTEN_ADDRESS: '127.0.0.1',
      SHUTDOWN_DELAY: '0',
      LOG_LEVEL: 'debug',
      // One process unless a test asks for workers (the default follows the CPU limit);
      // `WORKERS=2 npm run test:conformance` runs the suite with worker processes.
      WORKERS: process.env.WORKERS ?? '1',
      // `npm run test:conformance:undici` runs the same suite with the undici engine.
      ...(process.env.UPSTREAM_ENGINE ? { UPSTREAM_ENGINE: process.env.UPSTREAM_ENGINE } : {}),
      // `npm run test:conformance:node-server` runs it with node:http serving the clients.
      ...(process.env.SERVER_ENGINE ? { SERVER_ENGINE: process.env.SERVER_ENGINE } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        logs.push(JSON.parse(text) as LogLine);
      } catch {
        logs.push({ msg: text });
      }
      newline = buffered.indexOf('\n');
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolveLine, reject) => {
      // Every way out removes all three: the waiter, the timer and the exit listener.
      const settle = () => {
        waiters.delete(check);
        clearTimeout(timer);
        child.off('exit', onExit);
      };
      const check = () => {
        const found = logs.find(predicate);
        if (found) {
          settle();
          resolveLine(found);
        }
      };
      const onExit = () => {
        settle();
        reject(new Error(`router exited early; stderr: ${stderr}`));
      };
      const timer = setTimeout(() => {
        settle();
        reject(
          new Error(
            `timed out waiting for a log line; stderr: ${stderr}; last logs: ${JSON.stringify(logs.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });

  // With WORKERS > 1 each worker logs too (with its `worker` id); the primary speaks for all.
  const listening = await waitForLog(
    (line) => line.msg === 'listening' && line.worker === undefined,
  );
  let version =
    (await waitForLog((line) => line.msg === 'route table applied' && line.worker === undefined))
      .version ?? 1;
  const port = listening.port as number;
  const tlsPort = typeof listening.tlsPort === 'number' ? listening.tlsPort : undefined;
  const adminPort = listening.adminPort as number;
  const introspectionPort = listening.introspectionPort as number;
  return {
    port,
    tlsPort,
    adminPort,
    introspectionPort,
    child,
    logs,
    file,
    stderr: () => stderr,
    writeRaw(text) {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    },
    async setState(nextItems) {
      const target = version + 1;
      writeFileSync(`${file}.tmp`, listYaml(nextItems));
      renameSync(`${file}.tmp`, file);
      await waitForLog(
        (line) =>
          line.msg === 'route table applied' &&
          line.worker === undefined &&
          (line.version ?? 0) >= target,
      );
      version = target;
      return target;
    },
    waitForLog,
    // `/routes` lives on the loopback introspection listener, the probes on the admin one.
    admin: (path) =>
      send({ port: path.startsWith('/routes') ? introspectionPort : adminPort, path }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && !child.killed) child.kill(signal);
      const [code] = (await exited) as [number | null];
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface SendOptions {
  readonly port: number;
  readonly path?: string;
  readonly host?: string;
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  /** Send the body with chunked encoding instead of Content-Length. */
  readonly chunked?: boolean;
  readonly address?: string;
}

/** One HTTP/1.1 request on a fresh connection (no pooling: tests must not share sockets). */
export function send(options: SendOptions): Promise<HttpResult> {
  return new Promise((resolveResult, reject) => {
    const headers: Record<string, string | string[]> = { ...options.headers };
    if (options.host !== undefined) headers.host = options.host;
    if (options.body !== undefined && !options.chunked)
      headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = httpRequest(
      {
        host: options.address ?? '127.0.0.1',
        port: options.port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers,
        agent: false,
        setHost: options.host === undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolveResult({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}
