/**
 * The proxy benchmark (`npm run bench`): one run measures, against the same upstream and with
 * the same load generator, every cell of the matrix below at c32, c1 and paced, and reports
 * each against nginx in requests per proxy CPU-second, requests/s and p50/p99/p99.9.
 *
 * CPU layout on a 2-core machine: the proxy under test (all its processes and threads) is
 * pinned alone to core 0; wrk (one thread), the upstream (nginx, one worker, `return 200`),
 * the OTLP sink and redis-server share core 1. The 2-worker cells (nginx and podrouter with
 * two workers) get both cores, shared with wrk and the upstream: they are compared with each
 * other only. Every run records how much CPU each process used, so requests per CPU-second of
 * the proxy can be compared even when other work on a shared machine steals part of a core.
 *
 *   scripts/node.sh bench/proxy/run.ts [--reps 2] [--duration 5] [--loads c32,c1,paced]
 *     (`c1-one-core`, opt-in: c1 with the proxy moved onto the load's core for that load)
 *   scripts/node.sh bench/proxy/run.ts --cells nginx,podrouter-key   # some cells only
 *   scripts/node.sh bench/proxy/run.ts --profile podrouter-key       # that cell under --cpu-prof
 *   scripts/node.sh bench/proxy/run.ts --serve                       # start the cells and wait
 *   scripts/node.sh bench/proxy/run.ts --report FILE                 # re-render a raw JSON
 *   --nice N: every benchmark process under nice -n N (negative needs root).
 *   --quiet-below F: before each cell wait (≤ 10 s) for the machine to be < F busy (0 = off).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusterFile, type RouteSpec, routerEnv } from '../harness/cluster.ts';
import { pinned, setNiceness, waitForQuiet } from '../harness/cpu.ts';
import { describeMachine, loadAverage, machineLine } from '../harness/machine.ts';
import { measure, type Sample, type Target } from '../harness/measure.ts';
import { freePort, waitFor } from '../harness/net.ts';
import { BODY, nginxArgs, proxyConfig, upstreamConfig } from '../harness/nginx.ts';
import { Processes } from '../harness/processes.ts';
import { table } from '../harness/report.ts';
import { fixed, ratio } from '../harness/stats.ts';
import { type Summary, summarize } from '../harness/summary.ts';
import { LOADS, type Load } from '../harness/wrk.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const HERE = join(ROOT, 'bench/proxy');
const NODE = join(ROOT, 'scripts/node.sh');
const RESULTS = join(ROOT, 'bench/results/raw');
const HOST = 'bench.local';
const UPSTREAM_IP = '127.0.0.2';
const PROXY_CORES = '0';
const LOAD_CORES = '1';
const BOTH_CORES = '0,1';
const KEY = 'bench-key-5e6f7a8b9c0d1e2f';
const KEY_HEADERS = { Host: HOST, 'X-Routing-Api-Key': KEY };
/** High enough that nothing is refused: the figures are the cost of counting. */
const LIMITS = '{ plans: { default: { second: 100000000, day: 100000000000 } } }';

/** Said in the report's header: cells skipped or not what their name says. */
const notes: string[] = [];
const NO_WORKERS = 'this build has no WORKERS setting: podrouter-2w ran one worker on two cores';

/** What every cell start gets: where things are, and the shared helpers on core 1. */
interface Context {
  readonly dir: string;
  readonly processes: Processes;
  readonly upstreamPort: number;
  readonly redisUrl: () => Promise<string>;
  readonly sinkUrl: () => Promise<string>;
  /** Extra node flags for podrouter processes (`--cpu-prof …` when profiling). */
  readonly nodeFlags: readonly string[];
}

interface Cell {
  readonly name: string;
  readonly describe: string;
  /** The cell whose requests per CPU-second this one is divided by. */
  readonly reference: 'nginx' | 'nginx-2w';
  /** Left out unless named in --cells. */
  readonly optIn?: boolean;
  /** The same cell run from another checkout (`--base DIR`: A/B against a baseline build). */
  readonly rebase?: (root: string) => Cell;
  /** Starts the cell; undefined when it cannot run here (the note says why). */
  readonly start: (context: Context) => Promise<Target | { readonly skipped: string }>;
}

// ---------- starting things ----------

