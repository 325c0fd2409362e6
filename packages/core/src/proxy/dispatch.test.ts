import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import { RoundRobin } from '../balancer/round-robin.ts';
import { channels } from '../observability/channels.ts';
import type { Endpoint, Route } from '../routes/types.ts';
import {
  type Attempt,
  compose,
  type Dispatch,
  ejectOnConnectFailure,
  publishAttempts,
  retryOnce,
} from './dispatch.ts';
import type { FailureKind, UpstreamOutcome } from './engine.ts';
import { Exchange } from './exchange.ts';

/** The steps around the engine, against a fake engine that answers from a script. */

const endpoint = (n: number): Endpoint => ({
  key: `10.0.0.${n}:80`,
  origin: `http://10.0.0.${n}:80`,
  ip: `10.0.0.${n}`,
  port: 80,
  protocol: 'http1',
  namespace: 'ns',
  podName: `pod-${n}`,
});

const EP1 = endpoint(1);
const EP2 = endpoint(2);

function exchangeFor(endpoints: Endpoint[], retryable = true): Exchange {
  const req = new IncomingMessage(new Socket());
  const exchange = new Exchange(req, undefined, new Socket(), undefined, false);
  exchange.route = {
    host: 'h',
    path: '/',
    namespace: 'ns',
    claimedAt: 0,
    balancer: new RoundRobin(endpoints, new EndpointHealth({ ejectionMs: 1000 })),
    access: null,
    pipeline: null,
  } satisfies Route;
  exchange.retryable = retryable;
  return exchange;
}

const failure = (kind: FailureKind, responseStarted = false): UpstreamOutcome => ({
  status: 0,
  failure: { kind, error: new Error(kind), responseStarted },
});

/** A fake engine: answers each attempt with the next scripted outcome, and logs it. */
function scripted(outcomes: UpstreamOutcome[]) {
  const attempts: Attempt[] = [];
  const base: Dispatch = (_exchange, attempt, done) => {
    attempts.push(attempt);
    done(outcomes.shift() ?? { status: 200 }, attempt);
  };
  return { base, attempts };
}

function run(dispatch: Dispatch, exchange: Exchange, first: Endpoint) {
  let calls = 0;
  let result: { outcome: UpstreamOutcome; attempt: Attempt } | undefined;
  dispatch(exchange, { endpoint: first, retries: 0 }, (outcome, attempt) => {
    calls++;
    result = { outcome, attempt };
  });
  assert.equal(calls, 1, 'done is called exactly once');
  return result as { outcome: UpstreamOutcome; attempt: Attempt };
}

