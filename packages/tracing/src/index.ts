import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type ChannelMessages,
  channels,
  defineExtension,
  type Extension,
  type ExtensionParts,
} from '@podrouter/core';
import { Counter, Registry } from 'prom-client';
import { AccessLog, inboundTraceIds, type TraceIds } from './access-log.ts';
import { accessLogConfig, TRACING_SETTINGS, tracingConfig } from './settings.ts';

export { type AccessLine, AccessLog, inboundTraceIds } from './access-log.ts';
export { keyIdOf } from './key-id.ts';
export { accessLogConfig, TRACING_SETTINGS, tracingConfig } from './settings.ts';

type Subscriptions = [keyof ChannelMessages, (message: unknown) => void][];

function subscribeAll(subscriptions: Subscriptions): () => void {
  for (const [name, handler] of subscriptions) subscribe(channels[name].name, handler);
  return () => {
    for (const [name, handler] of subscriptions) unsubscribe(channels[name].name, handler);
  };
}

/** Spans the batch queue had no room for (OTEL_BSP_MAX_QUEUE_SIZE): counted, never waited for. */
function droppedSpansMetric(tier: string, dropped: () => number): Registry {
  const registry = new Registry();
  let reported = 0;
  new Counter({
    name: 'podrouter_tracing_spans_dropped_total',
    help: 'Finished spans dropped because the export queue (OTEL_BSP_MAX_QUEUE_SIZE) was full.',
    labelNames: ['tier'],
    registers: [registry],
    collect() {
      const now = dropped();
      this.inc({ tier }, now - reported);
      reported = now;
    },
  });
  return registry;
}

/**
 * Tracing (one SERVER span per request, one CLIENT span per upstream attempt, exported over
 * OTLP over http/protobuf, http/json or grpc) and access logs, for both builds. With tracing
 * off nothing subscribes to the core's channels for it, so the request path does no tracing
 * work at all.
 */
export const tracingExtension: Extension = defineExtension({
  name: 'tracing',
  settings: TRACING_SETTINGS,
  async configure({ config, values, logger }): Promise<ExtensionParts> {
    const tracing = tracingConfig(values);
    const accessLog = accessLogConfig(values);
    const tier = config.build.tier;
    const subscriptions: Subscriptions = [];
    let spans: { shutdown(): Promise<void> } | undefined;
    let metrics: Registry | undefined;
    let traceIds: TraceIds = inboundTraceIds;
    if (tracing.exporter === 'otlp') {
      const otel = await import('./otel.ts');
      otel.routeDiagnostics(logger);
      const pipeline = otel.createSpanPipeline(tracing, tier, logger);
      spans = pipeline;
      metrics = droppedSpansMetric(tier, () => pipeline.batcher.dropped);
      const tracer = new otel.HopTracer({
        sampler: otel.createSampler(tracing.sampler, tracing.samplerArg),
        finish: (span) => pipeline.batcher.add(span),
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
      ...(metrics ? { metrics } : {}),
      close: async () => {
        unsubscribeAll();
        await spans?.shutdown();
      },
    };
  },
});
