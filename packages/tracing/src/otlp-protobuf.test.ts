import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { HrTime } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { jsonRequest } from './otlp-json.ts';
import { attributeBlock, RequestHead, type ResourceValue } from './otlp-protobuf.ts';
import { ProtoWriter } from './proto-writer.ts';
import { protobufBatches } from './span-batcher.ts';
import {
  type AttributeList,
  type AttributeValue,
  attributeKey,
  type SpanData,
} from './span-data.ts';

/**
 * Differential test of the hand-written OTLP encoders: random spans encoded by ours and by
 * OpenTelemetry's own serializers (`@opentelemetry/otlp-transformer`, protobuf and JSON),
 * both decoded by the code OpenTelemetry generated from opentelemetry-proto (protobufjs),
 * must give the same ExportTraceServiceRequest.
 */

interface Decoded {
  toObject(message: unknown, options: object): Record<string, unknown>;
  decode(bytes: Uint8Array): unknown;
}
const require = createRequire(import.meta.url);
const root = require('otlp-transformer-protobuf/build/src/generated/root.js') as {
  opentelemetry: {
    proto: { collector: { trace: { v1: { ExportTraceServiceRequest: Decoded } } } };
  };
};
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const decode = (bytes: Uint8Array) =>
  Request.toObject(Request.decode(bytes), { longs: String, bytes: String, defaults: true });

const hex = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .filter((b) => b.some((x) => x !== 0))
    .map((b) => Buffer.from(b).toString('hex'));

// Strings: mostly ASCII (what podrouter writes), some Unicode, some long enough for 2- and
// 3-byte length prefixes.
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 100, maxLength: 300 }),
  fc.constantFrom('x'.repeat(20000), 'é'.repeat(9000)),
);
const value = fc.oneof(
  text,
  fc.nat({ max: 2 ** 31 - 1 }),
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
  fc.boolean(),
);
/** Attributes as generated (and as the SDK gets them): string keys. */
type Pairs = (string | AttributeValue)[];
/** The same with keys as the tracer gives them: encoded once. */
const keyed = (list: Pairs): AttributeList =>
  list.map((item, i) => (i % 2 === 0 ? attributeKey(item as string) : item));
/** Unique keys: the SDK holds attributes in an object. */
const attributeList = fc
  .uniqueArray(
    fc.tuple(
      // `__proto__` cannot be a key of the SDK's attribute objects.
      fc.string({ unit: 'grapheme', maxLength: 30 }).filter((key) => key !== '__proto__'),
      fc.oneof(
        value,
        fc.constantFrom(127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456),
      ),
    ),
    {
      selector: ([key]) => key,
      maxLength: 12,
    },
  )
  .map((pairs) => pairs.flat() as Pairs);
/** Epoch ms from whole seconds and nanoseconds, as the reference gets them. */
const time = fc
  .tuple(
    fc.integer({ min: 1_600_000_000, max: 2_100_000_000 }),
    fc.integer({ min: 0, max: 999_999_999 }),
  )
  .map(([s, ns]) => ({ hr: [s, ns] as HrTime, ms: s * 1000 + ns / 1e6 }));

