import type { Route } from './types.ts';

type Paths = ReadonlyMap<string, Route>;

/** How many changed hosts a table carries on top of its base before a new base is made. */
const MAX_DELTA = 256;

/**
 * The `hosts` of a route table that shares all but the changed hosts with the tables before
 * it: a base Map (never written after it is made, shared) and a small delta Map of the hosts
 * changed since (`undefined` = removed). A change copies the delta, not the 10 000 hosts, so
 * each table costs the garbage of its changes only; once the delta reaches MAX_DELTA hosts it
 * is folded into a new base (the one full copy per that many changes).
 *
 * A lookup is one `Map.get` in the delta (small) and one in the base.
 */
export class HostMap implements ReadonlyMap<string, Paths> {
  readonly #base: ReadonlyMap<string, Paths>;
  readonly #delta: ReadonlyMap<string, Paths | undefined>;
  readonly size: number;

  private constructor(
    base: ReadonlyMap<string, Paths>,
    delta: ReadonlyMap<string, Paths | undefined>,
    size: number,
  ) {
    this.#base = base;
    this.#delta = delta;
    this.size = size;
  }

  static from(hosts: ReadonlyMap<string, Paths>): HostMap {
    return new HostMap(hosts, new Map(), hosts.size);
  }

  /** A new map with `changes` applied (`undefined` removes a host). */
  with(changes: ReadonlyMap<string, Paths | undefined>): HostMap {
    const delta = new Map(this.#delta);
    let size = this.size;
    for (const [host, paths] of changes) {
      const had = this.has(host);
      if (paths === undefined) {
        if (had) size--;
        if (this.#base.has(host)) delta.set(host, undefined);
        else delta.delete(host);
      } else {
        if (!had) size++;
        delta.set(host, paths);
      }
    }
    if (delta.size < MAX_DELTA) return new HostMap(this.#base, delta, size);
    const base = new Map(this.#base);
    for (const [host, paths] of delta) {
      if (paths === undefined) base.delete(host);
      else base.set(host, paths);
    }
    return new HostMap(base, new Map(), base.size);
  }

  get(host: string): Paths | undefined {
    const changed = this.#delta.get(host);
    if (changed !== undefined) return changed;
    return this.#delta.has(host) ? undefined : this.#base.get(host);
  }

  has(host: string): boolean {
    return this.get(host) !== undefined;
  }

  *entries(): MapIterator<[string, Paths]> {
    for (const [host, paths] of this.#base) {
      if (!this.#delta.has(host)) yield [host, paths];
    }
    for (const [host, paths] of this.#delta) if (paths !== undefined) yield [host, paths];
  }

  *keys(): MapIterator<string> {
    for (const [host] of this.entries()) yield host;
  }

  *values(): MapIterator<Paths> {
    for (const [, paths] of this.entries()) yield paths;
  }

  forEach(fn: (paths: Paths, host: string, map: ReadonlyMap<string, Paths>) => void): void {
    for (const [host, paths] of this.entries()) fn(paths, host, this);
  }

  [Symbol.iterator](): MapIterator<[string, Paths]> {
    return this.entries();
  }
}
