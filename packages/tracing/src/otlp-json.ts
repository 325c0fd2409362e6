import type { ResourceValue, Scope } from './otlp-protobuf.ts';
import type { AttributeKey, AttributeList, SpanData } from './span-data.ts';

/**
 * OTLP/JSON (`http/json`) of a batch, built when the batch is exported (off the request
 * path), in the JSON mapping OpenTelemetry's own JSON serializer uses: hex ids, enum
 * numbers, nanosecond timestamps as decimal strings.
 */

const nanos = (epochMs: number): string => {
  const seconds = Math.floor(epochMs / 1000);
  const rest = Math.round((epochMs - seconds * 1000) * 1e6);
  return (BigInt(seconds) * 1_000_000_000n + BigInt(rest)).toString();
};

type JsonAny =
  | { stringValue: string }
  | { intValue: number }
  | { doubleValue: number }
  | { boolValue: boolean }
  | { arrayValue: { values: JsonAny[] } };

const anyValue = (value: ResourceValue): JsonAny =>
  typeof value === 'string'
    ? { stringValue: value }
    : typeof value === 'number'
      ? Number.isInteger(value)
        ? { intValue: value }
        : { doubleValue: value }
      : typeof value === 'boolean'
        ? { boolValue: value }
        : { arrayValue: { values: value.map(anyValue) } };

const keyValues = (list: AttributeList) => {
  const out = [];
  for (let i = 0; i < list.length; i += 2) {
    const value = list[i + 1];
    if (value !== undefined && value !== null)
      out.push({ key: (list[i] as AttributeKey).name, value: anyValue(value as ResourceValue) });
  }
  return out;
};

const span = (s: SpanData) => ({
  traceId: s.traceId,
  spanId: s.spanId,
  ...(s.parentSpanId !== '' ? { parentSpanId: s.parentSpanId } : {}),
  ...(s.traceState !== '' ? { traceState: s.traceState } : {}),
  name: s.name,
  kind: s.kind,
  startTimeUnixNano: nanos(s.start),
  endTimeUnixNano: nanos(s.end),
  attributes: s.blocks.reduce(
    (all, block) => all.concat(keyValues(block.list)),
    keyValues(s.attributes),
  ),
  droppedAttributesCount: 0,
  events: s.events.map((event) => ({
    timeUnixNano: nanos(event.time),
    name: event.name,
    attributes: keyValues(event.attributes),
    droppedAttributesCount: 0,
  })),
  droppedEventsCount: 0,
  status: { code: s.statusCode, ...(s.statusMessage !== '' ? { message: s.statusMessage } : {}) },
  links: [],
  droppedLinksCount: 0,
  flags: s.flags,
});

export function jsonRequest(
  resource: Record<string, ResourceValue>,
  scope: Scope,
  spans: readonly SpanData[],
): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: {
          attributes: Object.entries(resource).map(([key, value]) => ({
            key,
            value: anyValue(value),
          })),
          droppedAttributesCount: 0,
        },
        scopeSpans: [
          { scope: { name: scope.name, version: scope.version }, spans: spans.map(span) },
        ],
      },
    ],
  });
}
