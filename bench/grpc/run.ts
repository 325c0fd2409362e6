/**
 * HTTP/2 and gRPC through podrouter against the same calls made directly (issue 12).
 *
 *   scripts/node.sh bench/grpc/run.ts [--seconds 5] [--reps 3] [--json]
 *
 * Targets: the upstream directly, and podrouter-private (file source, one Pod whose ports are
 * named `grpc` and `h2c`, so it speaks h2c upstream) in front of it. Loads, each a closed
 * loop on ONE HTTP/2 connection as gRPC clients use it:
 *   - grpc c1 / c32: grpc-js unary calls (128-byte message), 1 or 32 in flight;
 *   - h2 c1 / c32: node:http2 GETs, 1 or 32 streams in flight.
 * The load generator is this process (Node, like the router), so it shares the two cores
 * with the router and the upstream: figures compare targets measured back to back, in an
 * order that rotates every repetition. Load average is recorded with every cell.
 * Benchmark, not test: nothing here passes or fails on a figure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { table } from '../harness/report.ts';
import { median } from '../harness/stats.ts';
import { BENCH_SERVICE } from './service.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HOST = '127.0.0.3';
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    reps: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const REPS = Number(args.reps);

interface Cell {
  readonly target: string;
  readonly load: string;
  readonly rep: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly load1: number;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);

/** Runs `one` with `concurrency` in flight for `seconds`; latency of each completed call. */
async function closedLoop(
  concurrency: number,
  seconds: number,
  one: () => Promise<boolean>,
): Promise<{ rps: number; p50Ms: number; p99Ms: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const ok = await one();
      if (ok) latencies.push(performance.now() - started);
      else errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps: latencies.length / elapsed,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    errors,
  };
}

const GrpcClient = makeGenericClientConstructor(BENCH_SERVICE, 'Echo');
const MESSAGE = Buffer.alloc(128, 120);

function grpcLoad(address: string, authority: string, concurrency: number, seconds: number) {
  const client = new GrpcClient(address, credentials.createInsecure(), {
    'grpc.default_authority': authority,
  });
  const call = () =>
    new Promise<boolean>((resolveCall) =>
      client.makeUnaryRequest(
        BENCH_SERVICE.Echo.path,
        BENCH_SERVICE.Echo.requestSerialize,
        BENCH_SERVICE.Echo.responseDeserialize,
        MESSAGE,
        (error) => resolveCall(error === null),
      ),
    );
  return closedLoop(concurrency, seconds, call).finally(() => client.close());
}

async function h2Load(address: string, authority: string, concurrency: number, seconds: number) {
  const session = h2connect(`http://${address}`);
  await once(session, 'connect');
  const get = () =>
    new Promise<boolean>((resolveGet) => {
      const stream = session.request({ ':path': '/', ':authority': authority });
      let status = 0;
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('error', () => resolveGet(false));
      stream.resume();
      stream.on('end', () => resolveGet(status === 200));
    });
  try {
    return await closedLoop(concurrency, seconds, get);
  } finally {
    session.close();
  }
}

