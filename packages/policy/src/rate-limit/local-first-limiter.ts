import type { Cluster, Redis } from 'ioredis';
import type { Availability } from './availability.ts';
import type { ResolvedLimits } from './config.ts';
import { takeFromRedis } from './redis-client.ts';
import type { Decision, Limiter, Outcome } from './types.ts';

interface Bucket {
  /** Leased requests not yet spent. */
  tokens: number;
  expiresAt: number;
  /** The answer Redis gave with the lease; remaining counts are shown minus local spending. */
  decision: Decision;
  /** A denial is remembered until Redis said to retry (capped by the lease TTL). */
  deniedUntil: number;
  pending: Promise<void> | undefined;
}

/**
 * Leases up to `lease` requests per consumer from Redis with the same atomic script and
 * spends them locally, so most requests are decided without a round trip.
 *
 * Error bound, documented in docs/policy.md: leases come out of the shared budget atomically,
 * so in any window the replicas together admit at most `limit + replicas × (lease − 1)`
 * (requests leased just before a window boundary are spent just after it) and, when traffic
 * stops with leases unspent, at least `limit − replicas × (lease − 1)` of what a perfect
 * limiter would admit. Unspent leases expire after `leaseTtlMs`.
 */
export class LocalFirstLimiter implements Limiter {
  readonly #client: Redis | Cluster;
  readonly #availability: Availability;
  readonly #lease: number;
  readonly #leaseTtlMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #sweepAt = 0;

  constructor(
    client: Redis | Cluster,
    availability: Availability,
    options: { lease: number; leaseTtlMs: number; now?: () => number },
  ) {
    this.#client = client;
    this.#availability = availability;
    this.#lease = Math.max(1, options.lease);
    this.#leaseTtlMs = options.leaseTtlMs;
    this.#now = options.now ?? Date.now;
  }

  /** The lease for these limits: at most 10% of the smallest limit, at least 1. */
  leaseFor(limits: ResolvedLimits): number {
    return Math.max(1, Math.min(this.#lease, Math.floor(limits.smallest / 10)));
  }

  take(counterKey: string, limits: ResolvedLimits): Outcome | Promise<Outcome> {
    const now = this.#now();
    this.#sweep(now);
    const bucket = this.#buckets.get(counterKey);
    if (bucket !== undefined) {
      const spent = this.#spend(bucket, now);
      if (spent !== undefined) return spent;
      if (bucket.pending) return bucket.pending.then(() => this.#afterLease(counterKey, limits));
    }
    if (!this.#availability.usable()) return 'unavailable';
    return this.#refill(counterKey, limits).then(() => this.#afterLease(counterKey, limits));
  }

  #spend(bucket: Bucket, now: number): Decision | undefined {
    if (now < bucket.deniedUntil) return { ...bucket.decision, allowed: false };
    if (bucket.tokens > 0 && now < bucket.expiresAt) {
      bucket.tokens--;
      return {
        allowed: true,
        retryAfterMs: 0,
        windows: bucket.decision.windows.map((window) => ({
          ...window,
          remaining: window.remaining + bucket.tokens,
        })),
      };
    }
    return undefined;
  }

  /** After a lease arrived: spend from it, or (others spent it first) lease again. */
  #afterLease(counterKey: string, limits: ResolvedLimits): Outcome | Promise<Outcome> {
    const bucket = this.#buckets.get(counterKey);
    if (bucket === undefined) return 'unavailable';
    return this.#spend(bucket, this.#now()) ?? this.take(counterKey, limits);
  }

  #refill(counterKey: string, limits: ResolvedLimits): Promise<void> {
    const bucket: Bucket = this.#buckets.get(counterKey) ?? {
      tokens: 0,
      expiresAt: 0,
      decision: { allowed: false, retryAfterMs: 0, windows: [] },
      deniedUntil: 0,
      pending: undefined,
    };
    this.#buckets.set(counterKey, bucket);
    bucket.pending = takeFromRedis(this.#client, counterKey, limits, this.leaseFor(limits)).then(
      ({ granted, decision }) => {
        this.#availability.succeeded();
        const now = this.#now();
        bucket.tokens = granted;
        bucket.expiresAt = now + this.#leaseTtlMs;
        bucket.decision = decision;
        bucket.deniedUntil =
          granted === 0 ? now + Math.max(1, Math.min(decision.retryAfterMs, this.#leaseTtlMs)) : 0;
        bucket.pending = undefined;
      },
      (error: unknown) => {
        this.#availability.failed(error);
        this.#buckets.delete(counterKey);
      },
    );
    return bucket.pending;
  }

  /** Drops expired buckets now and then, so idle consumers cost no memory. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + 10_000;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.pending === undefined && now >= bucket.expiresAt && now >= bucket.deniedUntil)
        this.#buckets.delete(key);
    }
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
