/**
 * The load generator: wrk, one thread, its figures read from a Lua `done()` hook the harness
 * writes (requests, errors and the latency percentiles up to p99.9 in µs, from wrk's own
 * histogram) rather than from its human-readable text.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuMs, pinned } from './cpu.ts';

export interface Load {
  readonly name: string;
  readonly connections: number;
  /** Each connection waits this long after a response before its next request (0 = closed loop). */
  readonly delayMs: number;
  readonly describe: string;
  /**
   * For this load the proxy is moved onto the load generator's core (and back after): every
   * hop is a context switch on one core instead of a wake-up of an idle core (on a VM, an
   * interrupt through the hypervisor), so c1 shows the proxy's own latency.
   */
  readonly proxyOnLoadCore?: boolean;
}

/** The loads every proxy cell runs by default. */
export const LOADS: readonly Load[] = [
  {
    name: 'c32',
    connections: 32,
    delayMs: 0,
    describe: 'wrk, 32 connections, closed loop (saturates the proxy core)',
  },
  {
    name: 'c1',
    connections: 1,
    delayMs: 0,
    describe: 'wrk, 1 connection, one request at a time (latency with the proxy otherwise idle)',
  },
  {
    name: 'c1-one-core',
    connections: 1,
    delayMs: 0,
    describe:
      'c1 with the proxy moved onto the core of wrk and the upstream (no cross-core wake-ups; opt-in)',
    proxyOnLoadCore: true,
  },
  {
    name: 'paced',
    connections: 8,
    delayMs: 1,
    describe:
      'wrk, 8 connections each waiting 1 ms between requests (a few thousand req/s, below saturation)',
  },
];

export interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Socket errors and non-2xx/3xx responses. */
  readonly errors: number;
}

const MARK = 'HARNESS';

/** Lua for wrk: optional think time, and a `done()` that prints one line `parseWrk` reads. */
export function wrkScript(delayMs: number): string {
  return `${delayMs > 0 ? `function delay()\n  return ${delayMs}\nend\n` : ''}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("${MARK} requests=%d duration_us=%d errors=%d p50=%d p90=%d p99=%d p999=%d max=%d\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
`;
}

export function parseWrk(output: string): WrkResult {
  const line = output.split('\n').find((l) => l.startsWith(`${MARK} `));
  if (line === undefined) throw new Error(`no ${MARK} line in wrk output:\n${output}`);
  const fields = new Map(
    line
      .slice(MARK.length + 1)
      .trim()
      .split(' ')
      .map((pair) => {
        const [name = '', value = ''] = pair.split('=');
        return [name, Number(value)] as const;
      }),
  );
  const field = (name: string) => {
    const value = fields.get(name);
    if (value === undefined || Number.isNaN(value)) throw new Error(`wrk: no ${name} in ${line}`);
    return value;
  };
  const requests = field('requests');
  return {
    requests,
    rps: requests / (field('duration_us') / 1e6),
    p50Ms: field('p50') / 1000,
    p90Ms: field('p90') / 1000,
    p99Ms: field('p99') / 1000,
    p999Ms: field('p999') / 1000,
    maxMs: field('max') / 1000,
    errors: field('errors'),
  };
}

export interface WrkRun {
  readonly url: string;
  readonly load: Load;
  readonly seconds: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Cores wrk is pinned to. */
  readonly cores: string;
  /** A directory for the generated Lua script. */
  readonly dir: string;
}

/** Runs wrk; resolves with its result and the CPU it used (ms, read just before it exited). */
export async function runWrk(run: WrkRun): Promise<{ result: WrkResult; cpuMs: number }> {
  const script = join(run.dir, `wrk-${run.load.delayMs}.lua`);
  writeFileSync(script, wrkScript(run.load.delayMs));
  const args = pinned(run.cores, [
    'wrk',
    '-t1',
    `-c${run.load.connections}`,
    `-d${run.seconds}s`,
    '-s',
    script,
    ...Object.entries(run.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    run.url,
  ]);
  const child = spawn('nice', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const pid = child.pid as number;
  let used = 0;
  const poll = setInterval(() => {
    used = Math.max(used, cpuMs([pid]));
  }, 200);
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  clearInterval(poll);
  if (code !== 0) throw new Error(`wrk failed (${code}):\n${out}`);
  return { result: parseWrk(out), cpuMs: used };
}
