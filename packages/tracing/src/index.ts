import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { DiagLogLevel, diag, type TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  type ChannelMessages,
  channels,
  defineExtension,
  type Extension,
  type ExtensionParts,
  type Logger,
  VERSION,
} from '@podrouter/core';
import { AccessLog, inboundTraceIds, type TraceIds } from './access-log.ts';
import { HopTracer } from './hop-tracer.ts';
import { OtlpGrpcExporter, OtlpJsonExporter, otlpHeaders } from './otlp-exporters.ts';
import {
  accessLogConfig,
  type SamplerName,
  TRACING_SETTINGS,
  type TracingConfig,
  tracingConfig,
} from './settings.ts';

export { type AccessLine, AccessLog, inboundTraceIds } from './access-log.ts';
export { Attr, HopTracer, POLICY_DENIED_EVENT } from './hop-tracer.ts';
export { keyIdOf } from './key-id.ts';
export { accessLogConfig, TRACING_SETTINGS, tracingConfig } from './settings.ts';

export function createSampler(name: SamplerName, ratio: number): Sampler {
  const root = name.endsWith('traceidratio')
    ? new TraceIdRatioBasedSampler(ratio)
    : name.endsWith('always_off')
      ? new AlwaysOffSampler()
      : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

export function createPropagator(): TextMapPropagator {
  return new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
}

/** The exporter for OTEL_EXPORTER_OTLP_PROTOCOL. */
export function createExporter(config: TracingConfig): SpanExporter {
  const options = {
    url: config.tracesUrl,
    timeoutMs: config.batch.exportTimeoutMillis,
    headers: otlpHeaders(process.env),
  };
  switch (config.protocol) {
    case 'grpc':
      return new OtlpGrpcExporter(options);
    case 'http/json':
      return new OtlpJsonExporter(options);
    default:
      return new OTLPTraceExporter({ url: config.tracesUrl });
  }
}

export function createTracerProvider(
  config: TracingConfig,
  tier: string,
  exporter: SpanExporter = createExporter(config),
): TracerProvider {
  // Precedence: our defaults < OTEL_RESOURCE_ATTRIBUTES < OTEL_SERVICE_NAME (the setting).
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_VERSION]: VERSION,
    'podrouter.tier': tier,
  })
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }));
  return new TracerProvider({
    resource,
    sampler: createSampler(config.sampler, config.samplerArg),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...config.batch })],
  });
}

type Subscriptions = [keyof ChannelMessages, (message: unknown) => void][];

function subscribeAll(subscriptions: Subscriptions): () => void {
  for (const [name, handler] of subscriptions) subscribe(channels[name].name, handler);
  return () => {
    for (const [name, handler] of subscriptions) unsubscribe(channels[name].name, handler);
  };
}

/** OTel's own complaints (a collector that is down, a full queue) go to the router's log. */
function routeDiagnostics(logger: Logger): void {
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn({ component: 'opentelemetry', detail: args.map(String) }, message);
  diag.setLogger(
    { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
}

/**
 * Tracing (one SERVER span per request, one CLIENT span per upstream attempt, exported over
 * OTLP over http/protobuf, http/json or grpc) and access logs, for both builds. With tracing off nothing subscribes
 * to the core's channels for it, so the request path does no tracing work at all.
 */
export const tracingExtension: Extension = defineExtension({
  name: 'tracing',
  settings: TRACING_SETTINGS,
  configure({ config, values, logger }): ExtensionParts {
    const tracing = tracingConfig(values);
    const accessLog = accessLogConfig(values);
    const tier = config.build.tier;
    const subscriptions: Subscriptions = [];
    let provider: TracerProvider | undefined;
    let traceIds: TraceIds = inboundTraceIds;
    if (tracing.exporter === 'otlp') {
      routeDiagnostics(logger);
      provider = createTracerProvider(tracing, tier);
      const tracer = new HopTracer({
        tracer: provider.getTracer('@podrouter/tracing', VERSION),
        propagator: createPropagator(),
        tier,
        apiKeyHeader: config.apiKeyHeader,
      });
      traceIds = (req) => tracer.ids(req);
      subscriptions.push(
        ['requestStart', tracer.onRequestStart],
        ['policyDecision', tracer.onPolicyDecision],
        ['upstreamRequest', tracer.onUpstreamRequest],
        ['upstreamResponse', tracer.onUpstreamResponse],
        ['requestEnd', tracer.onRequestEnd],
      );
      logger.info(
        {
          url: tracing.tracesUrl,
          serviceName: tracing.serviceName,
          sampler: tracing.sampler,
          samplerArg: tracing.samplerArg,
        },
        `tracing on: OTLP ${tracing.protocol}`,
      );
    }
    const observers = [];
    if (accessLog.enabled) {
      const log = new AccessLog({
        config: accessLog,
        logger,
        tier,
        apiKeyHeader: config.apiKeyHeader,
        traceIds,
      });
      subscriptions.push(['requestStart', log.onRequestStart]);
      observers.push(log.observe);
    }
    const unsubscribeAll = subscribeAll(subscriptions);
    return {
      observers,
      close: async () => {
        unsubscribeAll();
        await provider?.shutdown();
      },
    };
  },
});
