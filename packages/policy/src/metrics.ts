import { Tallies, type Tally } from '@podrouter/core';
import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The policy's Prometheus metrics. Labels hold only fixed words and the router tier: never a
 * namespace-supplied value, a key, a key id or a token.
 */
export class PolicyMetrics {
  readonly registry = new Registry();
  readonly #tier: string;
  readonly #auth: Counter<'tier' | 'result'>;
  readonly #limits: Counter<'tier' | 'result'>;
  readonly #clientRate: Counter<'tier' | 'result'>;
  readonly #unavailable: Counter<'tier'>;
  readonly #up: Gauge<'tier'>;
  readonly #closedNamespaces: Gauge<'tier'>;

  constructor(tier: string) {
    this.#tier = tier;
    const registers = [this.registry];
    this.#auth = new Counter({
      name: 'podrouter_policy_auth_total',
      help: 'Credential checks by result: accepted, missing (401), refused (403), invalid_token (401), closed (namespace misconfigured, 503).',
      labelNames: ['tier', 'result'],
      registers,
      collect: () => this.#tallies.flush(),
    });
    this.#limits = new Counter({
      name: 'podrouter_policy_rate_limit_total',
      help: 'Rate-limit decisions: allowed, limited (429), failed_open, failed_closed (503).',
      labelNames: ['tier', 'result'],
      registers,
      collect: () => this.#tallies.flush(),
    });
    this.#clientRate = new Counter({
      name: 'podrouter_policy_client_rate_total',
      help: "CLIENT_RATE_LIMIT decisions shared through Redis: allowed, limited (429), fallback (Redis away: the replica's in-memory limit decided).",
      labelNames: ['tier', 'result'],
      registers,
      collect: () => this.#tallies.flush(),
    });
    this.#unavailable = new Counter({
      name: 'podrouter_policy_rate_limiter_errors_total',
      help: 'Redis calls that failed or timed out.',
      labelNames: ['tier'],
      registers,
    });
    this.#up = new Gauge({
      name: 'podrouter_policy_rate_limiter_up',
      help: '1 while Redis answers, 0 after a failure until it answers again.',
      labelNames: ['tier'],
      // WORKERS > 1: each worker has its own connection; 0 if any of them is down.
      aggregator: 'min',
      registers,
    });
    this.#closedNamespaces = new Gauge({
      name: 'podrouter_policy_closed_namespaces',
      help: 'Namespaces whose routes are closed because their key or JWKS Secret field is invalid.',
      labelNames: ['tier'],
      // WORKERS > 1: every worker reads the same Secrets; counted once.
      aggregator: 'max',
      registers,
    });
    this.#up.labels(tier).set(1);
  }

  /** Tallies per result, added to the counters when scraped: no label hashing per request. */
  readonly #tallies = new Tallies();
  readonly #children = new Map<Counter<'tier' | 'result'>, Map<string, Tally>>();

  #count(counter: Counter<'tier' | 'result'>, result: string): void {
    let byResult = this.#children.get(counter);
    if (byResult === undefined) {
      byResult = new Map();
      this.#children.set(counter, byResult);
    }
    let tally = byResult.get(result);
    if (tally === undefined) {
      tally = this.#tallies.of(() => counter.labels(this.#tier, result));
      byResult.set(result, tally);
    }
    tally.count++;
  }

  auth(result: 'accepted' | 'missing' | 'refused' | 'invalid_token' | 'closed'): void {
    this.#count(this.#auth, result);
  }

  limit(result: 'allowed' | 'limited' | 'failed_open' | 'failed_closed'): void {
    this.#count(this.#limits, result);
  }

  clientRate(result: 'allowed' | 'limited' | 'fallback'): void {
    this.#count(this.#clientRate, result);
  }

  limiterUnavailable(): void {
    this.#unavailable.labels(this.#tier).inc();
  }

  limiterUp(up: boolean): void {
    this.#up.labels(this.#tier).set(up ? 1 : 0);
  }

  closedNamespaces(count: number): void {
    this.#closedNamespaces.labels(this.#tier).set(count);
  }
}
