import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import {
  type Endpoint,
  type ExchangeRecord,
  type Logger,
  loadSettings,
  PUBLIC_DEFAULTS,
  type Route,
} from '@podrouter/core';
import { AccessLog, inboundTraceIds } from './access-log.ts';
import { Attr, HopTracer, POLICY_DENIED_EVENT } from './hop-tracer.ts';
import { accessLogConfig, TRACING_SETTINGS, tracingConfig } from './settings.ts';
import {
  type AttributeKey,
  type AttributeList,
  OtlpKind,
  OtlpStatus,
  type SpanData,
} from './span-data.ts';
import { createSampler } from './trace-context.ts';

const endpoint: Endpoint = {
  key: '10.244.0.7:8080',
  origin: 'http://10.244.0.7:8080',
  ip: '10.244.0.7',
  port: 8080,
  protocol: 'http1',
  namespace: 'shop',
  podName: 'cart-7f9c-x',
};
const route = { host: 'cart.shop', path: '/api', namespace: 'shop' } as unknown as Route;

function fakeReq(
  headers: Record<string, string>,
  url = '/api/items?token=s3cr3t',
): IncomingMessage {
  return {
    headers: { host: 'cart.shop', ...headers },
    method: 'POST',
    url,
    httpVersion: '1.1',
    socket: { remoteAddress: '10.0.0.9', localPort: 80, bytesWritten: 100, bytesRead: 50 },
  } as unknown as IncomingMessage;
}

function setup(sampler = createSampler('parentbased_always_on', 1)) {
  const spans: SpanData[] = [];
  const tracer = new HopTracer({
    sampler,
    finish: (span) => spans.push(span),
    tier: 'private',
    apiKeyHeader: 'X-ROUTING-API-KEY',
  });
  return { spans, tracer };
}

const attrs = (list: AttributeList) => {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < list.length; i += 2) out[(list[i] as AttributeKey).name] = list[i + 1];
  return out;
};
/** All of a span's attributes, its blocks' too. */
const spanAttrs = (span: SpanData) =>
  attrs(span.blocks.reduce((all, block) => all.concat(block.list), span.attributes));

const record = (req: IncomingMessage, extra: Partial<ExchangeRecord>): ExchangeRecord => ({
  req,
  route,
  endpoint,
  status: 200,
  startedAt: performance.now() - 5,
  upstreamMs: 3,
  retries: 0,
  failure: undefined,
  upgrade: false,
  ...extra,
});