const spanArb = fc.record({
  traceId: hex(16),
  spanId: hex(8),
  parentSpanId: fc.oneof(fc.constant(''), hex(8)),
  traceState: fc.constantFrom('', 'vendor=a', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
  name: text,
  kind: fc.constantFrom(2, 3),
  start: time,
  end: time,
  attributes: attributeList,
  /** Where the attributes are cut into the span's list and its blocks. */
  cuts: fc.array(fc.nat({ max: 12 }), { maxLength: 2 }),
  events: fc.array(fc.record({ name: text, time, attributes: attributeList }), { maxLength: 2 }),
  statusCode: fc.constantFrom(0, 2),
  statusMessage: fc.oneof(fc.constant(''), text),
  sampled: fc.boolean(),
  remoteParent: fc.boolean(),
});
type Generated = typeof spanArb extends fc.Arbitrary<infer T> ? T : never;

const toObject = (list: Pairs) => {
  const out: Record<string, ResourceValue> = {};
  for (let i = 0; i < list.length; i += 2) out[list[i] as string] = list[i + 1] as ResourceValue;
  return out;
};

/** The first part of the attributes as the span's list, the others as blocks (a route's, an endpoint's). */
function split(list: Pairs, cuts: readonly number[]) {
  const at = cuts.map((cut) => Math.min(cut * 2, list.length)).sort((a, b) => a - b);
  const bounds = [0, ...at, list.length];
  const parts = bounds.slice(1).map((end, i) => keyed(list.slice(bounds[i], end)));
  return { attributes: parts[0] as AttributeList, blocks: parts.slice(1).map(attributeBlock) };
}

function ours(g: Generated): SpanData {
  return {
    traceId: g.traceId,
    spanId: g.spanId,
    parentSpanId: g.parentSpanId,
    traceState: g.traceState,
    name: g.name,
    kind: g.kind,
    start: g.start.ms,
    end: g.end.ms,
    ...split(g.attributes, g.cuts),
    events: g.events.map((e) => ({
      name: e.name,
      time: e.time.ms,
      attributes: keyed(e.attributes),
    })),
    statusCode: g.statusCode,
    statusMessage: g.statusMessage,
    flags: (g.sampled ? 1 : 0) | 0x100 | (g.parentSpanId !== '' && g.remoteParent ? 0x200 : 0),
  };
}

const RESOURCE = { 'service.name': 'podrouter-public', 'podrouter.tier': 'public', n: 3 };
const SCOPE = { name: '@podrouter/tracing', version: '0.1.0' };
/** One object: the SDK groups spans by resource identity. */
const REFERENCE_RESOURCE = resourceFromAttributes(RESOURCE);

/** The same span as the OTel SDK hands its exporters. */
function reference(g: Generated): ReadableSpan {
  return {
    name: g.name,
    kind: g.kind - 1,
    spanContext: () => ({
      traceId: g.traceId,
      spanId: g.spanId,
      traceFlags: g.sampled ? 1 : 0,
      ...(g.traceState ? { traceState: { serialize: () => g.traceState } } : {}),
    }),
    ...(g.parentSpanId !== ''
      ? {
          parentSpanContext: {
            traceId: g.traceId,
            spanId: g.parentSpanId,
            traceFlags: 1,
            isRemote: g.remoteParent,
          },
        }
      : {}),
    startTime: g.start.hr,
    endTime: g.end.hr,
    attributes: toObject(g.attributes),
    events: g.events.map((e) => ({
      name: e.name,
      time: e.time.hr,
      attributes: toObject(e.attributes),
    })),
    status: { code: g.statusCode, ...(g.statusMessage ? { message: g.statusMessage } : {}) },
    links: [],
    duration: [0, 0],
    ended: true,
    resource: REFERENCE_RESOURCE,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  } as unknown as ReadableSpan;
}

/** Timestamps may differ by the float rounding of epoch milliseconds (< 1 µs); the rest may not. */
function sameExceptTimeRounding(actual: unknown, expected: unknown, path = ''): void {
  if (/(TimeUnixNano|timeUnixNano)$/.test(path)) {
    const delta = BigInt(actual as string) - BigInt(expected as string);
    assert.ok(delta < 1000n && delta > -1000n, `${path}: ${actual} vs ${expected}`);
    return;
  }
  // Attributes are a map: the SDK's object puts integer-like keys first, we keep call order.
  if (path.endsWith('.attributes') && Array.isArray(actual) && Array.isArray(expected)) {
    const byKey = (list: { key: string }[]) =>
      [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    sameExceptTimeRounding(byKey(actual), byKey(expected), `${path}[sorted]`);
    return;
  }
  if (
    typeof expected === 'object' &&
    expected !== null &&
    typeof actual === 'object' &&
    actual !== null
  ) {
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), path);
    for (const key of Object.keys(expected))
      sameExceptTimeRounding(
        (actual as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
    return;
  }
  assert.deepEqual(actual, expected, path);
}

describe('OTLP protobuf encoding', () => {
  it('decodes to what OpenTelemetry’s serializer gives, for random spans', () => {
    const head = new RequestHead(RESOURCE, SCOPE);
    fc.assert(
      fc.property(fc.array(spanArb, { minLength: 1, maxLength: 4 }), (generated) => {
        const batch = protobufBatches(head)();
        for (const g of generated) batch.add(ours(g));
        const actual = decode(batch.body() as Uint8Array);
        const expected = decode(
          ProtobufTraceSerializer.serializeRequest(generated.map(reference)) as Uint8Array,
        );
        sameExceptTimeRounding(actual, expected);
      }),
      { numRuns: 300 },
    );
  });

  it('writes a batch too big for one-byte lengths at every level', () => {
    const head = new RequestHead(RESOURCE, SCOPE);
    const batch = protobufBatches(head)();
    const g = fc.sample(spanArb, { numRuns: 1, seed: 7 })[0] as Generated;
    const spans = Array.from({ length: 600 }, (_, i) => ({
      ...g,
      name: `span ${i}`,
      attributes: ['k', 'v'.repeat(i)],
    }));
    for (const span of spans) batch.add(ours(span));
    const actual = decode(batch.body() as Uint8Array);
    const expected = decode(
      ProtobufTraceSerializer.serializeRequest(spans.map(reference)) as Uint8Array,
    );
    sameExceptTimeRounding(actual, expected);
  });

  it('writes spans whose lengths take one, two and three bytes', () => {
    const batch = protobufBatches(new RequestHead(RESOURCE, SCOPE))();
    const g = fc.sample(spanArb, { numRuns: 1, seed: 5 })[0] as Generated;
    const bare: Generated = {
      ...g,
      name: '',
      traceState: '',
      statusMessage: '',
      events: [],
      cuts: [],
    };
    // A bare span is ~60–80 bytes: these values take it across 128 and across 16384.
    const sizes = [
      ...Array.from({ length: 160 }, (_, i) => i),
      ...Array.from({ length: 150 }, (_, i) => 16250 + i),
    ];
    const spans = sizes.map((n) => ({ ...bare, attributes: n === 0 ? [] : ['k', 'v'.repeat(n)] }));
    for (const span of spans) batch.add(ours(span));
    const actual = decode(batch.body() as Uint8Array);
    const expected = decode(
      ProtobufTraceSerializer.serializeRequest(spans.map(reference)) as Uint8Array,
    );
    sameExceptTimeRounding(actual, expected);
  });

  it('leaves out an attribute without a value, as the SDK does', () => {
    const head = new RequestHead(RESOURCE, SCOPE);
    const g = fc.sample(spanArb, { numRuns: 1, seed: 3 })[0] as Generated;
    const withHole = protobufBatches(head)();
    withHole.add({
      ...ours(g),
      attributes: keyed(['a', 'x', 'reason', undefined as unknown as string]),
    });
    const without = protobufBatches(head)();
    without.add({ ...ours(g), attributes: keyed(['a', 'x']) });
    assert.deepEqual(withHole.body(), without.body());
  });

  it('encodes epoch milliseconds as exact nanoseconds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        // Later times in (mostly) the same second: the writer reuses that second's product.
        fc.array(fc.integer({ min: 0, max: 999_999_999 }), { minLength: 1, maxLength: 4 }),
        (ms, offsets) => {
          const w = new ProtoWriter(64);
          for (const offset of offsets) {
            w.fixed64Nanos(ms + Math.floor(offset / 1e6) + (offset % 1e6) / 1e6);
          }
          offsets.forEach((offset, i) => {
            const written = w.buf.readBigUInt64LE(i * 8);
            const exact = BigInt(ms) * 1_000_000n + BigInt(offset);
            const delta = written - exact;
            // Exact up to the float's own resolution of ms + ns/1e6 (< 0.5 µs at 4e12 ms).
            assert.ok(delta < 500n && delta > -500n, `${written} vs ${exact}`);
          });
        },
      ),
    );
  });
});

describe('OTLP JSON encoding', () => {
  it('parses to what OpenTelemetry’s JSON serializer gives, for random spans', () => {
    fc.assert(
      fc.property(fc.array(spanArb, { minLength: 1, maxLength: 3 }), (generated) => {
        const actual = JSON.parse(jsonRequest(RESOURCE, SCOPE, generated.map(ours)));
        const expected = JSON.parse(
          new TextDecoder().decode(JsonTraceSerializer.serializeRequest(generated.map(reference))),
        );
        sameExceptTimeRounding(actual, expected);
      }),
      { numRuns: 200 },
    );
  });
});
