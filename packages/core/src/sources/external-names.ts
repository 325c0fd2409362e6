import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { ResolvedName } from '../backends/types.ts';
import { type Clock, realClock } from '../kube/clock.ts';
import type { ClusterState, StateChanges } from '../pods/types.ts';
import type { Source, SourceListener } from './types.ts';

/** The part of `dns.promises.Resolver` used here (a fake in unit tests). */
export interface NameResolver {
  resolve4(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
}

export interface ExternalNamesOptions {
  readonly resolver?: NameResolver;
  readonly clock?: Clock;
  /** A record's TTL is held within [floor, ceiling]: 0-TTL answers must not spin the resolver,
   * and a day-long TTL must not pin addresses that moved. */
  readonly floorMs?: number;
  readonly ceilingMs?: number;
  /** After a failure, the next attempt (the last addresses are kept meanwhile). */
  readonly retryMs?: number;
}

interface Name {
  resolved: ResolvedName | undefined;
  cancel: () => void;
  services: Set<string>;
  stopped: boolean;
}

/**
 * Wraps a source: resolves the DNS names of its `ExternalName` Services (A and AAAA, through
 * the system's resolver, so in a Pod the cluster's DNS), re-resolves each when its TTL runs
 * out, and emits the source's states with `externalNames` added. A change of addresses marks
 * the Services of that name changed, so only their hosts are rebuilt. A name that stops
 * resolving keeps its last addresses, with the failure reported on its Services.
 */
export class ExternalNameSource implements Source {
  readonly kind: string;
  readonly #inner: Source;
  readonly #resolver: NameResolver;
  readonly #clock: Clock;
  readonly #floorMs: number;
  readonly #ceilingMs: number;
  readonly #retryMs: number;
  readonly #names = new Map<string, Name>();
  #last: ClusterState | undefined;
  #innerSequence: number | undefined;
  #sequence = 0;
  #changed = new Set<string>();
  #stopped = false;

  constructor(inner: Source, options: ExternalNamesOptions = {}) {
    this.kind = inner.kind;
    this.#inner = inner;
    this.#resolver = options.resolver ?? new dns.Resolver();
    this.#clock = options.clock ?? realClock;
    this.#floorMs = options.floorMs ?? 5000;
    this.#ceilingMs = options.ceilingMs ?? 300_000;
    this.#retryMs = options.retryMs ?? 5000;
  }

  start(listener: SourceListener): void {
    this.#inner.start({
      onState: (state) => this.#onState(state, listener),
      onError: (error) => listener.onError(error),
    });
  }

  #onState(state: ClusterState, listener: SourceListener): void {
    const wanted = new Map<string, Set<string>>();
    for (const service of state.services ?? []) {
      if (service.type !== 'ExternalName' || service.externalName === '') continue;
      const key = `${service.namespace}/${service.name}`;
      const set = wanted.get(service.externalName);
      if (set) set.add(key);
      else wanted.set(service.externalName, new Set([key]));
    }
    for (const [name, entry] of this.#names) {
      if (wanted.has(name)) continue;
      entry.stopped = true;
      entry.cancel();
      this.#names.delete(name);
    }
    for (const [name, services] of wanted) {
      const entry = this.#names.get(name);
      if (entry) entry.services = services;
      else this.#watch(name, services, listener);
    }
    const follows =
      state.changes !== undefined &&
      this.#innerSequence !== undefined &&
      state.changes.since === this.#innerSequence;
    this.#innerSequence = state.sequence;
    this.#last = state;
    this.#emit(listener, follows ? state.changes : 'whole');
  }

  /** Sends the last source state with the names as they are now. */
  #emit(listener: SourceListener, from: StateChanges | 'whole' | undefined): void {
    const state = this.#last;
    if (state === undefined || this.#stopped) return;
    const externalNames = new Map<string, ResolvedName>();
    for (const [name, entry] of this.#names) {
      if (entry.resolved !== undefined) externalNames.set(name, entry.resolved);
    }
    const { changes: _, sequence, ...rest } = state;
    if (sequence === undefined) {
      // The source rebuilds the whole table every time; nothing to number.
      this.#changed = new Set();
      listener.onState({ ...rest, externalNames });
      return;
    }
    const since = this.#sequence++;
    const changes = from === 'whole' ? undefined : from;
    const services = new Set([...(changes?.services ?? []), ...this.#changed]);
    this.#changed = new Set();
    const base = { ...rest, externalNames, sequence: this.#sequence };
    listener.onState(
      from === 'whole' || since === 0
        ? base
        : {
            ...base,
            // A re-resolution changes Services only: the source's last Pod changes are applied.
            changes: {
              since,
              pods: changes?.pods ?? new Map(),
              secretNamespaces: changes?.secretNamespaces ?? new Set(),
              services,
            },
          },
    );
  }

  #watch(name: string, services: Set<string>, listener: SourceListener): void {
    const entry: Name = { resolved: undefined, cancel: () => undefined, services, stopped: false };
    this.#names.set(name, entry);
    const attempt = async () => {
      let next: ResolvedName;
      let delay: number;
      try {
        const { addresses, ttlMs } = await this.#resolve(name);
        next = { addresses };
        delay = Math.min(this.#ceilingMs, Math.max(this.#floorMs, ttlMs));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        next = {
          addresses: entry.resolved?.addresses ?? [],
          error: code ?? (error as Error).message,
        };
        delay = this.#retryMs;
      }
      if (entry.stopped || this.#stopped) return;
      if (!sameName(entry.resolved, next)) {
        entry.resolved = next;
        for (const service of entry.services) this.#changed.add(service);
        this.#emit(listener, undefined);
      }
      entry.cancel = this.#clock.after(delay, () => void attempt());
    };
    void attempt();
  }

  async #resolve(name: string): Promise<{ addresses: string[]; ttlMs: number }> {
    // Not a name at all: nothing to resolve, nothing to refresh.
    if (isIP(name) !== 0) return { addresses: [name], ttlMs: this.#ceilingMs };
    const answers = await Promise.allSettled([
      this.#resolver.resolve4(name, { ttl: true }),
      this.#resolver.resolve6(name, { ttl: true }),
    ]);
    const records = answers.flatMap((answer) =>
      answer.status === 'fulfilled' ? answer.value : [],
    );
    if (records.length === 0) {
      const failed = answers.find((answer) => answer.status === 'rejected');
      throw failed?.status === 'rejected' ? failed.reason : new Error('no A or AAAA record');
    }
    const addresses = [...new Set(records.map((record) => record.address))].sort();
    return { addresses, ttlMs: Math.min(...records.map((record) => record.ttl)) * 1000 };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#names.values()) {
      entry.stopped = true;
      entry.cancel();
    }
    await this.#inner.stop();
  }
}

function sameName(a: ResolvedName | undefined, b: ResolvedName): boolean {
  return (
    a !== undefined &&
    a.error === b.error &&
    a.addresses.length === b.addresses.length &&
    a.addresses.every((address, index) => address === b.addresses[index])
  );
}
