import type { HookResponse, HookResult } from '@podrouter/core';
import type { PolicyMetrics } from '../metrics.ts';
import { PHASES, type PolicyContext, type StepDefinition } from '../pipeline/types.ts';
import { limitsForNamespace, type RateLimitConfig, type ResolvedLimits } from './config.ts';
import type { Decision, Limiter, Outcome } from './types.ts';

export interface RateLimitStepOptions {
  readonly config: RateLimitConfig;
  readonly limiter: Limiter;
  readonly tier: string;
  readonly failureMode: 'open' | 'closed';
  readonly metrics: PolicyMetrics;
}

const UNAVAILABLE: HookResponse = {
  status: 503,
  title: 'Rate limiter unavailable',
  detail: 'Limits cannot be checked at the moment; retry shortly.',
  headers: { 'retry-after': '1' },
};

/** `RateLimit` (IETF httpapi draft): the window closest to its limit. */
function rateLimitHeader(decision: Decision): string | undefined {
  let tightest = decision.windows[0];
  for (const window of decision.windows) {
    if (tightest === undefined || window.remaining < tightest.remaining) tightest = window;
  }
  if (tightest === undefined) return undefined;
  return `"${tightest.name}";r=${tightest.remaining};t=${Math.max(0, Math.ceil(tightest.resetMs / 1000))}`;
}

/**
 * The rate-limit step: counts each consumer (API key, JWT subject, or `anonymous` for a whole
 * namespace on open routes) against the limits of its plan in the route's namespace.
 */
export function rateLimitStep(options: RateLimitStepOptions): StepDefinition {
  const { limiter, metrics } = options;
  const byNamespace = new Map<string, ReadonlyMap<string, ResolvedLimits>>();
  const answer = (outcome: Outcome, limits: ResolvedLimits, context: PolicyContext): HookResult => {
    if (outcome === 'unavailable') {
      if (options.failureMode === 'open') {
        metrics.limit('failed_open');
        return 'continue';
      }
      metrics.limit('failed_closed');
      return UNAVAILABLE;
    }
    context.responseHeaders.set('ratelimit-policy', limits.policyHeader);
    const header = rateLimitHeader(outcome);
    if (header !== undefined) context.responseHeaders.set('ratelimit', header);
    if (outcome.allowed) {
      metrics.limit('allowed');
      return 'continue';
    }
    metrics.limit('limited');
    return {
      status: 429,
      title: 'Too many requests',
      detail: 'The rate limit or quota of this consumer is reached; see Retry-After.',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))) },
    };
  };
  return {
    name: 'rate-limit',
    order: PHASES['rate-limit'],
    compile(route) {
      let plans = byNamespace.get(route.namespace);
      if (plans === undefined) {
        plans = limitsForNamespace(options.config, route.namespace);
        byNamespace.set(route.namespace, plans);
      }
      if (plans.size === 0) return null;
      const byPlan = plans;
      const fallback = byPlan.get('default');
      const anonymous = byPlan.get('anonymous');
      const prefix = `${options.tier}:${route.namespace}:`;
      return (context) => {
        const consumer = context.consumer;
        const limits =
          consumer === undefined || consumer.kind === 'anonymous'
            ? anonymous
            : (byPlan.get(consumer.plan ?? 'default') ?? fallback);
        if (limits === undefined) return 'continue';
        const outcome = limiter.take(prefix + (consumer?.id ?? 'anonymous'), limits);
        return outcome instanceof Promise
          ? outcome.then((settled) => answer(settled, limits, context))
          : answer(outcome, limits, context);
      };
    },
  };
}