interface RouterOptions {
  readonly tier: 'public' | 'private';
  readonly routes: readonly RouteSpec[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cores?: string;
  /** An early exit is not an error: the caller reports it (settings a build may not have). */
  readonly optional?: boolean;
  /** The checkout whose router runs (default: this one). */
  readonly root?: string;
}

interface StartedRouter {
  readonly child: ChildProcess;
  readonly port: number;
}

async function startRouter(
  context: Context,
  options: RouterOptions,
): Promise<StartedRouter | { readonly failed: string }> {
  const port = await freePort();
  const adminPort = await freePort();
  const file = clusterFile(join(context.dir, `cluster-${port}.json`), options.routes);
  const child = context.processes.start(
    'nice',
    pinned(options.cores ?? PROXY_CORES, [
      NODE,
      ...context.nodeFlags,
      join(options.root ?? ROOT, `packages/${options.tier}/bin/podrouter-${options.tier}.js`),
    ]),
    routerEnv(file, port, adminPort, { LOG_LEVEL: 'warn', ACCESS_LOG: 'off', ...options.env }),
    { optional: options.optional },
  );
  const exited = new Promise<'exited'>((done) => child.once('exit', () => done('exited')));
  const ready = waitFor(`http://127.0.0.1:${adminPort}/readyz`).then(() => 'ready' as const);
  if ((await Promise.race([ready, exited])) === 'exited') {
    await ready.catch(() => undefined);
    return { failed: context.processes.stderrOf(child).trim().split('\n').slice(-3).join(' ') };
  }
  return { child, port };
}

function routerTarget(
  name: string,
  routers: readonly StartedRouter[],
  headers: Readonly<Record<string, string>>,
): Target {
  return {
    name,
    url: `http://127.0.0.1:${(routers[0] as StartedRouter).port}/`,
    headers,
    pids: routers.map((r) => r.child.pid as number),
  };
}

const publicRoute = (context: Context, apiKey?: string): RouteSpec => ({
  tier: 'public',
  namespace: 'bench',
  host: HOST,
  podIp: UPSTREAM_IP,
  port: context.upstreamPort,
  apiKey,
});

/** A podrouter-public cell: one process, one route, `env` on top of the common settings. */
function podrouterCell(
  name: string,
  describe: string,
  settings: {
    key: boolean;
    env?: (context: Context) => Promise<Record<string, string>>;
    cores?: string;
    reference?: 'nginx' | 'nginx-2w';
    optIn?: boolean;
    root?: string;
  },
): Cell {
  return {
    name,
    describe,
    reference: settings.reference ?? 'nginx',
    optIn: settings.optIn,
    rebase:
      settings.root === undefined
        ? (root) =>
            podrouterCell(`${name}@base`, `${describe} (--base checkout)`, { ...settings, root })
        : undefined,
    async start(context) {
      const router = await startRouter(context, {
        tier: 'public',
        routes: [publicRoute(context, settings.key ? KEY : undefined)],
        env: (await settings.env?.(context)) ?? {},
        cores: settings.cores,
        root: settings.root,
      });
      if ('failed' in router) throw new Error(`${name} did not start: ${router.failed}`);
      return routerTarget(name, [router], settings.key ? KEY_HEADERS : { Host: HOST });
    },
  };
}

/** A Node (or Bun) reference proxy from this folder: `PROGRAM PORT …upstream args`. */
function peerCell(
  name: string,
  describe: string,
  command: (port: number, context: Context) => string[] | undefined,
): Cell {
  return {
    name,
    describe,
    reference: 'nginx',
    async start(context) {
      const port = await freePort();
      const args = command(port, context);
      if (args === undefined) return { skipped: `${name}: not installed here` };
      const child = context.processes.start('nice', pinned(PROXY_CORES, args));
      return {
        name,
        url: `http://127.0.0.1:${port}/`,
        headers: { Host: HOST },
        pids: [child.pid as number],
      };
    },
  };
}

function nginxCell(name: 'nginx' | 'nginx-2w', workers: number, describe: string): Cell {
  return {
    name,
    describe,
    reference: name,
    async start(context) {
      const port = await freePort();
      const config = proxyConfig(context.dir, {
        name,
        workers,
        port,
        host: HOST,
        upstream: `${UPSTREAM_IP}:${context.upstreamPort}`,
      });
      const child = context.processes.start(
        'nice',
        pinned(workers === 1 ? PROXY_CORES : BOTH_CORES, nginxArgs(context.dir, name, config)),
      );
      return {
        name,
        cores: workers === 1 ? PROXY_CORES : BOTH_CORES,
        url: `http://127.0.0.1:${port}/`,
        headers: { Host: HOST },
        pids: [child.pid as number],
      };
    },
  };
}

function bunBinary(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const bin = join(dirname(require.resolve('@oven/bun-linux-x64/package.json')), 'bin/bun');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

const upstreamUrl = (context: Context) => `http://${UPSTREAM_IP}:${context.upstreamPort}`;

const CELLS: readonly Cell[] = [
  {
    name: 'direct',
    describe: 'the upstream itself (nginx `return 200`), no proxy',
    reference: 'nginx',
    start: async (context) => ({
      name: 'direct',
      url: `${upstreamUrl(context)}/`,
      headers: { Host: HOST },
      pids: [],
    }),
  },
  nginxCell('nginx', 1, 'nginx, 1 worker, upstream keep-alive, X-Forwarded-*'),
  peerCell('byte-pipe', 'Node net sockets piped both ways, no HTTP (the ceiling)', (port, c) => [
    NODE,
    join(HERE, 'byte-pipe.ts'),
    String(port),
    UPSTREAM_IP,
    String(c.upstreamPort),
  ]),
  peerCell('node-minimal', 'node:http + undici Pool, nothing else', (port, c) => [
    NODE,
    join(HERE, 'minimal-proxy.ts'),
    String(port),
    upstreamUrl(c),
  ]),
  peerCell('http-proxy-3', 'http-proxy-3 + keep-alive agent', (port, c) => [
    NODE,
    join(HERE, 'http-proxy-3.ts'),
    String(port),
    upstreamUrl(c),
  ]),
  peerCell('bun', 'Bun.serve + fetch (npm @oven/bun-linux-x64)', (port, c) => {
    const bun = bunBinary();
    return bun === undefined
      ? undefined
      : [bun, join(HERE, 'bun-proxy.js'), String(port), upstreamUrl(c)];
  }),
  podrouterCell('podrouter', 'podrouter-public, no policy', { key: false }),
  podrouterCell('podrouter-key', 'podrouter-public, API key', { key: true }),
  podrouterCell(
    'podrouter-key-redis',
    'API key + Redis rate limit, local-first (real redis-server)',
    {
      key: true,
      env: async (context) => ({
        RATE_LIMITS: LIMITS,
        RATE_LIMIT_MODE: 'local-first',
        REDIS_URL: await context.redisUrl(),
        REDIS_TIMEOUT: '1s',
      }),
    },
  ),
  podrouterCell(
    'podrouter-key-tracing',
    'API key + every request traced (OTLP batch export to a local sink)',
    {
      key: true,
      env: async (context) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: await context.sinkUrl() }),
    },
  ),
  {
    name: 'podrouter-two-hops',
    describe: 'podrouter-public → podrouter-private → upstream, no policy (both on core 0)',
    reference: 'nginx',
    async start(context) {
      const privateRouter = await startRouter(context, {
        tier: 'private',
        routes: [{ ...publicRoute(context), tier: 'private' }],
      });
      if ('failed' in privateRouter) throw new Error(`private router: ${privateRouter.failed}`);
      const publicRouter = await startRouter(context, {
        tier: 'public',
        routes: [{ ...publicRoute(context), podIp: '127.0.0.1', port: privateRouter.port }],
      });
      if ('failed' in publicRouter) throw new Error(`public router: ${publicRouter.failed}`);
      return routerTarget('podrouter-two-hops', [publicRouter, privateRouter], { Host: HOST });
    },
  },
  nginxCell('nginx-2w', 2, 'nginx, 2 workers, both cores (shared with wrk and the upstream)'),
  {
    name: 'podrouter-2w',
    describe:
      'podrouter-public, no policy, WORKERS=2, both cores (shared with wrk and the upstream)',
    reference: 'nginx-2w',
    async start(context) {
      const router = await startRouter(context, {
        tier: 'public',
        routes: [publicRoute(context)],
        env: { WORKERS: '2' },
        cores: BOTH_CORES,
        optional: true,
      });
      if ('failed' in router)
        return { skipped: `podrouter-2w: the router refused WORKERS=2 (${router.failed})` };
      const help = execFileSync(
        NODE,
        [join(ROOT, 'packages/public/bin/podrouter-public.js'), '--help'],
        {
          encoding: 'utf8',
        },
      );
      if (!help.includes('WORKERS')) {
        notes.push(NO_WORKERS);
        console.error(`note: ${NO_WORKERS}`);
      }
      return { ...routerTarget('podrouter-2w', [router], { Host: HOST }), cores: BOTH_CORES };
    },
  },
  podrouterCell(
    'podrouter-key-log',
    'API key + the access log on (its default), stdout to /dev/null',
    {
      key: true,
      env: async () => ({ ACCESS_LOG: 'on', LOG_LEVEL: 'info' }),
      optIn: true,
    },
  ),
  podrouterCell('podrouter-key-node-server', 'podrouter-public, API key, SERVER_ENGINE=node', {
    key: true,
    env: async () => ({ SERVER_ENGINE: 'node' }),
    optIn: true,
  }),
  podrouterCell('podrouter-undici', 'podrouter-public, no policy, UPSTREAM_ENGINE=undici', {
    key: false,
    env: async () => ({ UPSTREAM_ENGINE: 'undici' }),
    optIn: true,
  }),
];

