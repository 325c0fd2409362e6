/**
 * Request-path counters kept in plain numbers and added to their prom-client counter when it
 * is collected (scraped). prom-client's own label children hash and validate their label
 * values on every `inc()`; a tally costs one property increment per request.
 *
 *   const tallies = new Tallies();
 *   new Counter({ ..., collect: () => tallies.flush() });
 *   const ok = tallies.of(() => counter.labels('public', '200'));   // once, off the hot path
 *   ok.count++;                                                      // per request
 */
export interface Tally {
  count: number;
}

interface Entry {
  readonly tally: Tally;
  readonly child: { inc(value: number): void };
}

export class Tallies {
  #entries: Entry[] = [];

  /** A tally added to the child `resolve()` gives (called once, now). */
  of(resolve: () => { inc(value: number): void }): Tally {
    const tally: Tally = { count: 0 };
    this.#entries.push({ tally, child: resolve() });
    return tally;
  }

  /** Adds every pending count to its counter. */
  flush(): void {
    for (const { tally, child } of this.#entries) {
      if (tally.count === 0) continue;
      child.inc(tally.count);
      tally.count = 0;
    }
  }

  /** Flushes, then forgets every tally (those handed out count for nothing afterwards). */
  clear(): void {
    this.flush();
    this.#entries = [];
  }
}

/** prom-client's stored series of a histogram (15.x: `hashMap` of these, by label hash). */
interface HistogramSeries {
  labels: Record<string, string | number>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

interface HistogramInternals {
  hashMap?: Record<string, HistogramSeries>;
  zero(labels: Record<string, string | number>): void;
}

/**
 * One histogram series (fixed labels) observed in plain numbers and folded into prom-client's
 * series when the histogram is collected: `observe()` is a bucket search and three additions,
 * where prom-client's converts, validates and hashes the labels on every observation. What
 * `/metrics` prints is what prom-client would have printed for the same observations (its
 * tests compare the two), because prom-client still formats and aggregates the series.
 *
 *   const tally = new HistogramTally(buckets);
 *   const h = new Histogram({ ..., buckets, collect: () => tally.flushInto(h, { tier }) });
 *   tally.observe(seconds);                                         // per request
 */
export class HistogramTally {
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative), as prom-client keeps them; above the last bound: none. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.#counts[i] = (this.#counts[i] as number) + 1;
        break;
      }
    }
    this.#sum += value;
    this.#count++;
  }

  /** Adds the pending observations to the histogram's series with these labels. */
  flushInto(histogram: object, labels: Record<string, string | number>): void {
    if (this.#count === 0) return;
    const internals = histogram as HistogramInternals;
    let series = findSeries(internals, labels);
    if (series === undefined) {
      internals.zero(labels);
      series = findSeries(internals, labels);
      if (series === undefined)
        throw new Error(
          'prom-client changed how it stores histograms: HistogramTally needs updating',
        );
    }
    for (let i = 0; i < this.#bounds.length; i++) {
      const key = String(this.#bounds[i]);
      series.bucketValues[key] = (series.bucketValues[key] ?? 0) + (this.#counts[i] as number);
      this.#counts[i] = 0;
    }
    series.sum += this.#sum;
    series.count += this.#count;
    this.#sum = 0;
    this.#count = 0;
  }
}

function findSeries(
  histogram: HistogramInternals,
  labels: Record<string, string | number>,
): HistogramSeries | undefined {
  const names = Object.keys(labels);
  for (const series of Object.values(histogram.hashMap ?? {})) {
    const own = Object.keys(series.labels);
    if (own.length === names.length && names.every((name) => series.labels[name] === labels[name]))
      return series;
  }
  return undefined;
}
