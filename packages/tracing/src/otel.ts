// Everything that needs OpenTelemetry, loaded by the extension only when tracing is on: its
// SDK, API and exporters are ~290 modules a router without tracing never runs
// (docs/benchmarks.md, Kubernetes source: memory).
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
import { type Logger, VERSION } from '@podrouter/core';
import { OtlpGrpcExporter, OtlpJsonExporter, otlpHeaders } from './otlp-exporters.ts';
import type { SamplerName, TracingConfig } from './settings.ts';

export { HopTracer } from './hop-tracer.ts';

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

/** OTel's own complaints (a collector that is down, a full queue) go to the router's log. */
export function routeDiagnostics(logger: Logger): void {
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn({ component: 'opentelemetry', detail: args.map(String) }, message);
  diag.setLogger(
    { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
}