describe('HopTracer', () => {
  it('records a policy denial as an event and a deny decision, with no CLIENT span', () => {
    const { spans, tracer } = setup();
    const req = fakeReq({ 'x-routing-api-key': 'the-key' });
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    tracer.onPolicyDecision({ req, route, answer: { status: 403, title: 'Forbidden' } });
    tracer.onRequestEnd(record(req, { status: 403, endpoint: undefined }));
    const [span, ...rest] = spans;
    assert.equal(rest.length, 0);
    assert.ok(span);
    assert.equal(span.kind, OtlpKind.SERVER);
    assert.equal(span.name, 'POST /api');
    assert.equal(spanAttrs(span)[Attr.policy], 'deny');
    assert.equal(spanAttrs(span)['url.path'], '/api/items');
    assert.equal(span.statusCode, OtlpStatus.UNSET);
    assert.deepEqual(
      span.events.map((event) => [
        event.name,
        attrs(event.attributes)['http.response.status_code'],
      ]),
      [[POLICY_DENIED_EVENT, 403]],
    );
    const exported = JSON.stringify(span);
    assert.equal(exported.includes('the-key'), false);
    assert.equal(exported.includes('s3cr3t'), false);
    assert.equal(spanAttrs(span)[Attr.keyId], 'ad44dc8e');
  });

  it('replaces inbound trace headers in the upstream list with its own, once', () => {
    const { spans, tracer } = setup();
    const inbound = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const req = fakeReq({ traceparent: inbound, baggage: 'a=1' });
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    const headers = [
      'TraceParent',
      inbound,
      'accept',
      '*/*',
      'traceparent',
      'junk',
      'Baggage',
      'a=1',
    ];
    tracer.onUpstreamRequest({ req, route, endpoint, headers, retries: 0, upgrade: false });
    tracer.onUpstreamResponse({
      req,
      endpoint,
      status: 503,
      retries: 0,
      failure: undefined,
      upgrade: false,
    });
    tracer.onRequestEnd(record(req, { status: 503 }));
    const names = headers.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    assert.equal(names.filter((name) => name === 'traceparent').length, 1);
    assert.equal(names.filter((name) => name === 'baggage').length, 1);
    assert.ok(names.includes('accept'));
    const [client, server] = spans;
    assert.ok(client && server);
    const injected = headers[headers.findIndex((v) => v === 'traceparent') + 1];
    assert.equal(injected, `00-${'1'.repeat(32)}-${client.spanId}-01`);
    assert.equal(client.kind, OtlpKind.CLIENT);
    assert.equal(client.statusCode, OtlpStatus.ERROR);
    assert.equal(spanAttrs(client)['k8s.pod.name'], 'cart-7f9c-x');
    assert.equal(server.statusCode, OtlpStatus.ERROR);
    assert.equal(server.parentSpanId, '2'.repeat(16));
  });

  it('gives a retry its own traceparent, once, on the list the first attempt was sent with', () => {
    const { spans, tracer } = setup();
    const req = fakeReq({});
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    const headers = ['accept', '*/*'];
    for (const retries of [0, 1]) {
      tracer.onUpstreamRequest({ req, route, endpoint, headers, retries, upgrade: false });
      tracer.onUpstreamResponse({
        req,
        endpoint,
        status: retries === 0 ? 0 : 200,
        retries,
        failure: retries === 0 ? 'connect-refused' : undefined,
        upgrade: false,
      });
    }
    tracer.onRequestEnd(record(req, { retries: 1 }));
    const names = headers.filter((_, i) => i % 2 === 0);
    assert.deepEqual(names, ['accept', 'traceparent']);
    const [first, second] = spans;
    assert.ok(first && second);
    assert.notEqual(first.spanId, second.spanId);
    assert.match(headers[3] as string, new RegExp(`-${second.spanId}-01$`));
  });

  it('keeps propagating, unsampled, when the sampler drops the trace', () => {
    const { spans, tracer } = setup(createSampler('parentbased_traceidratio', 0));
    const req = fakeReq({});
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    const headers: string[] = [];
    tracer.onUpstreamRequest({ req, route, endpoint, headers, retries: 0, upgrade: false });
    tracer.onUpstreamResponse({
      req,
      endpoint,
      status: 200,
      retries: 0,
      failure: undefined,
      upgrade: false,
    });
    const hop = tracer.ids(req);
    tracer.onRequestEnd(record(req, {}));
    assert.equal(spans.length, 0);
    assert.equal(hop?.sampled, false);
    // No CLIENT span is made for a trace nobody exports: the hop's own ids go upstream.
    assert.equal(headers[1], `00-${hop?.traceId}-${hop?.spanId}-00`);
  });

  it('carries an unsampled parent on with its trace state and baggage, and forgets the exchange at its end', () => {
    const { spans, tracer } = setup(createSampler('parentbased_always_on', 1));
    const req = fakeReq({
      traceparent: `00-${'5'.repeat(32)}-${'6'.repeat(16)}-00`,
      tracestate: 'vendor=abc',
      baggage: 'tenant=blue',
    });
    const keys = Object.keys(req);
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    tracer.onPolicyDecision({ req, route, answer: undefined });
    const headers = ['traceparent', 'stale', 'x-other', 'kept'];
    tracer.onUpstreamRequest({ req, route, endpoint, headers, retries: 0, upgrade: false });
    tracer.onUpstreamResponse({
      req,
      endpoint,
      status: 503,
      retries: 0,
      failure: undefined,
      upgrade: false,
    });
    const hop = tracer.ids(req);
    assert.deepEqual(hop, { traceId: '5'.repeat(32), spanId: hop?.spanId, sampled: false });
    assert.deepEqual(headers, [
      'x-other',
      'kept',
      'traceparent',
      `00-${'5'.repeat(32)}-${hop?.spanId}-00`,
      'tracestate',
      'vendor=abc',
      'baggage',
      'tenant=blue',
    ]);
    // The tracer's state is invisible to the request's other readers, and gone at the end.
    assert.deepEqual(Object.keys(req), keys);
    tracer.onRequestEnd(record(req, {}));
    assert.equal(tracer.ids(req), undefined);
    assert.equal(spans.length, 0);
  });

  it('follows a sampled parent under parentbased_traceidratio 0', () => {
    const { spans, tracer } = setup(createSampler('parentbased_traceidratio', 0));
    const req = fakeReq({ traceparent: `00-${'3'.repeat(32)}-${'4'.repeat(16)}-01` });
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    tracer.onRequestEnd(record(req, { endpoint: undefined }));
    assert.equal(spans.length, 1);
  });
});

