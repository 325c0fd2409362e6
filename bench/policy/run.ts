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
 * redis-server on core 1. Redis round trips per request = EVALSHA+EVAL calls / requests.
 *
 *   scripts/node.sh bench/policy/run.ts [--duration 10] [--connections 32]
 * Needs wrk, taskset and redis-server (apt-get install wrk util-linux redis-server).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs, promisify } from 'node:util';
import { BUILDS, pod, secret, startRouter } from '../../test/support/harness.ts';
import { startRedis } from '../../test/support/redis.ts';

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

const toMs = (value: string, unit: string) =>
  Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);

const run = promisify(execFile);
const rows: string[] = [];
let baseline = 0;
for (const scenario of scenarios) {
  const router = await startRouter(build, items, { LOG_LEVEL: 'info', ...scenario.env });
  execFileSync('sh', ['-c', `taskset -a -p -c 0 ${router.child.pid} >/dev/null`]);
  const wrk = (seconds: string) =>
    run(
      'taskset',
      [
        '-c',
        '1',
        'wrk',
        '-t1',
        `-c${values.connections}`,
        `-d${seconds}s`,
        '--latency',
        '-H',
        `Host: ${scenario.host}`,
        '-H',
        `X-Routing-Api-Key: ${KEY}`,
        `http://127.0.0.1:${router.port}/`,
      ],
      { encoding: 'utf8' },
    ).then((result) => result.stdout);
  // The upstream lives in this process: wrk must run asynchronously.
  await wrk('2');
  const before = scriptCalls();
  const out = await wrk(values.duration);
  const calls = scriptCalls() - before;
  await router.stop();
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/([0-9]+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: ([0-9]+)/.exec(out)?.[1] ?? 0);
  const p50 = /50%\s+([0-9.]+)(us|ms|s)/.exec(out);
  const p99 = /99%\s+([0-9.]+)(us|ms|s)/.exec(out);
  if (baseline === 0) baseline = rps;
  rows.push(
    `| ${scenario.name} | ${Math.round(rps)} | ${(rps / baseline).toFixed(2)} | ${p50 ? toMs(p50[1] as string, p50[2] as string).toFixed(2) : '?'} | ${p99 ? toMs(p99[1] as string, p99[2] as string).toFixed(2) : '?'} | ${requests > 0 ? (calls / requests).toFixed(3) : '0'} | ${non2xx} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
process.stdout.write(
  [
    `wrk -t1 -c${values.connections} -d${values.duration}s; podrouter-public alone on core 0; node ${process.version}; redis ${redis.cli('INFO', 'server').match(/redis_version:([0-9.]+)/)?.[1]}`,
    '',
    '| scenario | req/s | vs no policy | p50 ms | p99 ms | Redis calls/request | non-2xx |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
upstream.close();
await redis.close();