function readLine(child: ChildProcess, predicate: (line: Record<string, unknown>) => boolean) {
  return new Promise<Record<string, unknown>>((resolveLine, reject) => {
    let buffered = '';
    const onData = (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          if (predicate(line)) {
            child.stdout?.off('data', onData);
            resolveLine(line);
            return;
          }
        } catch {
          // not a JSON line
        }
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before the line came`)));
  });
}

const podYaml = (grpcPort: number, h2Port: number) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'bench-1',
          namespace: 'bench',
          uid: 'uid-bench-1',
          creationTimestamp: '2026-01-01T00:00:00Z',
          labels: { routable: 'true' },
          annotations: {
            privateHosts: 'grpc.bench h2.bench',
            privatePaths: `${grpcPort}:/bench.Echo ${h2Port}:/`,
          },
        },
        spec: {
          containers: [
            {
              name: 'app',
              ports: [
                { name: 'grpc', containerPort: grpcPort },
                { name: 'h2c', containerPort: h2Port },
              ],
            },
          ],
        },
        status: { phase: 'Running', podIP: HOST, conditions: [{ type: 'Ready', status: 'True' }] },
      },
    ],
  });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'podrouter-bench-grpc-'));
  const backend = spawn(process.execPath, [join(import.meta.dirname, 'backend.ts'), HOST], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { grpcPort, h2Port } = (await readLine(backend, (line) => 'grpcPort' in line)) as {
    grpcPort: number;
    h2Port: number;
  };
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, podYaml(grpcPort, h2Port));
  const router = spawn(
    process.execPath,
    [join(ROOT, 'packages/private/bin/podrouter-private.js')],
    {
      env: {
        PATH: process.env.PATH ?? '',
        SOURCE: 'file',
        SOURCE_FILE: file,
        PORT: '0',
        ADMIN_PORT: '0',
        INTROSPECTION_PORT: '0',
        TLS_PORT: 'off',
        LISTEN_ADDRESS: '127.0.0.1',
        SHUTDOWN_DELAY: '0',
        LOG_LEVEL: 'info',
        ACCESS_LOG: 'off',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const listening = readLine(router, (line) => line.msg === 'listening');
  const routerPort = (await listening).port as number;
  await readLine(router, (line) => line.msg === 'route table applied');

  const targets = [
    { name: 'direct', grpc: grpcPort, h2: h2Port, host: HOST },
    { name: 'podrouter', grpc: routerPort, h2: routerPort, host: '127.0.0.1' },
  ];
  const loads = [
    {
      name: 'grpc c1',
      run: (t: (typeof targets)[0], s: number) =>
        grpcLoad(`${t.host}:${t.grpc}`, 'grpc.bench', 1, s),
    },
    {
      name: 'grpc c32',
      run: (t: (typeof targets)[0], s: number) =>
        grpcLoad(`${t.host}:${t.grpc}`, 'grpc.bench', 32, s),
    },
    {
      name: 'h2 c1',
      run: (t: (typeof targets)[0], s: number) => h2Load(`${t.host}:${t.h2}`, 'h2.bench', 1, s),
    },
    {
      name: 'h2 c32',
      run: (t: (typeof targets)[0], s: number) => h2Load(`${t.host}:${t.h2}`, 'h2.bench', 32, s),
    },
  ];
  const cells: Cell[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const load of loads) {
        for (const target of order) {
          await load.run(target, WARMUP);
          const measured = await load.run(target, SECONDS);
          const cell = {
            target: target.name,
            load: load.name,
            rep,
            ...measured,
            load1: loadavg()[0] ?? 0,
          };
          cells.push(cell);
          process.stderr.write(`${JSON.stringify(cell)}\n`);
        }
      }
    }
  } finally {
    router.kill('SIGTERM');
    backend.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = loads.flatMap((load) =>
    targets.map((target) => {
      const runs = cells.filter((c) => c.load === load.name && c.target === target.name);
      return {
        load: load.name,
        target: target.name,
        rps: Math.round(median(runs.map((c) => c.rps))),
        p50Ms: Number(median(runs.map((c) => c.p50Ms)).toFixed(3)),
        p99Ms: Number(median(runs.map((c) => c.p99Ms)).toFixed(3)),
        errors: runs.reduce((sum, c) => sum + c.errors, 0),
        load1: `${Math.min(...runs.map((c) => c.load1)).toFixed(2)}–${Math.max(...runs.map((c) => c.load1)).toFixed(2)}`,
      };
    }),
  );
  if (args.json) process.stdout.write(`${JSON.stringify({ cells, summary }, null, 2)}\n`);
  else {
    type Row = (typeof summary)[number];
    process.stdout.write(
      `${table<Row>(
        [
          { title: 'load', align: 'left', cell: (row) => row.load },
          { title: 'target', align: 'left', cell: (row) => row.target },
          { title: 'req/s', cell: (row) => String(row.rps) },
          { title: 'p50 ms', cell: (row) => String(row.p50Ms) },
          { title: 'p99 ms', cell: (row) => String(row.p99Ms) },
          { title: 'errors', cell: (row) => String(row.errors) },
          { title: 'load avg (1 min)', cell: (row) => row.load1 },
        ],
        summary,
      )}\n`,
    );
  }
}

await main();
