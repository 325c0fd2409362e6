import type { Cluster, Redis } from 'ioredis';
import type { Availability } from './availability.ts';
import type { ResolvedLimits } from './config.ts';
import { takeFromRedis } from './redis-client.ts';
import type { Limiter, Outcome } from './types.ts';

/** One script call per request: exact across replicas, one Redis round trip each. */
export class RemoteLimiter implements Limiter {
  readonly #client: Redis | Cluster;
  readonly #availability: Availability;

  constructor(client: Redis | Cluster, availability: Availability) {
    this.#client = client;
    this.#availability = availability;
  }

  take(counterKey: string, limits: ResolvedLimits): Outcome | Promise<Outcome> {
    if (!this.#availability.usable()) return 'unavailable';
    return takeFromRedis(this.#client, counterKey, limits, 1).then(
      ({ decision }) => {
        this.#availability.succeeded();
        return decision;
      },
      (error: unknown) => {
        this.#availability.failed(error);
        return 'unavailable' as const;
      },
    );
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