describe('dispatch steps', () => {
  it('composes with the first step outermost', () => {
    const order: string[] = [];
    const step =
      (name: string) =>
      (next: Dispatch): Dispatch =>
      (exchange, attempt, done) => {
        order.push(name);
        next(exchange, attempt, done);
      };
    const { base } = scripted([]);
    run(compose(base, step('a'), step('b')), exchangeFor([EP1]), EP1);
    assert.deepEqual(order, ['a', 'b']);
  });

  it('retries once elsewhere after a refused connection, and ejects the refusing endpoint', () => {
    const ejected: string[] = [];
    const { base, attempts } = scripted([failure('connect-refused')]);
    const dispatch = compose(
      base,
      retryOnce,
      ejectOnConnectFailure((key) => ejected.push(key)),
    );
    const { outcome, attempt } = run(dispatch, exchangeFor([EP1, EP2]), EP1);
    assert.equal(outcome.status, 200);
    assert.deepEqual(
      attempts.map((a) => [a.endpoint.key, a.retries]),
      [
        [EP1.key, 0],
        [EP2.key, 1],
      ],
    );
    assert.equal(attempt.endpoint, EP2);
    assert.deepEqual(ejected, [EP1.key]);
  });

  it('retries once elsewhere when the router could not connect, and ejects nobody', () => {
    const ejected: string[] = [];
    const { base, attempts } = scripted([failure('connect-local')]);
    const dispatch = compose(
      base,
      retryOnce,
      ejectOnConnectFailure((key) => ejected.push(key)),
    );
    const { outcome } = run(dispatch, exchangeFor([EP1, EP2]), EP1);
    assert.equal(outcome.status, 200);
    assert.deepEqual(
      attempts.map((a) => a.endpoint.key),
      [EP1.key, EP2.key],
    );
    assert.deepEqual(ejected, []);
  });

  it('never retries twice, nor a non-retryable exchange, nor after the response started', () => {
    for (const [outcomes, retryable, expected] of [
      [[failure('connect-refused'), failure('connect-refused')], true, 2],
      [[failure('connect-refused')], false, 1],
      [[failure('connection-lost', true)], true, 1],
      [[failure('timeout')], true, 1],
      [[failure('request-body')], true, 1],
    ] as const) {
      const { base, attempts } = scripted([...outcomes]);
      const { outcome } = run(compose(base, retryOnce), exchangeFor([EP1, EP2], retryable), EP1);
      assert.equal(attempts.length, expected);
      assert.ok(outcome.failure);
    }
  });

  it('retries a lost keep-alive connection on the same endpoint when it is the only one', () => {
    const { base, attempts } = scripted([failure('connection-lost')]);
    run(compose(base, retryOnce), exchangeFor([EP1]), EP1);
    assert.deepEqual(
      attempts.map((a) => a.endpoint.key),
      [EP1.key, EP1.key],
    );
  });

  it('does not retry for a client that is gone', () => {
    const { base, attempts } = scripted([failure('connect-refused')]);
    const exchange = exchangeFor([EP1, EP2]);
    exchange.client.destroy();
    run(compose(base, retryOnce), exchange, EP1);
    assert.equal(attempts.length, 1);
  });

  it('ejects only on connect failures', () => {
    const ejected: string[] = [];
    for (const kind of [
      'connect-local',
      'timeout',
      'connection-lost',
      'request-body',
      'client-gone',
    ] as const) {
      const { base } = scripted([failure(kind)]);
      run(
        compose(
          base,
          ejectOnConnectFailure((key) => ejected.push(key)),
        ),
        exchangeFor([EP1]),
        EP1,
      );
    }
    assert.deepEqual(ejected, []);
  });

  it('passes outcomes through unchanged when nobody subscribes to the channels', () => {
    const { base } = scripted([{ status: 204 }]);
    const { outcome } = run(compose(base, publishAttempts), exchangeFor([EP1]), EP1);
    assert.equal(outcome.status, 204);
  });

  it('shrinks the fields the parser vouched for to those a subscriber left in place', () => {
    const exchange = exchangeFor([EP1]);
    // Two client fields the strict parser read, then the router's own.
    exchange.headers = ['accept', '*/*', 'baggage', 'a=1', 'x-forwarded-host', 'h'];
    exchange.checkedHeaders = 4;
    const seen: number[] = [];
    const base: Dispatch = (ex, attempt, done) => {
      seen.push(ex.checkedHeaders);
      done(attempt.retries === 0 ? failure('connection-lost') : { status: 200 }, attempt);
    };
    // As the tracer does: the inbound propagation field removed, its own appended.
    const removeBaggage = (message: unknown) => {
      const { headers } = message as { headers: string[] };
      const at = headers.indexOf('baggage');
      if (at >= 0) headers.splice(at, 2);
      headers.push('traceparent', '00-x');
    };
    channels.upstreamRequest.subscribe(removeBaggage);
    try {
      run(compose(base, retryOnce, publishAttempts), exchange, EP1);
    } finally {
      channels.upstreamRequest.unsubscribe(removeBaggage);
    }
    // X-Forwarded-Host moved up to position 2: only `accept` stays vouched for, on each attempt.
    assert.deepEqual(seen, [2, 2]);
    const untouched = exchangeFor([EP1]);
    untouched.headers = ['accept', '*/*', 'x-forwarded-host', 'h'];
    untouched.checkedHeaders = 2;
    const keep = (message: unknown) => (message as { headers: string[] }).headers.push('a', 'b');
    channels.upstreamRequest.subscribe(keep);
    try {
      run(compose(scripted([]).base, publishAttempts), untouched, EP1);
    } finally {
      channels.upstreamRequest.unsubscribe(keep);
    }
    assert.equal(untouched.checkedHeaders, 2, 'fields left in place stay vouched for');
  });
});
