import type { SharedClientRate, SharedVerdict } from '@podrouter/core';
import type { PolicyMetrics } from '../metrics.ts';
import type { ResolvedLimits } from './config.ts';
import type { Limiter, Outcome } from './types.ts';

/**
 * CLIENT_RATE_LIMIT / CLIENT_RATE_BURST (the core's per-client guard) counted in Redis by
 * the policy's limiter, so the rate holds across replicas. The core's GCRA lets `burst + 1`
 * requests through at once and one more every `1/rate` s; the limiter's GCRA window of
 * `burst + 1` requests per `(burst + 1)/rate` s is the same curve.
 */
export function clientRateLimits(perSecond: number, burst: number): ResolvedLimits {
  const limit = burst + 1;
  return {
    windows: [{ name: 'second', limit, periodMs: (limit * 1000) / perSecond }],
    day: 0,
    policyHeader: '',
    smallest: limit,
  };
}

/**
 * Counter keys are `TIER/client/ADDRESS`: consumer keys are `TIER:NAMESPACE:ID`, so the two
 * never meet, whatever a namespace or an address is called.
 */
export function sharedClientRate(options: {
  readonly limiter: Limiter;
  readonly tier: string;
  readonly perSecond: number;
  readonly burst: number;
  readonly metrics: PolicyMetrics;
}): SharedClientRate {
  const { limiter, metrics } = options;
  const limits = clientRateLimits(options.perSecond, options.burst);
  const prefix = `${options.tier}/client/`;
  const verdict = (outcome: Outcome): SharedVerdict => {
    if (outcome === 'unavailable') {
      metrics.clientRate('fallback');
      return 'unavailable';
    }
    metrics.clientRate(outcome.allowed ? 'allowed' : 'limited');
    return { allowed: outcome.allowed, retryAfterMs: outcome.retryAfterMs };
  };
  return {
    take(client) {
      const outcome = limiter.take(prefix + client, limits);
      return outcome instanceof Promise ? outcome.then(verdict) : verdict(outcome);
    },
  };
}