/** Starts a helper on the load cores once, on first use. */
function lazy(startIt: () => Promise<string>): () => Promise<string> {
  let started: Promise<string> | undefined;
  return () => {
    started ??= startIt();
    return started;
  };
}

// ---------- report ----------

const AIMS = `Aims (issue 11): API key ≥ 0.6× nginx per proxy CPU-second at c32 (moonshot 0.75×); API key + every request traced ≥ 0.45×; p99 at c32 ≤ 3× nginx's; added p50 at c1 ≤ 0.1 ms; WORKERS=2 ≥ 1.8× WORKERS=1.`;

export function report(
  summaries: readonly Summary[],
  loads: readonly Load[],
  cells: readonly Cell[],
): string {
  const lines: string[] = [];
  for (const load of loads) {
    const rows = cells
      .map((cell) => summaries.find((s) => s.load === load.name && s.target === cell.name))
      .filter((s): s is Summary => s !== undefined);
    if (rows.length === 0) continue;
    const of = (name: string) => rows.find((s) => s.target === name);
    const direct = of('direct');
    const referenceOf = (s: Summary) =>
      of(cells.find((c) => c.name === s.target)?.reference ?? 'nginx');
    const added = (s: Summary, value: number, base: number | undefined) =>
      s.target === 'direct' || base === undefined ? '–' : (value - base).toFixed(3);
    lines.push(`### ${load.name}: ${load.describe}`, '');
    lines.push(
      table(
        [
          { title: 'cell', align: 'left', cell: (s: Summary) => s.target },
          { title: 'req/s (min–max)', cell: (s) => `${s.rps} (${s.rpsMin}–${s.rpsMax})` },
          { title: 'p50 ms', cell: (s) => s.p50Ms.toFixed(3) },
          {
            title: 'p99 ms (best)',
            cell: (s) => `${s.p99Ms.toFixed(3)} (${s.p99BestMs.toFixed(3)})`,
          },
          { title: 'p99.9 ms', cell: (s) => s.p999Ms.toFixed(3) },
          { title: 'added p50 ms', cell: (s) => added(s, s.p50Ms, direct?.p50Ms) },
          { title: 'proxy cores', cell: (s) => fixed(s.proxyCores, 2) },
          {
            title: 'proxy µs/req user + sys',
            cell: (s) => (s.proxyUserUs === undefined ? '–' : `${s.proxyUserUs} + ${s.proxySysUs}`),
          },
          { title: 'req per proxy CPU-s', cell: (s) => String(s.rpsPerProxyCore ?? '–') },
          {
            title: '× nginx per CPU-s',
            cell: (s) => ratio(s.rpsPerProxyCore, referenceOf(s)?.rpsPerProxyCore),
          },
          {
            title: '× nginx req/s',
            cell: (s) => (s.target === 'direct' ? '–' : ratio(s.rps, referenceOf(s)?.rps)),
          },
          {
            title: 'p99 × nginx',
            cell: (s) => (s.target === 'direct' ? '–' : ratio(s.p99Ms, referenceOf(s)?.p99Ms)),
          },
          { title: 'cores busy', cell: (s) => s.coresBusy.map((b) => b.toFixed(2)).join(' / ') },
          { title: 'errors', cell: (s) => String(s.errors) },
        ],
        rows,
      ),
    );
    lines.push('');
  }
  const at = (load: string, target: string) =>
    summaries.find((s) => s.load === load && s.target === target);
  const nginx32 = at('c32', 'nginx');
  const verdicts: string[] = [];
  const perCpu = (target: string, reference = nginx32) =>
    ratio(at('c32', target)?.rpsPerProxyCore, reference?.rpsPerProxyCore);
  if (nginx32 !== undefined) {
    verdicts.push(`API key ${perCpu('podrouter-key')}× nginx per CPU-s at c32`);
    verdicts.push(`key + tracing ${perCpu('podrouter-key-tracing')}×`);
    verdicts.push(
      `p99 at c32 (key) ${ratio(at('c32', 'podrouter-key')?.p99Ms, nginx32.p99Ms)}× nginx's`,
    );
  }
  const direct1 = at('c1', 'direct');
  const key1 = at('c1', 'podrouter-key');
  if (direct1 !== undefined && key1 !== undefined) {
    verdicts.push(`added p50 at c1 (key) ${(key1.p50Ms - direct1.p50Ms).toFixed(3)} ms`);
  }
  const one = at('c32', 'podrouter');
  const two = at('c32', 'podrouter-2w');
  if (one !== undefined && two !== undefined) {
    verdicts.push(
      notes.includes(NO_WORKERS)
        ? `WORKERS=2 not measured (${NO_WORKERS})`
        : `WORKERS=2 ${ratio(two.rps, one.rps)}× WORKERS=1 req/s`,
    );
  }
  if (verdicts.length > 0) lines.push(`${AIMS}`, '', `Measured: ${verdicts.join('; ')}.`, '');
  return lines.join('\n');
}

