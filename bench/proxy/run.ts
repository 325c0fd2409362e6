/**
 * Proxy benchmark: one run measures, against the same upstream and with the same load
 * generator, (1) the upstream directly, (2) nginx proxying it with upstream keep-alive and
 * (3) podrouter-public proxying it through a file source with one route.
 *
 * CPU layout on a 2-core machine: the proxy under test (nginx with one worker, or the whole
 * podrouter process with all its threads) is pinned alone to core 0; wrk (one thread) and the
 * upstream (nginx, one worker, `return 200`) share core 1. Each run also records how much
 * CPU each process used, so requests per CPU-second of the proxy can be compared even when
 * other work on a shared machine steals part of core 0.
 *
 *   bench/proxy/run.sh                      # installs nginx and wrk if missing, then this
 *   scripts/node.sh bench/proxy/run.ts [--reps 3] [--duration 10] [--connections 32]
 *   scripts/node.sh bench/proxy/run.ts --profile   # podrouter under load with --cpu-prof
 *   scripts/node.sh bench/proxy/run.ts --serve     # start the targets and wait
 *   --no-minimal leaves out minimal-proxy.ts (the node:http + undici reference point).
 *   --no-node-server leaves out podrouter with SERVER_ENGINE=node (node:http for clients).
 *   --api-key: the route requires an API key (a Secret), and every request sends it.
 *   --report FILE: print the report of an earlier run from its raw JSON.
 *   --nice N: run every benchmark process under nice -n N (negative needs root).
 *   --quiet-below F: before each cell wait (≤ 10 s) for the machine to be < F busy (0 = off).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const HERE = join(ROOT, 'bench/proxy');
const RESULTS = join(ROOT, 'bench/results/raw');
const HOST = 'bench.local';
const UPSTREAM_IP = '127.0.0.2';
const PROXY_CORE = '0';
const LOAD_CORE = '1';
/** 128 bytes of body: small, so the figures measure per-request cost, not copying. */
const BODY = `${'podrouter benchmark upstream '.repeat(5).slice(0, 127)}\n`;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

type TargetName =
  | 'direct'
  | 'nginx'
  | 'podrouter'
  | 'podrouter-undici'
  | 'podrouter-node-server'
  | 'node-minimal';

interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** The process whose CPU is the proxy's (its children are counted too); none for direct. */
  readonly pid: number | undefined;
}

interface Load {
  readonly name: string;
  readonly connections: number;
  /** wrk Lua script (pacing), relative to bench/proxy. */
  readonly script?: string;
  readonly describe: string;
}

interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

interface Sample extends WrkResult {
  readonly target: TargetName;
  readonly load: string;
  readonly rep: number;
  /** How long the cell waited for a quiet machine before it started. */
  readonly waitedMs?: number;
  /** CPU used by the proxy process tree during the run, in cores (1 = one core fully busy). */
  readonly proxyCores: number | undefined;
  /** The proxy's user-space and kernel CPU per request, µs. */
  readonly proxyUserUs: number | undefined;
  readonly proxySysUs: number | undefined;
  readonly upstreamCores: number;
  readonly wrkCores: number;
  /** Busy fraction of each core over the run, whoever used it. */
  readonly core0Busy: number;
  readonly core1Busy: number;
}

// ---------- processes ----------

const children: ChildProcess[] = [];
/** nice(1) increment of every process the benchmark starts (set from --nice). */
let niceness = 0;

/** `nice -n N taskset -c CORE …`: nice, taskset and the command exec each other, one pid. */
const pinned = (core: string, args: readonly string[]) => [
  '-n',
  String(niceness),
  'taskset',
  '-c',
  core,
  ...args,
];

function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${command} ${args.join(' ')} exited early (${code ?? signal}):\n${stderr}`);
      process.exitCode = 1;
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stopAll(): Promise<void> {
  stopping = true;
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, host, done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** GET with an explicit Host header (fetch() does not let a caller set one). */
function get(url: string, host: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const headers = host ? { host, ...(apiKey ? { 'x-routing-api-key': API_KEY } : {}) } : {};
    const request = httpGet(url, { headers }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => done({ status: response.statusCode ?? 0, body }));
      response.on('error', fail);
    });
    request.on('error', fail);
  });
}

async function waitFor(url: string, host?: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const { status, body } = await get(url, host);
      if (status === 200) return body;
      last = `${status} ${body}`;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready: ${String(last)}`);
}

