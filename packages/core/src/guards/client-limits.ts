import type { Problem } from '../proxy/problem.ts';

/**
 * Per-client guards (nginx `limit_req` and `limit_conn` keyed by the client address): a
 * request rate with a burst (GCRA: one timestamp per client) and a number of requests in
 * flight at once, in memory per replica. With a shared rate store (the policy extension's
 * Redis, `SharedClientRate`), the rate holds across replicas too: a request must pass both
 * the replica's own count and the shared one, and when the store cannot answer the replica's
 * own count decides alone (fail open to the in-memory limit). Requests in flight stay per
 * replica: a count that must be given back when a request ends cannot survive a replica
 * that dies with requests open, and one Redis round trip more per request end is not worth
 * it for a guard against a client hogging one replica's connections.
 */

/** What a shared store says about one more request of a client. */
export type SharedVerdict =
  | { readonly allowed: boolean; readonly retryAfterMs: number }
  /** The store did not answer (Redis down or slow): the in-memory limit decides. */
  | 'unavailable';

/**
 * A request-rate count shared by the replicas (implemented outside the core, e.g. by the
 * policy extension on Redis), for the rate of CLIENT_RATE_LIMIT / CLIENT_RATE_BURST.
 */
export interface SharedClientRate {
  take(client: string): SharedVerdict | Promise<SharedVerdict>;
}

export interface ClientLimitOptions {
  /** Requests per second allowed on average; 0 = no rate limit. */
  readonly ratePerSecond: number;
  /** Requests allowed at once above the rate (a client may send burst + 1 back to back). */
  readonly burst: number;
  /** Requests in flight per client; 0 = unlimited. */
  readonly maxConcurrent: number;
  /** Clients remembered at most; the oldest are forgotten first (memory bound). */
  readonly maxClients?: number;
  /** Shares the rate across replicas; the in-memory count stays as the fallback. */
  readonly shared?: SharedClientRate;
  readonly now?: () => number;
}

export type Admission =
  | { readonly admitted: true; readonly release: () => void }
  | { readonly admitted: false; readonly problem: Problem };

const NOOP = () => undefined;
const ADMITTED: Admission = { admitted: true, release: NOOP };

const tooMany = (waitMs: number): Admission => ({
  admitted: false,
  problem: {
    status: 429,
    title: 'Too many requests',
    detail: 'This client sends requests faster than the router allows; see Retry-After.',
    headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
  },
});

export class ClientLimits {
  readonly #intervalMs: number;
  readonly #toleranceMs: number;
  readonly #maxConcurrent: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  readonly #shared: SharedClientRate | undefined;
  /** GCRA theoretical arrival time per client, ms. Insertion order ≈ age (re-set on use). */
  readonly #arrival = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();

  constructor(options: ClientLimitOptions) {
    this.#intervalMs = options.ratePerSecond > 0 ? 1000 / options.ratePerSecond : 0;
    this.#toleranceMs = this.#intervalMs * options.burst;
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxClients = options.maxClients ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#shared = this.#intervalMs > 0 ? options.shared : undefined;
  }

  get enabled(): boolean {
    return this.#intervalMs > 0 || this.#maxConcurrent > 0;
  }

  /**
   * Counts one request of `client`; the caller calls `release` when it is over. A promise
   * only with a shared store (one round trip to it).
   */
  admit(client: string): Admission | Promise<Admission> {
    if (this.#intervalMs > 0) {
      const now = this.#now();
      const arrival = Math.max(this.#arrival.get(client) ?? now, now);
      const waitMs = arrival - this.#toleranceMs - now;
      // Over the rate on this replica alone is over it everywhere: no need to ask the store.
      if (waitMs > 0) return tooMany(waitMs);
      this.#arrival.delete(client);
      this.#arrival.set(client, arrival + this.#intervalMs);
      if (this.#arrival.size > this.#maxClients) this.#forgetOldest(now);
    }
    if (this.#shared !== undefined) {
      const verdict = this.#shared.take(client);
      // A store that fails instead of answering 'unavailable' is unavailable too: an
      // extension's rejected promise must not become an unhandled rejection on the hot path.
      return verdict instanceof Promise
        ? verdict.then(
            (settled) => this.#afterShared(client, settled),
            () => this.#afterShared(client, 'unavailable'),
          )
        : this.#afterShared(client, verdict);
    }
    return this.#inFlightSlot(client);
  }

  #afterShared(client: string, verdict: SharedVerdict): Admission {
    if (verdict !== 'unavailable' && !verdict.allowed) return tooMany(verdict.retryAfterMs);
    return this.#inFlightSlot(client);
  }

  #inFlightSlot(client: string): Admission {
    if (this.#maxConcurrent === 0) return ADMITTED;
    const current = this.#inFlight.get(client) ?? 0;
    if (current >= this.#maxConcurrent) {
      return {
        admitted: false,
        problem: {
          status: 503,
          title: 'Too many concurrent requests',
          detail: 'This client has too many requests in flight; retry when one is done.',
          headers: { 'retry-after': '1' },
        },
      };
    }
    this.#inFlight.set(client, current + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#inFlight.get(client) ?? 1) - 1;
        if (left <= 0) this.#inFlight.delete(client);
        else this.#inFlight.set(client, left);
      },
    };
  }

  /** Clients currently remembered (for tests and metrics). */
  get size(): number {
    return this.#arrival.size + this.#inFlight.size;
  }

  /** Drops clients whose arrival time has passed (they are back to a full burst), oldest first. */
  #forgetOldest(now: number): void {
    for (const [client, arrival] of this.#arrival) {
      if (this.#arrival.size <= this.#maxClients && arrival > now) break;
      this.#arrival.delete(client);
    }
  }
}
