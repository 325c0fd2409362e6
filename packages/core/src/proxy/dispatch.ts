import { channels } from '../observability/channels.ts';
import type { Endpoint } from '../routes/types.ts';
import type { FailureKind, UpstreamOutcome } from './engine.ts';
import type { Exchange } from './exchange.ts';

/**
 * One upstream try of an exchange, and the steps composed around it (undici's interceptors
 * are the model): each step sees every attempt and its outcome, so retries, ejection and
 * publishing hold alike for plain requests and upgrades, by construction.
 */

export interface Attempt {
  readonly endpoint: Endpoint;
  /** 0 for the first try. */
  readonly retries: number;
}

/** Runs one attempt; `done` is called exactly once, with the attempt that settled it. */
export type Dispatch = (
  exchange: Exchange,
  attempt: Attempt,
  done: (outcome: UpstreamOutcome, attempt: Attempt) => void,
) => void;

export type Interceptor = (next: Dispatch) => Dispatch;

/** `compose(base, a, b)` runs a(b(base)): the first interceptor is the outermost. */
export function compose(base: Dispatch, ...interceptors: readonly Interceptor[]): Dispatch {
  return interceptors.reduceRight<Dispatch>((next, interceptor) => interceptor(next), base);
}

/** Failures after which nothing reached the upstream, or a stale keep-alive connection broke. */
const RETRYABLE = new Set<FailureKind>([
  'connect-refused',
  'connect-timeout',
  'connect-local',
  'connection-lost',
]);

/**
 * One retry on another endpoint, only when it is safe: the exchange is retryable (idempotent
 * method, no body), nothing of the response reached the client, and the failure means the
 * Pod did not process the request. A lost keep-alive connection may retry on the same Pod.
 */
export const retryOnce: Interceptor = (next) => (exchange, attempt, done) => {
  next(exchange, attempt, (outcome, settled) => {
    const failure = outcome.failure;
    if (
      failure === undefined ||
      !exchange.retryable ||
      settled.retries > 0 ||
      failure.responseStarted ||
      !RETRYABLE.has(failure.kind) ||
      exchange.clientGone
    ) {
      done(outcome, settled);
      return;
    }
    const route = exchange.route;
    const other =
      route?.balancer.pick(settled.endpoint) ??
      (failure.kind === 'connection-lost' ? settled.endpoint : undefined);
    if (other === undefined) done(outcome, settled);
    else next(exchange, { endpoint: other, retries: settled.retries + 1 }, done);
  });
};

/**
 * An endpoint that refused or timed out a connection gets no traffic for a while. Not one
 * the router itself could not connect to (`connect-local`: out of descriptors or ports):
 * ejecting healthy Pods would not give the router its resources back.
 */
export const ejectOnConnectFailure =
  (eject: (endpointKey: string) => void): Interceptor =>
  (next) =>
  (exchange, attempt, done) => {
    next(exchange, attempt, (outcome, settled) => {
      const kind = outcome.failure?.kind;
      if (kind === 'connect-refused' || kind === 'connect-timeout') eject(settled.endpoint.key);
      done(outcome, settled);
    });
  };

/** How many leading entries of `now` are still `before`'s, in whole name/value pairs. */
function samePrefix(before: readonly string[], now: readonly string[]): number {
  const length = Math.min(before.length, now.length);
  let i = 0;
  while (i < length && before[i] === now[i]) i++;
  return i - (i % 2);
}

/**
 * Diagnostics-channel events for each attempt (tracing subscribes to them). A subscriber may
 * rewrite the upstream fields (the tracer removes the inbound propagation fields and appends
 * its own): the entries the strict parser vouched for (`checkedHeaders`) shrink to those still
 * in place, so a field that moved up into that prefix is checked by the engine all the same.
 */
export const publishAttempts: Interceptor = (next) => (exchange, attempt, done) => {
  if (!channels.upstreamRequest.hasSubscribers && !channels.upstreamResponse.hasSubscribers) {
    next(exchange, attempt, done);
    return;
  }
  const { req, route, upgrade } = exchange;
  if (channels.upstreamRequest.hasSubscribers) {
    const headers = exchange.headers;
    const checked = exchange.checkedHeaders;
    const vouched = checked > 0 ? headers.slice(0, checked) : undefined;
    channels.upstreamRequest.publish({
      req,
      route,
      endpoint: attempt.endpoint,
      headers,
      retries: attempt.retries,
      upgrade,
    });
    if (vouched !== undefined) exchange.checkedHeaders = samePrefix(vouched, exchange.headers);
  }
  next(exchange, attempt, (outcome, settled) => {
    if (channels.upstreamResponse.hasSubscribers)
      channels.upstreamResponse.publish({
        req,
        endpoint: settled.endpoint,
        status: outcome.status,
        retries: settled.retries,
        failure: outcome.failure?.kind,
        upgrade,
      });
    done(outcome, settled);
  });
};