describe('settings', () => {
  const defaults = (env: Record<string, string>) => {
    const result = loadSettings(TRACING_SETTINGS, PUBLIC_DEFAULTS, [], env);
    if (result.kind !== 'run') throw new Error(`no values: ${result.kind}`);
    return result.values;
  };

  it('leaves tracing off unless an endpoint or an exporter is set', () => {
    assert.equal(tracingConfig(defaults({})).exporter, 'off');
    const on = tracingConfig(defaults({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }));
    assert.equal(on.exporter, 'otlp');
    assert.equal(on.tracesUrl, 'http://otel:4318/v1/traces');
    assert.equal(on.serviceName, 'podrouter-public');
    const local = tracingConfig(defaults({ OTEL_TRACES_EXPORTER: 'otlp' }));
    assert.equal(local.tracesUrl, 'http://localhost:4318/v1/traces');
    const none = defaults({
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x',
    });
    assert.equal(tracingConfig(none).exporter, 'off');
  });

  it('takes the three OTLP protocols; over grpc the endpoint is used as given, 4317 by default', () => {
    const json = tracingConfig(
      defaults({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    );
    assert.equal(json.protocol, 'http/json');
    assert.equal(json.tracesUrl, 'http://otel:4318/v1/traces');
    const grpc = tracingConfig(
      defaults({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4317',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'GRPC',
      }),
    );
    assert.equal(grpc.protocol, 'grpc');
    assert.equal(grpc.tracesUrl, 'http://otel:4317/');
    const local = tracingConfig(
      defaults({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    );
    assert.equal(local.tracesUrl, 'http://localhost:4317');
    assert.equal(tracingConfig(defaults({})).protocol, 'http/protobuf');
  });

  it('rejects bad values naming the variable', () => {
    assert.throws(() => defaults({ OTEL_TRACES_SAMPLER_ARG: '1.5' }), /OTEL_TRACES_SAMPLER_ARG/);
    assert.throws(() => defaults({ OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER/);
    assert.throws(() => defaults({ OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }), /PROTOCOL/);
    assert.throws(() => defaults({ ACCESS_LOG_SAMPLE: 'half' }), /ACCESS_LOG_SAMPLE/);
  });
});

describe('AccessLog', () => {
  const capture = () => {
    const lines: [string, Record<string, unknown>][] = [];
    const logger = {
      ...Object.fromEntries(
        ['debug', 'info', 'warn', 'error'].map((level) => [
          level,
          (line: Record<string, unknown>) => lines.push([level, line]),
        ]),
      ),
      // As pino at level `info`: debug lines are dropped before they are built.
      isLevelEnabled: (level: string) => level !== 'debug',
    } as unknown as Logger;
    return { lines, logger };
  };

  it('writes the fields, the inbound trace id, the key id, and never the key or the query', () => {
    const { lines, logger } = capture();
    const log = new AccessLog({
      config: accessLogConfig({ accessLog: true, accessLogSample: 1, accessLogLevel: 'info' }),
      logger,
      tier: 'public',
      apiKeyHeader: 'X-ROUTING-API-KEY',
      traceIds: inboundTraceIds,
    });
    const req = fakeReq({
      'x-routing-api-key': 'the-key',
      traceparent: `00-${'5'.repeat(32)}-${'6'.repeat(16)}-01`,
    });
    log.onRequestStart({ req, res: undefined, upgrade: false, socket: req.socket });
    (req.socket as unknown as { bytesWritten: number }).bytesWritten = 400;
    log.observe(record(req, {}));
    const [[level, line] = ['', {}]] = lines;
    assert.equal(level, 'info');
    assert.equal(line.path, '/api/items');
    assert.equal(line.traceId, '5'.repeat(32));
    assert.equal(line.bytesSent, 300);
    assert.equal(line.keyId, 'ad44dc8e');
    assert.equal(JSON.stringify(line).includes('the-key'), false);
    assert.equal(JSON.stringify(line).includes('s3cr3t'), false);
  });

  it('samples successes but always logs server errors, at warn', () => {
    const { lines, logger } = capture();
    const log = new AccessLog({
      config: accessLogConfig({ accessLog: true, accessLogSample: 0.1, accessLogLevel: 'info' }),
      logger,
      tier: 'public',
      apiKeyHeader: 'X-ROUTING-API-KEY',
      traceIds: () => undefined,
      random: () => 0.5,
    });
    log.observe(record(fakeReq({}), {}));
    log.observe(record(fakeReq({}), { status: 502, failure: 'connect-refused' }));
    assert.deepEqual(
      lines.map(([level, line]) => [level, line.status]),
      [['warn', 502]],
    );
  });

  it('builds no line when the logger drops its level', () => {
    const { lines, logger } = capture();
    const log = new AccessLog({
      config: accessLogConfig({ accessLog: true, accessLogSample: 1, accessLogLevel: 'debug' }),
      logger,
      tier: 'public',
      apiKeyHeader: 'X-ROUTING-API-KEY',
      traceIds: () => undefined,
    });
    log.line = () => assert.fail('the line must not be built');
    log.observe(record(fakeReq({}), {}));
    assert.equal(lines.length, 0);
  });
});
