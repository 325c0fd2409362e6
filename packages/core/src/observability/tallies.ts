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
