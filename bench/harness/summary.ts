/** Repetitions of one cell → its medians. */
import type { Sample } from './measure.ts';
import { max, median, min } from './stats.ts';

export interface Summary {
  readonly target: string;
  readonly load: string;
  readonly reps: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** The lowest p99 of the repetitions: contention from other work only ever adds latency. */
  readonly p99BestMs: number;
  readonly proxyCores: number | undefined;
  /** Requests per CPU-second of the proxy: throughput per core actually used. */
  readonly rpsPerProxyCore: number | undefined;
  readonly proxyUserUs: number | undefined;
  readonly proxySysUs: number | undefined;
  readonly coresBusy: readonly number[];
  readonly errors: number;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

export function summarize(samples: readonly Sample[]): Summary[] {
  const out: Summary[] = [];
  const keys = [...new Set(samples.map((s) => `${s.load}\u0000${s.target}`))];
  for (const key of keys) {
    const [load, target] = key.split('\u0000') as [string, string];
    const group = samples.filter((s) => s.load === load && s.target === target);
    const proxied = group.every((s) => s.proxyCores !== undefined);
    const of = (pick: (s: Sample) => number) => median(group.map(pick));
    out.push({
      target,
      load,
      reps: group.length,
      rps: Math.round(of((s) => s.rps)),
      rpsMin: Math.round(min(group.map((s) => s.rps))),
      rpsMax: Math.round(max(group.map((s) => s.rps))),
      p50Ms: of((s) => s.p50Ms),
      p99Ms: of((s) => s.p99Ms),
      p999Ms: of((s) => s.p999Ms),
      p99BestMs: min(group.map((s) => s.p99Ms)),
      proxyCores: proxied ? of((s) => s.proxyCores as number) : undefined,
      rpsPerProxyCore: proxied
        ? Math.round(of((s) => s.rps / Math.max(s.proxyCores as number, 0.01)))
        : undefined,
      proxyUserUs: proxied ? round1(of((s) => s.proxyUserUs as number)) : undefined,
      proxySysUs: proxied ? round1(of((s) => s.proxySysUs as number)) : undefined,
      coresBusy: (group[0]?.coresBusy ?? []).map((_, core) => of((s) => s.coresBusy[core] ?? 0)),
      errors: group.reduce((sum, s) => sum + s.errors, 0),
    });
  }
  return out;
}
