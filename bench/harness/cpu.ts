/**
 * CPU accounting from /proc and CPU pinning with taskset: on a shared machine the figure
 * that compares proxies is requests per CPU-second the proxy actually got, not requests/s.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** nice(1) increment of every process started through `pinned` (set once from --nice). */
let niceness = 0;
export function setNiceness(value: number): void {
  niceness = value;
}

/**
 * `nice` arguments that run `args` pinned to `cores` (`0`, `1`, `0,1`): nice, taskset and
 * the command exec each other, so the child's pid is the command's.
 */
export const pinned = (cores: string, args: readonly string[]): string[] => [
  '-n',
  String(niceness),
  'taskset',
  '-c',
  cores,
  ...args,
];

export interface CpuTimes {
  readonly user: number;
  readonly sys: number;
}

/** utime and stime of processes and all their descendants, in ms. */
export function cpuTimes(pids: readonly number[]): CpuTimes {
  let user = 0;
  let sys = 0;
  const visit = (id: number) => {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]) * TICK_MS;
      sys += Number(fields[12]) * TICK_MS;
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const kids = readFileSync(`/proc/${id}/task/${task}/children`, 'utf8').trim();
        for (const kid of kids ? kids.split(' ') : []) visit(Number(kid));
      }
    } catch {
      // The process ended between two reads: it has no more CPU to count.
    }
  };
  for (const pid of pids) visit(pid);
  return { user, sys };
}

/** Processes and all their descendants. */
export function withDescendants(pids: readonly number[]): number[] {
  const out: number[] = [];
  const visit = (id: number) => {
    out.push(id);
    try {
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const kids = readFileSync(`/proc/${id}/task/${task}/children`, 'utf8').trim();
        for (const kid of kids ? kids.split(' ') : []) visit(Number(kid));
      }
    } catch {
      // Gone meanwhile.
    }
  };
  for (const pid of pids) visit(pid);
  return out;
}

/** Moves running processes (every thread, every descendant) onto `cores`. */
export function repin(pids: readonly number[], cores: string): void {
  for (const pid of withDescendants(pids)) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
    } catch {
      // Gone meanwhile.
    }
  }
}

export const cpuMs = (pids: readonly number[]): number => {
  const { user, sys } = cpuTimes(pids);
  return user + sys;
};

/** Busy and total jiffies of every core. */
export function coreTimes(): { busy: number; total: number }[] {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const out: { busy: number; total: number }[] = [];
  for (const line of lines) {
    if (!/^cpu\d+ /.test(line)) continue;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((sum, value) => sum + value, 0);
    out.push({ busy: total - idle, total });
  }
  return out;
}

/** Busy fraction of each core between two `coreTimes()` readings. */
export function busyBetween(
  a: readonly { busy: number; total: number }[],
  b: readonly { busy: number; total: number }[],
): number[] {
  return b.map((after, core) => {
    const before = a[core] ?? { busy: 0, total: 0 };
    return after.total === before.total
      ? 0
      : (after.busy - before.busy) / (after.total - before.total);
  });
}

/**
 * On a shared machine: wait (at most `maxMs`) until all cores together were less than
 * `threshold` busy over one second, so a cell starts in a quiet moment. Returns the wait.
 */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<number> {
  const started = performance.now();
  while (threshold > 0 && performance.now() - started < maxMs) {
    const a = coreTimes();
    await new Promise((done) => setTimeout(done, 1000));
    const busy = busyBetween(a, coreTimes());
    if (busy.reduce((sum, value) => sum + value, 0) / busy.length < threshold) break;
  }
  return Math.round(performance.now() - started);
}