// ---------- main ----------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '2' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      loads: {
        type: 'string',
        default: LOADS.filter((l) => l.proxyOnLoadCore !== true)
          .map((l) => l.name)
          .join(','),
      },
      cells: { type: 'string' },
      profile: { type: 'string' },
      serve: { type: 'boolean', default: false },
      'quiet-below': { type: 'string', default: '0' },
      nice: { type: 'string', default: '0' },
      report: { type: 'string' },
      /** Another checkout (e.g. a worktree of main): each podrouter cell also runs from it. */
      base: { type: 'string' },
    },
  });
  setNiceness(Number(values.nice));
  const reps = Number(values.reps);
  const seconds = Number(values.duration);
  const loads = LOADS.filter((l) => values.loads.split(',').includes(l.name));
  const wanted = values.cells?.split(',');
  if (values.profile !== undefined && !values.profile.startsWith('podrouter')) {
    throw new Error('--profile takes a podrouter cell');
  }
  const chosen = CELLS.filter((c) =>
    values.profile !== undefined
      ? c.name === values.profile
      : wanted === undefined
        ? c.optIn !== true
        : wanted.includes(c.name),
  );
  const base = values.base === undefined ? undefined : resolve(values.base);
  const cells = chosen.flatMap((c) =>
    base !== undefined && values.profile === undefined && c.rebase !== undefined
      ? [c, c.rebase(base)]
      : [c],
  );
  const unknown = (wanted ?? []).filter((name) => !CELLS.some((c) => c.name === name));
  if (unknown.length > 0 || cells.length === 0) {
    throw new Error(
      `unknown cells ${unknown.join(', ')}; cells: ${CELLS.map((c) => c.name).join(', ')}`,
    );
  }

  if (values.report !== undefined) {
    const raw = JSON.parse(readFileSync(values.report, 'utf8')) as {
      header: string;
      samples: Sample[];
    };
    console.log(`${raw.header}\n\n${report(summarize(raw.samples), loads, cells)}`);
    return;
  }

  mkdirSync(RESULTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'podrouter-bench-'));
  const processes = new Processes();
  processes.stopOnSignals();
  const profileDir = join(RESULTS, `cpu-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    const upstreamPort = await freePort(UPSTREAM_IP);
    const upstream = processes.start(
      'nice',
      pinned(
        LOAD_CORES,
        nginxArgs(dir, 'upstream', upstreamConfig(dir, UPSTREAM_IP, upstreamPort)),
      ),
    );
    const context: Context = {
      dir,
      processes,
      upstreamPort,
      nodeFlags: values.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      redisUrl: lazy(async () => {
        const port = await freePort();
        processes.start(
          'nice',
          pinned(LOAD_CORES, [
            'redis-server',
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
          ]),
        );
        await sleep(300);
        return `redis://127.0.0.1:${port}`;
      }),
      sinkUrl: lazy(async () => {
        const port = await freePort();
        processes.start(
          'nice',
          pinned(LOAD_CORES, [NODE, join(ROOT, 'bench/harness/otlp-sink.ts'), String(port)]),
        );
        await sleep(500);
        return `http://127.0.0.1:${port}`;
      }),
    };
    await waitFor(`${upstreamUrl(context)}/`);
    const targets: Target[] = [];
    for (const cell of cells) {
      const started = await cell.start(context);
      if ('skipped' in started) {
        notes.push(started.skipped);
        console.error(`note: ${started.skipped}`);
        continue;
      }
      const body = await waitFor(started.url, started.headers as Record<string, string>);
      if (body !== BODY) throw new Error(`${cell.name} answered ${JSON.stringify(body)}`);
      targets.push(started);
    }
    const measureOptions = {
      seconds,
      loadCores: LOAD_CORES,
      upstreamPids: [upstream.pid as number],
      dir,
    };

    if (values.serve) {
      for (const target of targets)
        console.log(`${target.name.padEnd(22)} ${target.url} ${JSON.stringify(target.headers)}`);
      console.log('Ctrl-C to stop.');
      await new Promise(() => undefined);
    }

    if (values.profile !== undefined) {
      const target = targets[0] as Target;
      const load = loads[0] as Load;
      console.error(`warming up, then profiling ${target.name} for ${seconds}s at ${load.name}…`);
      await measure(target, load, { ...measureOptions, seconds: 3 });
      // V8 stamps profiles with the monotonic clock in µs, as process.hrtime does in ns.
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const sample = await measure(target, load, measureOptions);
      const toUs = Number(process.hrtime.bigint() / 1000n);
      console.log(
        `${target.name} ${load.name}: ${Math.round(sample.rps)} req/s, ${Math.round(sample.rps / Math.max(sample.proxyCores ?? 1, 0.01))} per proxy CPU-s, p99 ${sample.p99Ms} ms (profiling slows it)`,
      );
      // A router may wait its whole shutdown timeout for a connection to drain; a SIGKILL
      // would lose the profile.
      await processes.stopAll(60_000);
      const profile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (profile === undefined) throw new Error(`no profile written in ${profileDir}`);
      const file = join(profileDir, profile);
      const { startTime } = JSON.parse(readFileSync(file, 'utf8')) as { startTime: number };
      console.log(`profile: ${file}`);
      execFileSync(
        NODE,
        [
          join(ROOT, 'bench/profile-summary.ts'),
          file,
          '--top',
          '40',
          // Only the measured window: start-up, warm-up and shutdown are left out.
          '--from-ms',
          String(Math.round((fromUs - startTime) / 1000)),
          '--to-ms',
          String(Math.round((toUs - startTime) / 1000)),
        ],
        { stdio: 'inherit' },
      );
      return;
    }

    const machine = describeMachine(ROOT, NODE);
    const startedAt = new Date().toISOString();
    const loadBefore = loadAverage();
    console.error(
      `${cells.length} cells × ${loads.length} loads × ${reps} reps × ${seconds}s; load average ${loadBefore}`,
    );
    // Warm-up: JIT, connection pools and TCP buffers, unmeasured.
    for (const target of targets)
      await measure(target, LOADS[0] as Load, {
        ...measureOptions,
        seconds: Number(values.warmup),
      });
    const samples: Sample[] = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const load of loads) {
        // The order rotates each repetition so no target always runs first or last.
        const order = targets.map((_, i) => targets[(i + rep) % targets.length] as Target);
        for (const target of order) {
          const waitedMs = await waitForQuiet(Number(values['quiet-below']), 10_000);
          const sample: Sample = {
            ...(await measure(target, load, measureOptions)),
            rep,
            waitedMs,
          };
          samples.push(sample);
          console.error(
            `rep ${rep + 1}/${reps} ${load.name} ${target.name}: ${Math.round(sample.rps)} req/s, ${sample.proxyCores === undefined ? '' : `${Math.round(sample.rps / Math.max(sample.proxyCores, 0.01))} per proxy CPU-s, `}p50 ${sample.p50Ms} p99 ${sample.p99Ms} p99.9 ${sample.p999Ms} ms, cores ${sample.coresBusy.join('/')}`,
          );
        }
      }
    }
    const header = `${startedAt}; ${machineLine(machine)}; ${reps} reps × ${seconds}s per cell; load average before ${loadBefore}, after ${loadAverage()}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
    console.log(`${header}\n\n${report(summarize(samples), loads, cells)}`);
    const file = join(RESULTS, `proxy-${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ header, machine, reps, seconds, samples }, null, 2)}\n`,
    );
    console.error(`raw samples: ${file}`);
  } finally {
    await processes.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
