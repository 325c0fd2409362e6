import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ROOT_CONTEXT, type TextMapGetter } from '@opentelemetry/api';
import { parseTraceParent, TraceState, W3CBaggagePropagator } from '@opentelemetry/core';
import type { SamplerName } from './settings.ts';

/**
 * W3C trace context in, sampling decision, ids out: what the OpenTelemetry SDK's
 * `W3CTraceContextPropagator`, `W3CBaggagePropagator`, samplers and id generator do for a
 * hop, without a Context or Span object per request. The parsing stays OpenTelemetry's own
 * (`parseTraceParent`, `TraceState`, the baggage propagator); the samplers are checked
 * against the SDK's by a property test (trace-context.test.ts).
 */

/** The caller's span, from a valid inbound `traceparent`. */
export interface RemoteParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  /** The inbound `tracestate`, as OpenTelemetry re-serializes it; undefined without one. */
  readonly traceState: string | undefined;
}

export function extractParent(headers: IncomingHttpHeaders): RemoteParent | undefined {
  const header = headers.traceparent;
  if (!header) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return undefined;
  const parsed = parseTraceParent(value);
  if (parsed === null) return undefined;
  const state = headers.tracestate;
  return {
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    sampled: (parsed.traceFlags & 1) === 1,
    traceState: state
      ? new TraceState(Array.isArray(state) ? state.join(',') : state).serialize()
      : undefined,
  };
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};
const baggagePropagator = new W3CBaggagePropagator();

/** The `baggage` to send upstream: the inbound one as OpenTelemetry re-serializes it. */
export function carriedBaggage(headers: IncomingHttpHeaders): string | undefined {
  if (!headers.baggage) return undefined;
  const context = baggagePropagator.extract(ROOT_CONTEXT, headers, headerGetter);
  const carrier: Record<string, string> = {};
  baggagePropagator.inject(context, carrier, {
    set: (target, key, value) => {
      target[key] = value;
    },
  });
  return carrier.baggage;
}

/** Decides whether a new span of `traceId` is sampled (OTEL_TRACES_SAMPLER semantics). */
export type Sampler = (traceId: string, parent: RemoteParent | undefined) => boolean;

/** The SDK's TraceIdRatioBased: the xor of the id's four 32-bit words under ratio × 2^32. */
function ratioSampler(ratio: number): (traceId: string) => boolean {
  const normal = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
  const upperBound = normal === 1 ? 4294967296 : Math.floor(normal * 4294967295);
  return (traceId) => {
    let accumulation = 0;
    for (let i = 0; i < 32; i += 8) {
      let word = 0;
      for (let j = 0; j < 8; j++) {
        const c = traceId.charCodeAt(i + j);
        word = (word << 4) | (c < 58 ? c - 48 : c < 71 ? c - 55 : c - 87);
      }
      accumulation = (accumulation ^ word) >>> 0;
    }
    return accumulation < upperBound;
  };
}

export function createSampler(name: SamplerName, ratio: number): Sampler {
  const root = name.endsWith('traceidratio')
    ? ratioSampler(ratio)
    : name.endsWith('always_off')
      ? () => false
      : () => true;
  // A parent-based sampler follows a remote parent's flag; the others decide on the id.
  return name.startsWith('parentbased_')
    ? (traceId, parent) => (parent === undefined ? root(traceId) : parent.sampled)
    : (traceId) => root(traceId);
}

/**
 * Random ids from a pool refilled by the CSPRNG: one `randomFillSync` per 512 span ids
 * instead of `Math.random` per 4 bytes.
 */
const POOL = Buffer.allocUnsafe(4096);
let poolAt = POOL.length;

/**
 * `count` random 8-byte words as one run of hex digits (16 per word): a span id is one word,
 * a trace id two. Drawing all of a hop's ids at once converts them to hex in one call.
 */
export function randomIds(count: number): string {
  const bytes = count * 8;
  if (poolAt + bytes > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const start = poolAt;
  poolAt += bytes;
  // All-zero ids are invalid (W3C): a word of zeros (one in 2^64) redraws them all.
  for (let word = start; word < poolAt; word += 8) {
    let zero = true;
    for (let i = word; i < word + 8 && zero; i++) zero = POOL[i] === 0;
    if (zero) return randomIds(count);
  }
  return POOL.toString('hex', start, poolAt);
}

export const newSpanId = (): string => randomIds(1);
