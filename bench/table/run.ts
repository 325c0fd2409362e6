/**
 * Route-table benchmark: how long `buildRouteTable` takes and how much heap the table holds
 * for 100, 10 000 and 100 000 synthetic Pods, and what one `matchRoute` costs (hit and miss)
 * on those tables. Each size runs in a process of its own, so one size's garbage and JIT
 * state do not leak into the next.
 *
 *   scripts/node.sh bench/table/run.ts                 # all sizes, markdown table on stdout
 *   scripts/node.sh bench/table/run.ts --pods 10000    # one size, JSON on stdout
 *   scripts/node.sh bench/table/run.ts --json          # all sizes, JSON on stdout
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AnnotationMemo,
  buildRouteTable,
  type ClusterState,
  EndpointHealth,
  hostOf,
  matchRoute,
  type PodInfo,
  parseLabelSelector,
  type RouteTable,
} from '@podrouter/core';
import { median } from '../harness/stats.ts';

const SIZES = [100, 10_000, 100_000];
/** Pods of one app share its host and paths (balanced over the replicas). */
const REPLICAS = 2;
const APPS_PER_NAMESPACE = 10;
const T0 = Date.UTC(2026, 0, 1);

export interface TableResult {
  readonly pods: number;
  readonly hosts: number;
  readonly routes: number;
  readonly rejectedEntries: number;
  readonly buildRuns: number;
  readonly buildMs: { readonly min: number; readonly median: number; readonly max: number };
  /** A build after one Pod changed, with the parsed-annotation memo of the previous one. */
  readonly rebuildMs: { readonly min: number; readonly median: number };
  /** Heap retained by one table (state excluded), after a full GC. */
  readonly tableHeapMB: number;
  /** Heap retained by the synthetic ClusterState itself, for scale. */
  readonly stateHeapMB: number;
  readonly lookupNs: {
    readonly hit: number;
    readonly missHost: number;
    readonly missPath: number;
    /** `hostOf(Host header)` + `matchRoute`, as the proxy does per request. */
    readonly hitWithHostHeader: number;
  };
}

/**
 * N Pods: apps of REPLICAS Pods, APPS_PER_NAMESPACE apps per namespace; each app routes one
 * host on three paths. One Pod in 20 is not Ready and one app in 100 names an undeclared
 * port, so the not-serving and rejection paths are exercised as in a real cluster.
 */
