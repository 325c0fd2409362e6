/**
 * Tracing benchmark: what spans and access logs cost the public build, in requests per
 * router CPU-second and latency, against the same build with both off. One run, one machine,
 * variants interleaved round by round, ratios at the end. Built on the shared harness
 * (bench/harness): the same upstream, wrk parsing, CPU accounting and pinning as bench/proxy.
 *
 * The router process is pinned alone to core 0; wrk (one thread, 32 connections, closed
 * loop), the upstream (nginx `return 200`) and the OTLP sink (bench/harness/otlp-sink.ts, a
 * real HTTP server that drops the protobuf bodies) share core 1.
 *
 *   scripts/node.sh bench/tracing/run.ts                # markdown table on stdout
 *   scripts/node.sh bench/tracing/run.ts --seconds 5    # shorter runs
 *   scripts/node.sh bench/tracing/run.ts --json
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { clusterFile, routerEnv } from '../harness/cluster.ts';
import { pinned } from '../harness/cpu.ts';
import { measure, type Sample } from '../harness/measure.ts';
import { freePort, waitFor } from '../harness/net.ts';
import { nginxArgs, upstreamConfig } from '../harness/nginx.ts';
import { Processes } from '../harness/processes.ts';
import { table } from '../harness/report.ts';
import { fixed } from '../harness/stats.ts';
import { type Summary, summarize } from '../harness/summary.ts';
import { LOADS, type Load } from '../harness/wrk.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE = join(ROOT, 'scripts/node.sh');
const HOST = 'bench.local';
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const ROUNDS = Number(args.rounds);

interface Variant {
  readonly name: string;
  readonly env: (sink: string) => Record<string, string>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'off (no tracing, no access log)', env: () => ({ ACCESS_LOG: 'off' }) },
  {
    name: 'tracing on (batch exporter, every request)',
    env: (sink) => ({ ACCESS_LOG: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: sink }),
  },
  {
    name: 'tracing sampled 10% (parentbased_traceidratio 0.1)',
    env: (sink) => ({
      ACCESS_LOG: 'off',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    }),
  },
  { name: 'access log on (no tracing)', env: () => ({ ACCESS_LOG: 'on' }) },
  {
    name: 'tracing on + access log',
    env: (sink) => ({ ACCESS_LOG: 'on', OTEL_EXPORTER_OTLP_ENDPOINT: sink }),
  },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'podrouter-bench-tracing-'));
  const processes = new Processes();
  processes.stopOnSignals();
  const load = LOADS.find((l) => l.name === 'c32') as Load;
  const samples: Sample[] = [];
  try {
    const upstreamPort = await freePort();
    const upstream = processes.start(
      'nice',
      pinned('1', nginxArgs(dir, 'upstream', upstreamConfig(dir, '127.0.0.1', upstreamPort))),
    );
    const sinkPort = await freePort();
    processes.start(
      'nice',
      pinned('1', [NODE, join(ROOT, 'bench/harness/otlp-sink.ts'), String(sinkPort)]),
    );
    const sink = `http://127.0.0.1:${sinkPort}`;
    const file = clusterFile(join(dir, 'cluster.json'), [
      { tier: 'public', namespace: 'bench', host: HOST, podIp: '127.0.0.1', port: upstreamPort },
    ]);
    await waitFor(`http://127.0.0.1:${upstreamPort}/`);
    await sleep(300);
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of VARIANTS) {
        const port = await freePort();
        const adminPort = await freePort();
        const router = processes.start(
          'nice',
          pinned('0', [NODE, join(ROOT, 'packages/public/bin/podrouter-public.js')]),
          routerEnv(file, port, adminPort, { LOG_LEVEL: 'info', ...variant.env(sink) }),
          { optional: true },
        );
        try {
          await waitFor(`http://127.0.0.1:${adminPort}/readyz`);
          const target = {
            name: variant.name,
            url: `http://127.0.0.1:${port}/`,
            headers: { Host: HOST },
            pids: [router.pid as number],
          };
          const options = { loadCores: '1', upstreamPids: [upstream.pid as number], dir };
          await measure(target, load, { ...options, seconds: WARMUP });
          const sample = { ...(await measure(target, load, { ...options, seconds: SECONDS })) };
          samples.push({ ...sample, rep: round, waitedMs: 0 });
          process.stderr.write(
            `${variant.name}: ${Math.round(sample.rps)} req/s, ${Math.round(sample.rps / Math.max(sample.proxyCores ?? 1, 0.01))} per CPU-s, p99 ${sample.p99Ms} ms\n`,
          );
        } finally {
          const exited = new Promise((done) => router.once('exit', done));
          router.kill('SIGKILL');
          await exited;
        }
      }
    }
  } finally {
    await processes.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const summaries = summarize(samples);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ samples, summaries }, null, 2)}\n`);
    return;
  }
  const off = summaries[0] as Summary;
  const vsOff = (s: Summary) =>
    fixed(
      s.rpsPerProxyCore === undefined || off.rpsPerProxyCore === undefined
        ? undefined
        : s.rpsPerProxyCore / off.rpsPerProxyCore,
      2,
    );
  process.stdout.write(
    `${table(
      [
        { title: 'variant', align: 'left', cell: (s: Summary) => s.target },
        { title: 'req/s', cell: (s) => String(s.rps) },
        { title: 'req per router CPU-s', cell: (s) => String(s.rpsPerProxyCore ?? '–') },
        { title: 'vs off (per CPU-s)', cell: (s) => `${vsOff(s)}×` },
        { title: 'p50 ms', cell: (s) => s.p50Ms.toFixed(2) },
        { title: 'p99 ms', cell: (s) => s.p99Ms.toFixed(2) },
        { title: 'p99.9 ms', cell: (s) => s.p999Ms.toFixed(2) },
      ],
      summaries,
    )}\n`,
  );
}

await main();