// ---------- configuration files ----------

const nginxCommon = (dir: string, name: string) => `
worker_processes 1;
daemon off;
master_process on;
user root;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 8192; }
`;

const nginxTemp = (dir: string, name: string) => `
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fastcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  access_log off;
  keepalive_timeout 75s;
  # nginx closes a client connection after 1000 requests by default; podrouter does not.
  keepalive_requests 10000000;
`;

function upstreamConfig(dir: string, port: number): string {
  return `${nginxCommon(dir, 'upstream')}
http {${nginxTemp(dir, 'upstream')}
  server {
    listen ${UPSTREAM_IP}:${port} backlog=4096;
    location / {
      default_type text/plain;
      return 200 "${BODY.replace(/\n$/, '\\n')}";
    }
  }
}
`;
}

/** nginx as a reverse proxy doing what podrouter does per request (Host kept, X-Forwarded-*). */
function proxyConfig(dir: string, port: number, upstreamPort: number): string {
  return `${nginxCommon(dir, 'proxy')}
http {${nginxTemp(dir, 'proxy')}
  upstream pod {
    server ${UPSTREAM_IP}:${upstreamPort};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096 default_server;
    return 404;
  }
  server {
    listen 127.0.0.1:${port};
    server_name ${HOST};
    location / {
      proxy_pass http://pod;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }
}
`;
}

/** The key every request sends with --api-key (the route's Secret holds it). */
const API_KEY = 'bench-key-0123456789abcdef';
let apiKey = false;

function podsFile(upstreamPort: number): string {
  const secret = apiKey
    ? `  - apiVersion: v1
    kind: Secret
    metadata: { name: routing, namespace: bench }
    data: { public-api-key: ${Buffer.from(API_KEY).toString('base64')} }
`
    : '';
  return `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: upstream-0
      namespace: bench
      uid: 00000000-0000-4000-8000-000000000001
      creationTimestamp: "2026-01-01T00:00:00Z"
      labels: { app: upstream, routable: "true" }
      annotations:
        publicHosts: ${HOST}
        publicPaths: "${upstreamPort}:/"
    spec:
      containers:
        - name: app
          ports: [{ containerPort: ${upstreamPort} }]
    status:
      phase: Running
      podIP: ${UPSTREAM_IP}
      conditions: [{ type: Ready, status: "True" }]
${secret}`;
}

// ---------- measurement ----------

/** utime and stime of a process and all its descendants, in ms. */
function cpuTimes(pid: number | undefined): { user: number; sys: number } {
  const total = { user: 0, sys: 0 };
  if (pid === undefined) return total;
  const visit = (id: number) => {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total.user += Number(fields[11]) * TICK_MS;
      total.sys += Number(fields[12]) * TICK_MS;
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const kids = readFileSync(`/proc/${id}/task/${task}/children`, 'utf8').trim();
        for (const kid of kids ? kids.split(' ') : []) visit(Number(kid));
      }
    } catch {
      // The process ended between two reads: it has no more CPU to count.
    }
  };
  visit(pid);
  return total;
}

const cpuMs = (pid: number | undefined) => {
  const { user, sys } = cpuTimes(pid);
  return user + sys;
};

/** Busy and total jiffies of cores 0 and 1. */
function coreTimes(): { busy: number; total: number }[] {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  return [0, 1].map((core) => {
    const line = lines.find((l) => l.startsWith(`cpu${core} `)) ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((sum, value) => sum + value, 0);
    return { busy: total - idle, total };
  });
}

function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`unexpected wrk latency "${text}"`);
  const value = Number(match[1]);
  const unit = match[2];
  return unit === 'us'
    ? value / 1000
    : unit === 'ms'
      ? value
      : unit === 's'
        ? value * 1000
        : value * 60_000;
}

