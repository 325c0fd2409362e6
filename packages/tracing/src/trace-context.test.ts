import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { SAMPLERS } from './settings.ts';
import {
  carriedBaggage,
  createSampler,
  extractParent,
  newSpanId,
  randomIds,
} from './trace-context.ts';

/**
 * The lean trace context against OpenTelemetry's SDK, which it replaces on the request path:
 * the same sampling decisions for every sampler and ratio, and the same parent, tracestate
 * and baggage read from any inbound header.
 */

function sdkSampler(name: string, ratio: number): Sampler {
  const root = name.endsWith('traceidratio')
    ? new TraceIdRatioBasedSampler(ratio)
    : name.endsWith('always_off')
      ? new AlwaysOffSampler()
      : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

const hexId = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const propagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});
const getter = {
  keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier),
  get: (carrier: IncomingHttpHeaders, key: string) => carrier[key],
};

describe('sampling', () => {
  it('decides as the SDK samplers do, for every sampler, ratio, trace id and parent', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SAMPLERS),
        fc.oneof(fc.constantFrom(0, 0.1, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })),
        hexId(32).filter((id) => !/^0+$/.test(id)),
        fc.option(
          fc.record({ spanId: hexId(16).filter((id) => !/^0+$/.test(id)), sampled: fc.boolean() }),
        ),
        (name, ratio, traceId, parent) => {
          const context = parent
            ? trace.setSpanContext(ROOT_CONTEXT, {
                traceId,
                spanId: parent.spanId,
                traceFlags: parent.sampled ? 1 : 0,
                isRemote: true,
              })
            : ROOT_CONTEXT;
          const expected =
            sdkSampler(name, ratio).shouldSample(context, traceId, 'GET', SpanKind.SERVER, {}, [])
              .decision === SamplingDecision.RECORD_AND_SAMPLED;
          const actual = createSampler(name, ratio)(
            traceId,
            parent
              ? { traceId, spanId: parent.spanId, sampled: parent.sampled, traceState: undefined }
              : undefined,
          );
          assert.equal(actual, expected);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('extracting the caller’s context', () => {
  const traceparent = fc.oneof(
    fc
      .tuple(hexId(2), hexId(32), hexId(16), hexId(2), fc.constantFrom('', '-x', ' ', '-'))
      .map(([v, t, s, f, tail]) => `${v}-${t}-${s}-${f}${tail}`),
    fc.constantFrom(
      `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`,
      `00-${'1'.repeat(32)}-${'0'.repeat(16)}-01`,
      `ff-${'1'.repeat(32)}-${'2'.repeat(16)}-01`,
      ` 00-${'1'.repeat(32)}-${'2'.repeat(16)}-01 `,
      `00-${'A'.repeat(32)}-${'2'.repeat(16)}-01`,
    ),
    fc.string(),
  );
  const headers = fc.record(
    {
      traceparent: fc.oneof(traceparent, fc.array(traceparent, { minLength: 1, maxLength: 2 })),
      tracestate: fc.oneof(
        fc.constantFrom('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'a=1, b=2', 'BAD KEY=1', ''),
        fc.string(),
        fc.array(fc.constantFrom('a=1', 'b=2', 'c'), { maxLength: 3 }),
      ),
      baggage: fc.oneof(fc.constantFrom('a=1', 'k=v;p=1, x=%20y', 'bad', ''), fc.string()),
    },
    { requiredKeys: [] },
  );

  it('reads the parent, tracestate and baggage as the W3C propagators do', () => {
    fc.assert(
      fc.property(headers, (given) => {
        const inbound = given as IncomingHttpHeaders;
        const context = propagator.extract(ROOT_CONTEXT, inbound, getter);
        const expected = trace.getSpanContext(context);
        const actual = extractParent(inbound);
        assert.equal(actual?.traceId, expected?.traceId);
        assert.equal(actual?.spanId, expected?.spanId);
        if (expected !== undefined) assert.equal(actual?.sampled, (expected.traceFlags & 1) === 1);
        assert.equal(actual?.traceState, expected?.traceState?.serialize());
        // What the SDK would send on: its own traceparent, and the same tracestate and baggage.
        const carrier: Record<string, string> = {};
        propagator.inject(context, carrier, {
          set: (target, key, value) => {
            target[key] = value;
          },
        });
        assert.equal(carriedBaggage(inbound), carrier.baggage);
        assert.equal(actual?.traceState, carrier.tracestate);
      }),
      { numRuns: 2000 },
    );
  });

  it('makes valid, distinct ids', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
    assert.equal(ids.size, 2000);
    for (const id of ids) assert.match(id, /^(?!0{16})[0-9a-f]{16}$/);
    assert.match(randomIds(2), /^(?!0{32})[0-9a-f]{32}$/);
    const words = randomIds(4);
    assert.match(words, /^[0-9a-f]{64}$/);
    for (let i = 0; i < 64; i += 16) assert.notEqual(words.slice(i, i + 16), '0'.repeat(16));
  });
});
