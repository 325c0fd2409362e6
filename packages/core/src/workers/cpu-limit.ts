import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * The container's CPU limit, from the cgroup files the kernel exposes: the Pod's
 * `resources.limits.cpu` becomes a CFS quota (cgroup v2 `cpu.max` "QUOTA PERIOD", v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`). The limit of a cgroup also bounds its
 * descendants, so the smallest one on the path from the process's cgroup to the root counts.
 * `undefined` when no limit is set (quota `max` or -1) or nothing can be read.
 */
export function cgroupCpuLimit(root = '/'): number | undefined {
  const membership = read(join(root, 'proc/self/cgroup'));
  if (membership === undefined) return undefined;
  const limits: number[] = [];
  for (const line of membership.split('\n')) {
    // "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1).
    const match = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, controllers = '', path = '/'] = match;
    if (controllers === '') {
      for (const dir of ancestors(path)) {
        const limit = parseCpuMax(read(join(root, 'sys/fs/cgroup', dir, 'cpu.max')));
        if (limit !== undefined) limits.push(limit);
      }
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
        for (const dir of ancestors(path)) {
          const base = join(root, 'sys/fs/cgroup', mount, dir);
          const limit = parseCfsQuota(
            read(join(base, 'cpu.cfs_quota_us')),
            read(join(base, 'cpu.cfs_period_us')),
          );
          if (limit !== undefined) limits.push(limit);
        }
      }
    }
  }
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** `cpu.max` of cgroup v2: "max 100000" (no limit) or "150000 100000" (1.5 CPUs). */
export function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period = '100000'] = (text ?? '').trim().split(/\s+/);
  if (quota === undefined || quota === '' || quota === 'max') return undefined;
  return ratio(quota, period);
}

/** cgroup v1: a quota of -1 means no limit. */
export function parseCfsQuota(
  quota: string | undefined,
  period: string | undefined,
): number | undefined {
  if (quota === undefined || period === undefined) return undefined;
  return ratio(quota.trim(), period.trim());
}

function ratio(quota: string, period: string): number | undefined {
  if (!/^\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  const cpus = Number(quota) / Number(period);
  return cpus > 0 && Number.isFinite(cpus) ? cpus : undefined;
}

/** "/a/b" → "/a/b", "/a", "/". */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter((part) => part !== '' && part !== '..');
  return parts.map((_, index) => `/${parts.slice(0, parts.length - index).join('/')}`).concat('/');
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * `WORKERS=auto`: the CPU limit rounded up (a 1.5-CPU Pod gets 2 workers, sharing the quota,
 * rather than one process that can never use the half), at least 1, and never more than the
 * cores the process may run on. Without a limit, 1: a Pod without a CPU limit on a 64-core
 * node must not start 64 workers inside a memory limit sized for one.
 */
export function defaultWorkers(
  limit: number | undefined = cgroupCpuLimit(),
  cores: number = availableParallelism(),
): number {
  const wanted = limit === undefined ? 1 : Math.ceil(limit - 1e-9);
  return Math.max(1, Math.min(wanted, cores));
}
