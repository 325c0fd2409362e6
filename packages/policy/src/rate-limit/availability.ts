import type { Logger } from '@podrouter/core';
import { PolicyErrorCodes } from '../errors.ts';
import type { PolicyMetrics } from '../metrics.ts';

/**
 * Whether Redis is usable. After a failure Redis is skipped for `pauseMs` (so a slow Redis
 * costs at most one timeout per pause, not one per request); the next call after the pause
 * probes it again. One log line on each transition, the metric on every failure.
 */
export class Availability {
  readonly #log: Logger;
  readonly #metrics: PolicyMetrics;
  readonly #pauseMs: number;
  readonly #now: () => number;
  #pausedUntil = 0;
  #down = false;

  constructor(options: {
    logger: Logger;
    metrics: PolicyMetrics;
    pauseMs?: number;
    now?: () => number;
  }) {
    this.#log = options.logger;
    this.#metrics = options.metrics;
    this.#pauseMs = options.pauseMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** False while paused after a failure: the caller must not wait for Redis. */
  usable(): boolean {
    return this.#pausedUntil === 0 || this.#now() >= this.#pausedUntil;
  }

  failed(error: unknown): void {
    this.#pausedUntil = this.#now() + this.#pauseMs;
    this.#metrics.limiterUnavailable();
    if (!this.#down) {
      this.#down = true;
      this.#metrics.limiterUp(false);
      this.#log.error(
        { code: PolicyErrorCodes.RATE_LIMITER_UNAVAILABLE, reason: (error as Error).message },
        'rate limiter unavailable: Redis did not answer; limits fail open or closed as configured',
      );
    }
  }

  succeeded(): void {
    this.#pausedUntil = 0;
    if (this.#down) {
      this.#down = false;
      this.#metrics.limiterUp(true);
      this.#log.info('rate limiter recovered: Redis answers again');
    }
  }
}
