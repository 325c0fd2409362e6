/**
 * Policy benchmark: what each policy costs on one route, in one run on one machine.
 *   1. no policy         (namespace without a key Secret: the route's pipeline is null)
 *   2. API key           (key check + header swap)
 *   3. API key + limit, remote       (one Redis script call per request)
 *   4. API key + limit, local-first  (leases of RATE_LIMIT_LEASE requests)
 * Limits are set high so that nothing is refused: the figures are the cost of counting.
 * REDIS_TIMEOUT is 1s here so that a loaded machine does not turn counting into fail-open.
 *
 * CPU layout on 2 cores: podrouter-public pinned to core 0; wrk (1 thread), the upstream and
 * redis-server on core 1. Redis round trips per request = EVALSHA+EVAL calls / requests. wrk,
 * its parsing and the CPU accounting (requests per router CPU-second) come from bench/harness.
 *
 *   scripts/node.sh bench/policy/run.ts [--duration 10] [--connections 32]
 * Needs wrk, taskset and redis-server (apt-get install wrk util-linux redis-server).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUILDS, pod, secret, startRouter } from '../../test/support/harness.ts';
import { startRedis } from '../../test/support/redis.ts';
import { measure } from '../harness/measure.ts';
import { LOADS, type Load } from '../harness/wrk.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
  },
});
const KEY = 'bench-key-5e6f7a8b9c0d';
const build = BUILDS[0] as (typeof BUILDS)[number];

const upstream = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
});
await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', () => done()));
const upstreamPort = (upstream.address() as AddressInfo).port;
const redis = await startRedis();
execFileSync('sh', ['-c', `taskset -a -p -c 1 ${process.pid} >/dev/null`]);
execFileSync('sh', [
  '-c',
  `for p in $(pgrep -f "redis-server 127.0.0.1:${redis.port}"); do taskset -a -p -c 1 $p >/dev/null; done`,
]);

const items = [
  pod(build, {
    name: 'open',
    namespace: 'open',
    ip: '127.0.0.1',
    ports: [upstreamPort],
    hosts: 'open.bench',
    paths: `${upstreamPort}:/`,
  }),
  pod(build, {
    name: 'keyed',
    namespace: 'keyed',
    ip: '127.0.0.1',
    ports: [upstreamPort],
    hosts: 'keyed.bench',
    paths: `${upstreamPort}:/`,
  }),
  secret('keyed', 'routing', { [build.apiKeyField]: KEY }),
];
const LIMITS = '{ plans: { default: { second: 1000000, day: 1000000000 } } }';

interface Scenario {
  readonly name: string;
  readonly host: string;
  readonly env: Record<string, string>;
}
const scenarios: Scenario[] = [
  { name: 'no policy', host: 'open.bench', env: {} },
  { name: 'API key', host: 'keyed.bench', env: {} },
  {
    name: 'API key + Redis limit (remote)',
    host: 'keyed.bench',
    env: { RATE_LIMITS: LIMITS, REDIS_URL: redis.url, REDIS_TIMEOUT: '1s' },
  },
  {
    name: 'API key + Redis limit (local-first)',
    host: 'keyed.bench',
    env: {
      RATE_LIMITS: LIMITS,
      REDIS_URL: redis.url,
      REDIS_TIMEOUT: '1s',
      RATE_LIMIT_MODE: 'local-first',
    },
  },
];

const scriptCalls = () => {
  const stats = redis.cli('INFO', 'commandstats');
  let calls = 0;
  for (const match of stats.matchAll(/cmdstat_(?:evalsha|eval):calls=([0-9]+)/g))
    calls += Number(match[1]);
  return calls;
};

const load = { ...(LOADS[0] as Load), connections: Number(values.connections) };
const dir = mkdtempSync(join(tmpdir(), 'podrouter-bench-policy-'));
const rows: string[] = [];
let baseline = 0;
for (const scenario of scenarios) {
  const router = await startRouter(build, items, { LOG_LEVEL: 'info', ...scenario.env });
  execFileSync('sh', ['-c', `taskset -a -p -c 0 ${router.child.pid} >/dev/null`]);
  const target = {
    name: scenario.name,
    url: `http://127.0.0.1:${router.port}/`,
    headers: { Host: scenario.host, 'X-Routing-Api-Key': KEY },
    pids: [router.child.pid as number],
  };
  // The upstream lives in this process, so wrk runs asynchronously (measure() awaits it).
  const options = { loadCores: '1', upstreamPids: [], dir };
  await measure(target, load, { ...options, seconds: 2 });
  const before = scriptCalls();
  const sample = await measure(target, load, { ...options, seconds: Number(values.duration) });
  const calls = scriptCalls() - before;
  await router.stop();
  const perCpu = sample.rps / Math.max(sample.proxyCores ?? 1, 0.01);
  if (baseline === 0) baseline = perCpu;
  rows.push(
    `| ${scenario.name} | ${Math.round(sample.rps)} | ${Math.round(perCpu)} | ${(perCpu / baseline).toFixed(2)} | ${sample.p50Ms.toFixed(2)} | ${sample.p99Ms.toFixed(2)} | ${sample.requests > 0 ? (calls / sample.requests).toFixed(3) : '0'} | ${sample.errors} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  [
    `wrk -t1 -c${values.connections} -d${values.duration}s; podrouter-public alone on core 0; node ${process.version}; redis ${redis.cli('INFO', 'server').match(/redis_version:([0-9.]+)/)?.[1]}`,
    '',
    '| scenario | req/s | req per router CPU-s | vs no policy (per CPU-s) | p50 ms | p99 ms | Redis calls/request | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
upstream.close();
await redis.close();
