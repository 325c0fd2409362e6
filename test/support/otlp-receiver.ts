import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/**
 * A real OTLP/HTTP trace receiver on loopback: it takes what the router's exporter POSTs to
 * `/v1/traces`, decodes the protobuf `ExportTraceServiceRequest` with the code OpenTelemetry
 * generated from opentelemetry-proto (protobufjs), and keeps the spans, flattened.
 */

interface AnyValue {
  /** Which member of the `value` oneof is set. */
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | { toNumber(): number };
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface ProtoSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  events?: { name: string; attributes?: KeyValue[] }[];
  status?: { code?: number; message?: string };
}
interface ExportTraceServiceRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: ProtoSpan[] }[];
  }[];
}
interface Decoder {
  decode(bytes: Uint8Array): ExportTraceServiceRequest;
}

const require = createRequire(import.meta.url);
const root = require('otlp-transformer-protobuf/build/src/generated/root.js') as {
  opentelemetry: {
    proto: { collector: { trace: { v1: { ExportTraceServiceRequest: Decoder } } } };
  };
};
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  readonly kind: number;
  readonly service: string;
  readonly attributes: Record<string, AttributeValue>;
  readonly events: { name: string; attributes: Record<string, AttributeValue> }[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: number;
}

export const SpanKinds = { SERVER: 2, CLIENT: 3 } as const;

const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('hex');

function attributeValue(value: AnyValue | undefined): AttributeValue {
  // protobufjs leaves unset oneof members null (on the prototype), not undefined; the
  // `value` oneof names the one that was set.
  switch (value?.value) {
    case 'stringValue':
      return value.stringValue;
    case 'boolValue':
      return value.boolValue;
    case 'intValue':
      return typeof value.intValue === 'number' ? value.intValue : value.intValue?.toNumber();
    case 'doubleValue':
      return value.doubleValue;
    case 'arrayValue':
      return (value.arrayValue?.values ?? []).map(attributeValue);
    default:
      return undefined;
  }
}

const attributesOf = (list: KeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, attributeValue(kv.value)]));

export function decodeTraces(body: Uint8Array): ReceivedSpan[] {
  const message = Request.decode(body);
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of message.resourceSpans ?? []) {
    const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          name: span.name,
          kind: span.kind,
          service,
          attributes: attributesOf(span.attributes),
          events: (span.events ?? []).map((event) => ({
            name: event.name,
            attributes: attributesOf(event.attributes),
          })),
          status: span.status?.code ?? 0,
        });
      }
    }
  }
  return spans;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Every request body as received, to search for things that must never be exported. */
  readonly bodies: Buffer[];
  readonly contentTypes: string[];
  /** Resolves once `predicate` holds for the spans received so far. */
  waitFor(
    predicate: (spans: readonly ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: Buffer[] = [];
  const contentTypes: string[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      bodies.push(body);
      contentTypes.push(req.headers['content-type'] ?? '');
      try {
        spans.push(...decodeTraces(body));
      } catch {
        res.writeHead(400).end();
        return;
      }
      // An empty ExportTraceServiceResponse: full success.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      for (const wake of waiters) wake();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    contentTypes,
    waitFor: (predicate, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(spans)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(spans);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for spans; got ${JSON.stringify(spans, null, 1)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
