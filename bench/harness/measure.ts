/**
 * One cell: wrk against one target for one load, with the CPU every process of the target
 * used over the same window, so the report can give requests per proxy CPU-second.
 */
import { busyBetween, coreTimes, cpuMs, cpuTimes, repin } from './cpu.ts';
import { type Load, runWrk, type WrkResult } from './wrk.ts';

export interface Target {
  readonly name: string;
  readonly url: string;
  /** wrk's extra headers (Host, an API key). */
  readonly headers: Readonly<Record<string, string>>;
  /** The processes whose CPU is the proxy's (descendants included); empty for direct. */
  readonly pids: readonly number[];
  /** The cores the proxy is pinned to (restored after a load that moves it). */
  readonly cores?: string;
}

export interface Sample extends WrkResult {
  readonly target: string;
  readonly load: string;
  readonly rep: number;
  /** How long the cell waited for a quiet machine before it started. */
  readonly waitedMs: number;
  /** CPU the proxy used during the run, in cores (1 = one core fully busy). */
  readonly proxyCores: number | undefined;
  /** The proxy's user and kernel CPU per request, µs. */
  readonly proxyUserUs: number | undefined;
  readonly proxySysUs: number | undefined;
  readonly upstreamCores: number;
  readonly wrkCores: number;
  /** Busy fraction of each core over the run, whoever used it. */
  readonly coresBusy: readonly number[];
}

export interface MeasureOptions {
  readonly seconds: number;
  readonly loadCores: string;
  readonly upstreamPids: readonly number[];
  readonly dir: string;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

export async function measure(
  target: Target,
  load: Load,
  options: MeasureOptions,
): Promise<Omit<Sample, 'rep' | 'waitedMs'>> {
  const moved = load.proxyOnLoadCore === true && target.pids.length > 0;
  if (moved) repin(target.pids, options.loadCores);
  try {
    return await measured(target, load, options);
  } finally {
    if (moved) repin(target.pids, target.cores ?? '0');
  }
}

async function measured(
  target: Target,
  load: Load,
  options: MeasureOptions,
): Promise<Omit<Sample, 'rep' | 'waitedMs'>> {
  const cores0 = coreTimes();
  const proxy0 = cpuTimes(target.pids);
  const upstream0 = cpuMs(options.upstreamPids);
  const started = performance.now();
  const { result, cpuMs: wrkMs } = await runWrk({
    url: target.url,
    load,
    seconds: options.seconds,
    headers: target.headers,
    cores: options.loadCores,
    dir: options.dir,
  });
  const elapsedMs = performance.now() - started;
  const proxy1 = cpuTimes(target.pids);
  const cores1 = coreTimes();
  const proxied = target.pids.length > 0;
  const perRequestUs = (ms: number) =>
    result.requests === 0 ? Number.NaN : Math.round((10 * 1000 * ms) / result.requests) / 10;
  return {
    ...result,
    target: target.name,
    load: load.name,
    proxyCores: proxied
      ? round3((proxy1.user + proxy1.sys - proxy0.user - proxy0.sys) / elapsedMs)
      : undefined,
    proxyUserUs: proxied ? perRequestUs(proxy1.user - proxy0.user) : undefined,
    proxySysUs: proxied ? perRequestUs(proxy1.sys - proxy0.sys) : undefined,
    upstreamCores: round3((cpuMs(options.upstreamPids) - upstream0) / elapsedMs),
    wrkCores: round3(wrkMs / elapsedMs),
    coresBusy: busyBetween(cores0, cores1).map(round3),
  };
}