export function parseWrk(output: string): WrkResult {
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(output);
    if (!match) throw new Error(`no ${p}% line in wrk output:\n${output}`);
    return toMs(match[1] as string);
  };
  const requests = /(\d+) requests in/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!requests || !rps) throw new Error(`unexpected wrk output:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    p50Ms: percentile('50'),
    p90Ms: percentile('90'),
    p99Ms: percentile('99'),
    errors: Number(non2xx?.[1] ?? 0) + socketErrors,
  };
}

function wrkArgs(target: Target, load: Load, seconds: number): string[] {
  return pinned(LOAD_CORE, [
    'wrk',
    '-t1',
    `-c${load.connections}`,
    `-d${seconds}s`,
    '--latency',
    '-H',
    `Host: ${HOST}`,
    ...(apiKey ? ['-H', `X-Routing-Api-Key: ${API_KEY}`] : []),
    ...(load.script ? ['-s', join(HERE, load.script)] : []),
    target.url,
  ]);
}

async function measure(
  target: Target,
  load: Load,
  seconds: number,
  upstreamPid: number,
): Promise<Omit<Sample, 'rep'>> {
  const cores0 = coreTimes();
  const proxy0 = cpuTimes(target.pid);
  const upstream0 = cpuMs(upstreamPid);
  const started = performance.now();
  const child = spawn('nice', wrkArgs(target, load, seconds), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const wrkPid = child.pid;
  let wrkCpu = 0;
  const poll = setInterval(() => {
    wrkCpu = Math.max(wrkCpu, cpuMs(wrkPid));
  }, 200);
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  clearInterval(poll);
  const elapsedMs = performance.now() - started;
  const cores1 = coreTimes();
  const proxy1 = cpuTimes(target.pid);
  if (code !== 0) throw new Error(`wrk failed (${code}):\n${out}`);
  const result = parseWrk(out);
  const busy = (core: number) => {
    const a = cores0[core] as { busy: number; total: number };
    const b = cores1[core] as { busy: number; total: number };
    return b.total === a.total ? 0 : (b.busy - a.busy) / (b.total - a.total);
  };
  const round3 = (value: number) => Math.round(value * 1000) / 1000;
  return {
    ...result,
    target: target.name,
    load: load.name,
    proxyCores:
      target.pid === undefined
        ? undefined
        : round3((proxy1.user + proxy1.sys - proxy0.user - proxy0.sys) / elapsedMs),
    proxyUserUs:
      target.pid === undefined
        ? undefined
        : Math.round((10 * 1000 * (proxy1.user - proxy0.user)) / result.requests) / 10,
    proxySysUs:
      target.pid === undefined
        ? undefined
        : Math.round((10 * 1000 * (proxy1.sys - proxy0.sys)) / result.requests) / 10,
    upstreamCores: round3((cpuMs(upstreamPid) - upstream0) / elapsedMs),
    // wrk's own CPU, read just before it exited (a lower bound, to within one poll).
    wrkCores: round3(wrkCpu / elapsedMs),
    core0Busy: round3(busy(0)),
    core1Busy: round3(busy(1)),
  };
}

/**
 * On a shared machine: wait (at most `maxMs`) until both cores together were less than
 * `threshold` busy over one second, so a cell starts in a quiet moment. Returns the wait.
 */
async function waitForQuiet(threshold: number, maxMs: number): Promise<number> {
  const started = performance.now();
  while (threshold > 0 && performance.now() - started < maxMs) {
    const a = coreTimes();
    await sleep(1000);
    const b = coreTimes();
    let busy = 0;
    let total = 0;
    for (const core of [0, 1]) {
      busy += (b[core]?.busy ?? 0) - (a[core]?.busy ?? 0);
      total += (b[core]?.total ?? 0) - (a[core]?.total ?? 0);
    }
    if (total > 0 && busy / total < threshold) break;
  }
  return Math.round(performance.now() - started);
}

// ---------- report ----------

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

interface Summary {
  readonly target: TargetName;
  readonly load: string;
  readonly reps: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The lowest p99 of the repetitions: contention from other work only ever adds latency. */
  readonly p99BestMs: number;
  readonly proxyCores: number | undefined;
  /** Requests per CPU-second of the proxy process: throughput per core actually used. */
  readonly rpsPerProxyCore: number | undefined;
  readonly proxyUserUs: number | undefined;
  readonly proxySysUs: number | undefined;
  readonly core0Busy: number;
  readonly core1Busy: number;
  readonly errors: number;
}

function summarize(samples: readonly Sample[]): Summary[] {
  const out: Summary[] = [];
  const keys = [...new Set(samples.map((s) => `${s.load}\u0000${s.target}`))];
  for (const key of keys) {
    const [load, target] = key.split('\u0000') as [string, TargetName];
    const group = samples.filter((s) => s.load === load && s.target === target);
    const proxyCores = group.every((s) => s.proxyCores !== undefined)
      ? median(group.map((s) => s.proxyCores as number))
      : undefined;
    out.push({
      target,
      load,
      reps: group.length,
      rps: Math.round(median(group.map((s) => s.rps))),
      rpsMin: Math.round(Math.min(...group.map((s) => s.rps))),
      rpsMax: Math.round(Math.max(...group.map((s) => s.rps))),
      p50Ms: median(group.map((s) => s.p50Ms)),
      p99Ms: median(group.map((s) => s.p99Ms)),
      p99BestMs: Math.min(...group.map((s) => s.p99Ms)),
      proxyCores,
      rpsPerProxyCore:
        proxyCores === undefined
          ? undefined
          : Math.round(median(group.map((s) => s.rps / Math.max(s.proxyCores as number, 0.01)))),
      proxyUserUs:
        proxyCores === undefined ? undefined : median(group.map((s) => s.proxyUserUs as number)),
      proxySysUs:
        proxyCores === undefined ? undefined : median(group.map((s) => s.proxySysUs as number)),
      core0Busy: median(group.map((s) => s.core0Busy)),
      core1Busy: median(group.map((s) => s.core1Busy)),
      errors: group.reduce((sum, s) => sum + s.errors, 0),
    });
  }
  return out;
}

const fixed = (value: number | undefined, digits: number) =>
  value === undefined ? '–' : value.toFixed(digits);

export function report(summaries: readonly Summary[], loads: readonly Load[]): string {
  const lines: string[] = [];
  for (const load of loads) {
    const rows = summaries.filter((s) => s.load === load.name);
    const of = (name: TargetName) => rows.find((s) => s.target === name);
    const direct = of('direct');
    const nginx = of('nginx');
    const podrouter = of('podrouter');
    const minimal = of('node-minimal');
    const undici = of('podrouter-undici');
    const nodeServer = of('podrouter-node-server');
    lines.push(`### ${load.name}: ${load.describe}`, '');
    lines.push(
      '| target | req/s median (min–max) | p50 ms | p99 ms median (best) | added p50 ms | added p99 ms median (best) | proxy CPU (cores) | proxy CPU µs/req user + sys | req per proxy CPU-second | core 0 / core 1 busy | errors |',
      '|---|---|---:|---:|---:|---:|---:|---|---:|---|---:|',
    );
    for (const s of rows) {
      const added = (value: number, base: number | undefined) =>
        s.target === 'direct' || base === undefined ? '–' : (value - base).toFixed(3);
      lines.push(
        `| ${s.target} | ${s.rps} (${s.rpsMin}–${s.rpsMax}) | ${s.p50Ms.toFixed(3)} | ${s.p99Ms.toFixed(3)} (${s.p99BestMs.toFixed(3)}) | ${added(s.p50Ms, direct?.p50Ms)} | ${added(s.p99Ms, direct?.p99Ms)} (${added(s.p99BestMs, direct?.p99BestMs)}) | ${fixed(s.proxyCores, 2)} | ${s.proxyUserUs === undefined ? '–' : `${s.proxyUserUs} + ${s.proxySysUs}`} | ${s.rpsPerProxyCore ?? '–'} | ${fixed(s.core0Busy, 2)} / ${fixed(s.core1Busy, 2)} | ${s.errors} |`,
      );
    }
    if (podrouter && nginx && direct) {
      const ratio = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined || b === 0 ? '–' : (a / b).toFixed(2);
      lines.push(
        '',
        `podrouter/nginx req/s ${ratio(podrouter.rps, nginx.rps)}×, per proxy CPU-second ${ratio(podrouter.rpsPerProxyCore, nginx.rpsPerProxyCore)}×; podrouter/direct req/s ${ratio(podrouter.rps, direct.rps)}×; nginx/direct ${ratio(nginx.rps, direct.rps)}×${minimal ? `; node-minimal/nginx req/s ${ratio(minimal.rps, nginx.rps)}×, per proxy CPU-second ${ratio(minimal.rpsPerProxyCore, nginx.rpsPerProxyCore)}×` : ''}${undici ? `; podrouter-undici/nginx req/s ${ratio(undici.rps, nginx.rps)}×, per proxy CPU-second ${ratio(undici.rpsPerProxyCore, nginx.rpsPerProxyCore)}×; podrouter (raw engine)/podrouter-undici req/s ${ratio(podrouter.rps, undici.rps)}×, per proxy CPU-second ${ratio(podrouter.rpsPerProxyCore, undici.rpsPerProxyCore)}×` : ''}${nodeServer ? `; podrouter-node-server/nginx req/s ${ratio(nodeServer.rps, nginx.rps)}×, per proxy CPU-second ${ratio(nodeServer.rpsPerProxyCore, nginx.rpsPerProxyCore)}×; raw server (podrouter)/node:http server req/s ${ratio(podrouter.rps, nodeServer.rps)}×, per proxy CPU-second ${ratio(podrouter.rpsPerProxyCore, nodeServer.rpsPerProxyCore)}×, p50 ${ratio(podrouter.p50Ms, nodeServer.p50Ms)}×, p99 ${ratio(podrouter.p99Ms, nodeServer.p99Ms)}×` : ''}`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

// ---------- main ----------

const LOADS: readonly Load[] = [
  {
    name: 'c32',
    connections: 32,
    describe: 'wrk, 32 connections, closed loop (saturates the proxy core)',
  },
  {
    name: 'c1',
    connections: 1,
    describe: 'wrk, 1 connection, one request at a time (latency with the proxy otherwise idle)',
  },
  {
    name: 'paced',
    connections: 8,
    script: 'paced.lua',
    describe:
      'wrk, 8 connections each waiting 1 ms between requests (a few thousand req/s, below saturation)',
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      reps: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string' },
      loads: { type: 'string', default: LOADS.map((l) => l.name).join(',') },
      profile: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
      /** Also measure minimal-proxy.ts, the node:http + undici floor podrouter builds on. */
      minimal: { type: 'boolean', default: true },
      /** Also measure podrouter with UPSTREAM_ENGINE=undici. */
      undici: { type: 'boolean', default: true },
      /** Also measure podrouter with SERVER_ENGINE=node. */
      'node-server': { type: 'boolean', default: true },
      /** The route requires an API key and every request sends it. */
      'api-key': { type: 'boolean', default: false },
      /** Before each cell, wait up to 10 s for the machine to be less busy than this (0 = off). */
      'quiet-below': { type: 'string', default: '0.25' },
      /** nice(1) increment for every benchmark process; negative (as root) on a busy machine. */
      nice: { type: 'string', default: '0' },
      /** Re-render the report of an earlier run from its raw JSON file. */
      report: { type: 'string' },
    },
  });
  niceness = Number(values.nice);
  apiKey = values['api-key'];
  const reps = Number(values.reps);
  const seconds = Number(values.duration);
  const loads = LOADS.filter((l) => values.loads.split(',').includes(l.name)).map((l) =>
    values.connections !== undefined && l.name === 'c32'
      ? {
          ...l,
          name: `c${values.connections}`,
          connections: Number(values.connections),
          describe: l.describe.replace('32', values.connections),
        }
      : l,
  );

  if (values.report !== undefined) {
    const raw = JSON.parse(readFileSync(values.report, 'utf8')) as {
      startedAt: string;
      samples: Sample[];
    };
    const names = new Set(raw.samples.map((sample) => sample.load));
    console.log(
      `${raw.startedAt}\n\n${report(
        summarize(raw.samples),
        loads.filter((l) => names.has(l.name)),
      )}`,
    );
    return;
  }
  mkdirSync(RESULTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'podrouter-bench-'));
  const upstreamPort = await freePort(UPSTREAM_IP);
  const nginxPort = await freePort('127.0.0.1');
  const routerPort = await freePort('127.0.0.1');
  const adminPort = await freePort('127.0.0.1');
  const undiciRouterPort = await freePort('127.0.0.1');
  const undiciAdminPort = await freePort('127.0.0.1');
  const minimalPort = await freePort('127.0.0.1');
  const nodeServerPort = await freePort('127.0.0.1');
  const nodeServerAdminPort = await freePort('127.0.0.1');
  writeFileSync(join(dir, 'upstream.conf'), upstreamConfig(dir, upstreamPort));
  writeFileSync(join(dir, 'proxy.conf'), proxyConfig(dir, nginxPort, upstreamPort));
  writeFileSync(join(dir, 'pods.yaml'), podsFile(upstreamPort));
  const profileDir = join(RESULTS, `cpu-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);

  const onSignal = () => {
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const upstream = start(
      'nice',
      pinned(LOAD_CORE, [
        'nginx',
        '-p',
        dir,
        '-c',
        join(dir, 'upstream.conf'),
        '-e',
        join(dir, 'upstream-error.log'),
      ]),
    );
    const nginx = start(
      'nice',
      pinned(PROXY_CORE, [
        'nginx',
        '-p',
        dir,
        '-c',
        join(dir, 'proxy.conf'),
        '-e',
        join(dir, 'proxy-error.log'),
      ]),
    );
    /** podrouter-public on `port`, pinned to the proxy core; `env` varies one setting. */
    const podrouter = (port: number, admin: number, env: NodeJS.ProcessEnv, profile = false) =>
      start(
        'nice',
        pinned(PROXY_CORE, [
          join(ROOT, 'scripts/node.sh'),
          ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          join(ROOT, 'packages/public/bin/podrouter-public.js'),
        ]),
        {
          SOURCE: 'file',
          SOURCE_FILE: join(dir, 'pods.yaml'),
          PORT: String(port),
          ADMIN_PORT: String(admin),
          INTROSPECTION_PORT: '0',
          TLS_PORT: '',
          LISTEN_ADDRESS: '127.0.0.1',
          SHUTDOWN_DELAY: '0',
          LOG_LEVEL: 'warn',
          ...env,
        },
      );
    const routerSpawnedAt = performance.now();
    const router = podrouter(routerPort, adminPort, {}, values.profile);
    // The same build with the undici upstream engine instead of the raw-socket one (the
    // default, docs/http1.md); --no-undici leaves it out.
    const undiciRouter = values.undici
      ? podrouter(undiciRouterPort, undiciAdminPort, { UPSTREAM_ENGINE: 'undici' })
      : undefined;
    // The same build with node:http serving the clients; --no-node-server leaves it out.
    const nodeServerRouter = values['node-server']
      ? podrouter(nodeServerPort, nodeServerAdminPort, { SERVER_ENGINE: 'node' })
      : undefined;
    const minimal = values.minimal
      ? start(
          'nice',
          pinned(PROXY_CORE, [
            join(ROOT, 'scripts/node.sh'),
            join(HERE, 'minimal-proxy.ts'),
            String(minimalPort),
            `http://${UPSTREAM_IP}:${upstreamPort}`,
          ]),
        )
      : undefined;
    const targets: Target[] = [
      { name: 'direct', url: `http://${UPSTREAM_IP}:${upstreamPort}/`, pid: undefined },
      { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/`, pid: nginx.pid },
      { name: 'podrouter', url: `http://127.0.0.1:${routerPort}/`, pid: router.pid },
    ];
    if (undiciRouter) {
      targets.push({
        name: 'podrouter-undici',
        url: `http://127.0.0.1:${undiciRouterPort}/`,
        pid: undiciRouter.pid,
      });
    }
    if (nodeServerRouter) {
      targets.push({
        name: 'podrouter-node-server',
        url: `http://127.0.0.1:${nodeServerPort}/`,
        pid: nodeServerRouter.pid,
      });
    }
    if (minimal) {
      targets.push({
        name: 'node-minimal',
        url: `http://127.0.0.1:${minimalPort}/`,
        pid: minimal.pid,
      });
    }
    await waitFor(`http://127.0.0.1:${adminPort}/readyz`);
    if (undiciRouter) await waitFor(`http://127.0.0.1:${undiciAdminPort}/readyz`);
    if (nodeServerRouter) await waitFor(`http://127.0.0.1:${nodeServerAdminPort}/readyz`);
    for (const target of targets) {
      const body = await waitFor(target.url, HOST);
      if (body !== BODY) throw new Error(`${target.name} answered ${JSON.stringify(body)}`);
    }
    const upstreamPid = upstream.pid as number;
    const machine = {
      node: execFileSync(join(ROOT, 'scripts/node.sh'), ['--version'], { encoding: 'utf8' }).trim(),
      nginx: execFileSync('sh', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' }).trim(),
      wrk: execFileSync('sh', ['-c', 'wrk -v 2>&1 | head -1'], { encoding: 'utf8' }).trim(),
      cpu: execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], {
        encoding: 'utf8',
      }).trim(),
      cores: execFileSync('nproc', { encoding: 'utf8' }).trim(),
      kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
      // The work tree may hold others' uncommitted changes: say so.
      revision: execFileSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], {
        encoding: 'utf8',
      }).trim(),
    };

    if (values.serve) {
      console.log(`upstream  ${targets[0]?.url}\nnginx     ${targets[1]?.url}`);
      console.log(`podrouter ${targets[2]?.url} (admin :${adminPort}); Host: ${HOST}`);
      for (const target of targets.slice(3)) console.log(`${target.name.padEnd(9)} ${target.url}`);
      console.log('Ctrl-C to stop.');
      await new Promise(() => undefined);
    }

    if (values.profile) {
      const load = loads[0] as Load;
      console.error(`warming up, then profiling podrouter for ${seconds}s at ${load.name}…`);
      await measure(targets[2] as Target, load, 3, upstreamPid);
      const fromMs = performance.now() - routerSpawnedAt;
      const sample = await measure(targets[2] as Target, load, seconds, upstreamPid);
      const toMs = performance.now() - routerSpawnedAt;
      console.log(
        `podrouter ${load.name}: ${sample.rps} req/s, p99 ${sample.p99Ms} ms (profiling slows it)`,
      );
      await stopAll();
      const profile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (profile === undefined) throw new Error(`no profile written in ${profileDir}`);
      console.log(
        `profile: ${join(profileDir, profile)} (measured window ${Math.round(fromMs)}–${Math.round(toMs)} ms)`,
      );
      execFileSync(
        join(ROOT, 'scripts/node.sh'),
        [
          join(ROOT, 'bench/profile-summary.ts'),
          join(profileDir, profile),
          '--top',
          '40',
          // Only the measured window: start-up, warm-up and shutdown are left out.
          '--from-ms',
          String(Math.round(fromMs)),
          '--to-ms',
          String(Math.round(toMs)),
        ],
        { stdio: 'inherit' },
      );
      return;
    }

    const startedAt = new Date().toISOString();
    const loadAvg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.error(`load average before: ${loadAvg}`);
    // Warm-up: JIT, connection pools and TCP buffers, unmeasured.
    for (const target of targets) await measure(target, loads[0] as Load, 3, upstreamPid);
    const samples: Sample[] = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const load of loads) {
        // The order rotates each repetition so no target always runs first or last.
        const order = targets.map((_, i) => targets[(i + rep) % targets.length] as Target);
        for (const target of order) {
          const waitedMs = await waitForQuiet(Number(values['quiet-below']), 10_000);
          const sample = { ...(await measure(target, load, seconds, upstreamPid)), rep, waitedMs };
          samples.push(sample);
          console.error(
            `rep ${rep + 1}/${reps} ${load.name} ${target.name}: ${Math.round(sample.rps)} req/s p50 ${sample.p50Ms} p99 ${sample.p99Ms} ms, proxy ${sample.proxyCores ?? '–'} cores, core0 ${sample.core0Busy} core1 ${sample.core1Busy} (waited ${sample.waitedMs} ms for quiet)`,
          );
        }
      }
    }
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const summaries = summarize(samples);
    const text = report(summaries, loads);
    const header = `${startedAt}; podrouter ${machine.revision}; ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}; node ${machine.node}; ${machine.nginx.replace(/^nginx version: /, '')}; ${machine.wrk}; ${reps} reps × ${seconds}s per cell; nice ${niceness}; load average before ${loadAvg}, after ${loadAfter}`;
    console.log(`${header}\n\n${text}`);
    const file = join(RESULTS, `proxy-${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ startedAt, machine, loadAvg, loadAfter, reps, seconds, summaries, samples }, null, 2)}\n`,
    );
    console.error(`raw samples: ${file}`);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
