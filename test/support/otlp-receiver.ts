import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  Server as GrpcServer,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';

/**
 * A real OTLP trace receiver on loopback, for all three protocols: OTLP/HTTP on `url` (what
 * the exporter POSTs to `/v1/traces`, protobuf or JSON by its content type) and OTLP/gRPC on
 * `grpcUrl` (a grpc-js server implementing `TraceService/Export`). Protobuf is decoded with
 * the code OpenTelemetry generated from opentelemetry-proto (protobufjs), JSON by the OTLP
 * JSON mapping (hex ids, enum numbers, 64-bit integers as strings); the spans are kept,
 * flattened.
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

/** OTLP/JSON `AnyValue`: exactly one member is set. */
interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}
const jsonAttributes = (list: JsonKeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));

function jsonValue(value: JsonAnyValue | undefined): AttributeValue {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

interface JsonTraces {
  resourceSpans?: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: JsonKeyValue[];
        events?: { name: string; attributes?: JsonKeyValue[] }[];
        status?: { code?: number };
      }[];
    }[];
  }[];
}

export function decodeJsonTraces(body: Buffer): ReceivedSpan[] {
  const message = JSON.parse(body.toString('utf8')) as JsonTraces;
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of message.resourceSpans ?? []) {
    const service = String(jsonAttributes(resourceSpans.resource?.attributes)['service.name']);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        // The OTLP JSON mapping writes ids as hex, not base64 as plain proto3 JSON would.
        assertHex(span.traceId, 32);
        assertHex(span.spanId, 16);
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          name: span.name,
          kind: span.kind,
          service,
          attributes: jsonAttributes(span.attributes),
          events: (span.events ?? []).map((event) => ({
            name: event.name,
            attributes: jsonAttributes(event.attributes),
          })),
          status: span.status?.code ?? 0,
        });
      }
    }
  }
  return spans;
}

function assertHex(value: unknown, length: number): void {
  if (typeof value !== 'string' || !new RegExp(`^[0-9a-f]{${length}}$`).test(value))
    throw new Error(`not a ${length}-digit hex id: ${JSON.stringify(value)}`);
}

export interface OtlpReceiver {
  /** OTLP/HTTP base URL (protobuf and JSON). */
  readonly url: string;
  /** OTLP/gRPC URL (h2c). */
  readonly grpcUrl: string;
  readonly spans: ReceivedSpan[];
  /** Every request body as received, to search for things that must never be exported. */
  readonly bodies: Buffer[];
  /** `content-type` of each HTTP export, `application/grpc` for each gRPC one. */
  readonly contentTypes: string[];
  /** The request headers (HTTP) or metadata (gRPC) of each export. */
  readonly headers: Record<string, unknown>[];
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
  const headers: Record<string, unknown>[] = [];
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
      headers.push({ ...req.headers });
      const json = (req.headers['content-type'] ?? '').startsWith('application/json');
      try {
        spans.push(...(json ? decodeJsonTraces(body) : decodeTraces(body)));
      } catch {
        res.writeHead(400).end();
        return;
      }
      // An empty ExportTraceServiceResponse: full success.
      if (json) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      for (const wake of waiters) wake();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const grpc = new GrpcServer();
  const bytes = { serialize: (value: Buffer) => value, deserialize: (value: Buffer) => value };
  grpc.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: bytes.serialize,
        requestDeserialize: bytes.deserialize,
        responseSerialize: bytes.serialize,
        responseDeserialize: bytes.deserialize,
      },
    },
    {
      Export(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
        bodies.push(call.request);
        contentTypes.push('application/grpc');
        headers.push(call.metadata.getMap());
        try {
          spans.push(...decodeTraces(call.request));
        } catch (error) {
          callback({ code: 3, details: (error as Error).message });
          return;
        }
        // An empty ExportTraceServiceResponse: full success.
        callback(null, Buffer.alloc(0));
        for (const wake of waiters) wake();
      },
    },
  );
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    spans,
    bodies,
    contentTypes,
    headers,
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
      grpc.forceShutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
