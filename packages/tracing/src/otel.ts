// Everything tracing needs beyond the router, loaded by the extension only when tracing is
// on: OpenTelemetry's resource detection, its OTLP/HTTP transport and its W3C parsing are
// modules a router without tracing never runs (docs/benchmarks.md, Kubernetes source: memory).
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { type Logger, VERSION } from '@podrouter/core';
import {
  grpcTransport,
  httpJsonTransport,
  httpProtobufTransport,
  otlpHeaders,
  type Transport,
} from './otlp-exporters.ts';
import { RequestHead, type ResourceValue, type Scope } from './otlp-protobuf.ts';
import type { TracingConfig } from './settings.ts';
import { type BatchFactory, jsonBatches, protobufBatches, SpanBatcher } from './span-batcher.ts';

export { HopTracer } from './hop-tracer.ts';
export { createSampler } from './trace-context.ts';

export const SCOPE: Scope = { name: '@podrouter/tracing', version: VERSION };

/**
 * The resource every span carries. Precedence: our defaults < OTEL_RESOURCE_ATTRIBUTES <
 * OTEL_SERVICE_NAME (the setting), merged by OpenTelemetry's resource code.
 */
export function resourceAttributes(
  config: Pick<TracingConfig, 'serviceName'>,
  tier: string,
): Record<string, ResourceValue> {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_VERSION]: VERSION,
    'podrouter.tier': tier,
  })
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }));
  const attributes: Record<string, ResourceValue> = {};
  for (const [key, value] of Object.entries(resource.attributes)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      attributes[key] = value;
    else if (Array.isArray(value))
      attributes[key] = value.filter(
        (item): item is string | number | boolean => item !== null && item !== undefined,
      );
  }
  return attributes;
}

/** The transport for OTEL_EXPORTER_OTLP_PROTOCOL. */
export function createTransport(config: TracingConfig): Transport {
  const options = {
    url: config.tracesUrl,
    timeoutMs: config.batch.exportTimeoutMillis,
    headers: otlpHeaders(process.env),
  };
  switch (config.protocol) {
    case 'grpc':
      return grpcTransport(options);
    case 'http/json':
      return httpJsonTransport(options);
    default:
      return httpProtobufTransport(config.tracesUrl);
  }
}

/** Finished spans → batches in the protocol's encoding → the transport. */
export function createSpanPipeline(
  config: TracingConfig,
  tier: string,
  logger: Logger,
  transport: Transport = createTransport(config),
): { batcher: SpanBatcher; shutdown(): Promise<void> } {
  const resource = resourceAttributes(config, tier);
  const batches: BatchFactory =
    config.protocol === 'http/json'
      ? jsonBatches(resource, SCOPE)
      : protobufBatches(new RequestHead(resource, SCOPE));
  const batcher = new SpanBatcher({
    settings: config.batch,
    batches,
    send: (body, spans) => transport.send(body, spans),
    warn: (message, error) =>
      logger.warn(
        { component: 'opentelemetry', ...(error === undefined ? {} : { detail: [String(error)] }) },
        message,
      ),
  });
  return {
    batcher,
    shutdown: async () => {
      await batcher.shutdown();
      await transport.shutdown();
    },
  };
}

/** OTel's own complaints (from its OTLP/HTTP transport) go to the router's log. */
export function routeDiagnostics(logger: Logger): void {
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn({ component: 'opentelemetry', detail: args.map(String) }, message);
  diag.setLogger(
    { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
}