export function syntheticState(podCount: number): ClusterState {
  const pods: PodInfo[] = [];
  for (let i = 0; i < podCount; i++) {
    const app = Math.floor(i / REPLICAS);
    const namespace = `team-${Math.floor(app / APPS_PER_NAMESPACE)}`;
    const badPort = app % 100 === 99 ? ' 9999:/debug' : '';
    pods.push({
      namespace,
      name: `app-${app}-${(i % REPLICAS).toString(36)}x7f9c`,
      uid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      createdAt: T0 + i * 1000,
      labels: { app: `app-${app}`, 'pod-template-hash': '7f9c', routable: 'true' },
      annotations: {
        publicHosts: `app-${app}.${namespace}.example.com`,
        publicPaths: `8080:/ 8080:/api/v1 8081:/metrics-public${badPort}`,
      },
      containerPorts: [8080, 8081],
      phase: 'Running',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      ready: i % 20 !== 19,
      terminating: false,
    });
  }
  return { pods, secrets: [] };
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapAfterGc(): number {
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** Requests as a proxy sees them: a Host header (maybe with port) and a URL with a query. */
interface Probe {
  readonly header: string;
  readonly host: string;
  readonly url: string;
}

function probes(table: RouteTable, kind: 'hit' | 'missHost' | 'missPath'): Probe[] {
  const hosts = [...table.hosts.keys()];
  const out: Probe[] = [];
  // 4096 distinct probes spread over all hosts: lookups are not served from one hot entry.
  const count = 4096;
  const urls = ['/api/v1/items/42?page=2', '/', '/metrics-public', '/static/app.js', '/api/v1'];
  for (let i = 0; i < count; i++) {
    const host = hosts[Math.floor((i * hosts.length) / count)] as string;
    if (kind === 'hit') {
      const url = urls[i % urls.length] as string;
      out.push({ header: `${host}:8080`, host, url });
    } else if (kind === 'missHost') {
      const other = `unknown-${i}.example.com`;
      out.push({ header: other, host: other, url: '/api/v1/items' });
    } else {
      // Only meaningful on a table whose hosts do not route "/" (see `deepOnly`).
      out.push({ header: host, host, url: '/api/v2/items/42' });
    }
  }
  return out;
}

/** ns per call of `fn` over the probes, median of several timed passes. */
function timeLookups(list: readonly Probe[], fn: (probe: Probe) => unknown): number {
  const passes: number[] = [];
  let sink = 0;
  const perPass = 1_000_000;
  for (let pass = 0; pass < 7; pass++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perPass; i++) {
      if (fn(list[i & 4095] as Probe) !== undefined) sink++;
    }
    const ns = Number(process.hrtime.bigint() - start) / perPass;
    if (pass >= 2) passes.push(ns); // two warm-up passes for the JIT
  }
  if (sink === -1) console.log(sink);
  return round(median(passes), 1);
}

export function measure(podCount: number): TableResult {
  const health = new EndpointHealth({ ejectionMs: 10_000 });
  const options = {
    hostsAnnotation: 'publicHosts',
    pathsAnnotation: 'publicPaths',
    selector: parseLabelSelector('routable=true'),
    health,
  };
  const baseHeap = heapAfterGc();
  const state = syntheticState(podCount);
  const stateHeap = heapAfterGc() - baseHeap;

  const runs = podCount >= 100_000 ? 7 : podCount >= 10_000 ? 15 : 51;
  const times: number[] = [];
  // Two unmeasured builds first: the JIT warms up as it would in a long-running router.
  for (let i = 0; i < runs + 2; i++) {
    const start = performance.now();
    const table = buildRouteTable(state, { ...options, version: i });
    const ms = performance.now() - start;
    if (i >= 2) times.push(ms);
    if (table.routes.length === 0) throw new Error('no routes built');
  }

  // The live case: one Pod changed since the last build; the router's memo of parsed
  // annotation values carries over, as it does in `Router.applyState`.
  const memo = new AnnotationMemo();
  const rebuildTimes: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const changed = state.pods.map((pod, index) =>
      index === i % state.pods.length ? { ...pod, ready: !pod.ready } : pod,
    );
    const start = performance.now();
    buildRouteTable({ pods: changed, secrets: state.secrets }, { ...options, memo, version: i });
    const ms = performance.now() - start;
    if (i >= 2) rebuildTimes.push(ms);
  }

  const before = heapAfterGc();
  const table = buildRouteTable(state, options);
  const tableHeap = heapAfterGc() - before;

  // For path misses: a table where no host routes "/", so `/api/v2/...` walks to the root.
  const deepOnly = buildRouteTable(
    {
      pods: state.pods.map((pod) => ({
        ...pod,
        annotations: { ...pod.annotations, publicPaths: '8080:/api/v1 8081:/metrics-public' },
      })),
      secrets: [],
    },
    options,
  );

  const hit = probes(table, 'hit');
  const missHost = probes(table, 'missHost');
  const missPath = probes(deepOnly, 'missPath');
  const lookupNs = {
    hit: timeLookups(hit, (probe) => matchRoute(table, probe.host, probe.url)),
    missHost: timeLookups(missHost, (probe) => matchRoute(table, probe.host, probe.url)),
    missPath: timeLookups(missPath, (probe) => matchRoute(deepOnly, probe.host, probe.url)),
    hitWithHostHeader: timeLookups(hit, (probe) =>
      matchRoute(table, hostOf(probe.header), probe.url),
    ),
  };
  for (const probe of hit) {
    if (matchRoute(table, probe.host, probe.url) === undefined) throw new Error('hit missed');
  }

  return {
    pods: podCount,
    hosts: table.hosts.size,
    routes: table.routes.length,
    rejectedEntries: table.rejectedEntries,
    buildRuns: runs,
    rebuildMs: { median: round(median(rebuildTimes), 2), min: round(Math.min(...rebuildTimes), 2) },
    buildMs: {
      min: round(Math.min(...times), 2),
      median: round(median(times), 2),
      max: round(Math.max(...times), 2),
    },
    tableHeapMB: round(tableHeap / 2 ** 20, 1),
    stateHeapMB: round(stateHeap / 2 ** 20, 1),
    lookupNs,
  };
}

export function markdown(results: readonly TableResult[]): string {
  const lines = [
    '| Pods | hosts | routes | build ms (median, min–max, runs) | rebuild after one change ms (median, min) | table heap MB | hit ns | hit + Host parse ns | miss (host) ns | miss (path) ns |',
    '|---:|---:|---:|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.pods.toLocaleString('en-US')} | ${r.hosts} | ${r.routes} | ${r.buildMs.median} (${r.buildMs.min}–${r.buildMs.max}, ${r.buildRuns}) | ${r.rebuildMs.median} (${r.rebuildMs.min}) | ${r.tableHeapMB} | ${r.lookupNs.hit} | ${r.lookupNs.hitWithHostHeader} | ${r.lookupNs.missHost} | ${r.lookupNs.missPath} |`,
    );
  }
  return lines.join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: { pods: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (values.pods !== undefined) {
    process.stdout.write(`${JSON.stringify(measure(Number(values.pods)))}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const results = SIZES.map((pods) => {
    // One process per size, with gc() exposed for the heap figures.
    const out = execFileSync(process.execPath, ['--expose-gc', self, '--pods', String(pods)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const result = JSON.parse(out) as TableResult;
    if (!values.json) console.error(`${pods} Pods: build ${result.buildMs.median} ms`);
    return result;
  });
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    console.log(`node ${process.version}, ${new Date().toISOString()}`);
    console.log(markdown(results));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
