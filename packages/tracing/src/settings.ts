import { ConfigError, type ConfigOf, parsers, setting } from '@podrouter/core';

/**
 * Tracing and access-log settings. The tracing ones are the standard OpenTelemetry
 * environment variables (each also gets a flag, like every podrouter setting), so an
 * operator configures podrouter the way they configure any other OTel SDK.
 */

const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};

const ratio = (raw: string, name: string) => {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  return value >= 0 && value <= 1 ? value : fail(name, `"${raw}" is not a number from 0 to 1`);
};

const url = (raw: string, name: string) => {
  if (raw.trim() === '') return '';
  try {
    const parsed = new URL(raw.trim());
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed.href;
  } catch {}
  return fail(name, `"${raw}" is not an http(s) URL`);
};

const millis = (raw: string, name: string) =>
  /^[0-9]+$/.test(raw.trim())
    ? Number(raw)
    : fail(name, `"${raw}" is not a whole number of milliseconds`);

export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

const s = setting;

export const TRACING_SETTINGS = [
  s({
    key: 'tracesExporter',
    env: 'OTEL_TRACES_EXPORTER',
    flag: '--otel-traces-exporter',
    description:
      'otlp (OTLP, over OTEL_EXPORTER_OTLP_PROTOCOL) or none. Empty: otlp when an OTLP endpoint is set, else tracing is off.',
    default: () => '',
    parse: (raw, name) =>
      raw === '' ? '' : parsers.oneOf('otlp', 'none')(raw.toLowerCase(), name),
  }),
  s({
    key: 'otlpEndpoint',
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    flag: '--otel-exporter-otlp-endpoint',
    description:
      'Base URL of the OTLP collector (over HTTP, spans go to <url>/v1/traces; over grpc, to <url> itself). Setting it turns tracing on.',
    default: () => '',
    parse: url,
  }),
  s({
    key: 'otlpTracesEndpoint',
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    flag: '--otel-exporter-otlp-traces-endpoint',
    description: 'Full OTLP URL for spans; overrides OTEL_EXPORTER_OTLP_ENDPOINT.',
    default: () => '',
    parse: url,
  }),
  s({
    key: 'otlpProtocol',
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    flag: '--otel-exporter-otlp-protocol',
    description:
      'OTLP transport: http/protobuf, http/json or grpc (default endpoint http://localhost:4318, or :4317 for grpc).',
    default: () => 'http/protobuf',
    parse: (raw, name) => parsers.oneOf(...OTLP_PROTOCOLS)(raw.toLowerCase(), name),
  }),
  s({
    key: 'serviceName',
    env: 'OTEL_SERVICE_NAME',
    flag: '--otel-service-name',
    description: 'service.name of the spans.',
    default: (build) => build.name,
    parse: parsers.nonEmpty,
  }),
  s({
    key: 'sampler',
    env: 'OTEL_TRACES_SAMPLER',
    flag: '--otel-traces-sampler',
    description: `Sampler: ${SAMPLERS.join(', ')}.`,
    default: () => 'parentbased_always_on',
    parse: (raw, name) => parsers.oneOf(...SAMPLERS)(raw.toLowerCase(), name),
  }),
  s({
    key: 'samplerArg',
    env: 'OTEL_TRACES_SAMPLER_ARG',
    flag: '--otel-traces-sampler-arg',
    description: 'Ratio (0..1) of new traces kept by the *traceidratio samplers.',
    default: () => '1',
    parse: ratio,
  }),
  s({
    key: 'bspScheduleDelayMs',
    env: 'OTEL_BSP_SCHEDULE_DELAY',
    flag: '--otel-bsp-schedule-delay',
    description: 'Batch span processor: ms between two exports.',
    default: () => '5000',
    parse: millis,
  }),
  s({
    key: 'bspMaxQueueSize',
    env: 'OTEL_BSP_MAX_QUEUE_SIZE',
    flag: '--otel-bsp-max-queue-size',
    description: 'Batch span processor: spans held at most; beyond that new spans are dropped.',
    default: () => '2048',
    parse: parsers.count,
  }),
  s({
    key: 'bspMaxExportBatchSize',
    env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    flag: '--otel-bsp-max-export-batch-size',
    description: 'Batch span processor: spans per export request at most.',
    default: () => '512',
    parse: parsers.count,
  }),
  s({
    key: 'bspExportTimeoutMs',
    env: 'OTEL_BSP_EXPORT_TIMEOUT',
    flag: '--otel-bsp-export-timeout',
    description: 'Batch span processor: ms an export may take.',
    default: () => '30000',
    parse: millis,
  }),
  s({
    key: 'accessLog',
    env: 'ACCESS_LOG',
    flag: '--access-log',
    description: 'One JSON line per request on stdout: on or off.',
    default: () => 'on',
    parse: (raw, name) => parsers.oneOf('on', 'off')(raw.toLowerCase(), name) === 'on',
  }),
  s({
    key: 'accessLogSample',
    env: 'ACCESS_LOG_SAMPLE',
    flag: '--access-log-sample',
    description:
      'Share (0..1) of requests logged; answers with status >= 500 or no answer are always logged.',
    default: () => '1',
    parse: ratio,
  }),
  s({
    key: 'accessLogLevel',
    env: 'ACCESS_LOG_LEVEL',
    flag: '--access-log-level',
    description:
      'Log level of access lines (shown only when LOG_LEVEL lets it through); 5xx lines use at least warn.',
    default: () => 'info',
    parse: parsers.oneOf('debug', 'info', 'warn', 'error'),
  }),
] as const;

/** The tracing and access-log settings, parsed: the type comes from the parsers above. */
export type TracingSettings = ConfigOf<typeof TRACING_SETTINGS>;

export interface TracingConfig {
  /** Where spans go; `off` when tracing is disabled. */
  readonly exporter: 'otlp' | 'off';
  readonly protocol: OtlpProtocol;
  /** Full URL spans are POSTed to (over grpc: the collector's URL, whose origin is called). */
  readonly tracesUrl: string;
  readonly serviceName: string;
  readonly sampler: SamplerName;
  readonly samplerArg: number;
  readonly batch: {
    readonly scheduledDelayMillis: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly exportTimeoutMillis: number;
  };
}

export interface AccessLogConfig {
  readonly enabled: boolean;
  readonly sample: number;
  readonly level: 'debug' | 'info' | 'warn' | 'error';
}

const DEFAULT_OTLP_BASE = 'http://localhost:4318/';
const DEFAULT_OTLP_GRPC = 'http://localhost:4317';

/**
 * Tracing is off unless asked for: an OTLP endpoint or an explicit OTEL_TRACES_EXPORTER.
 * (The OTel SDK default would export to localhost:4318 — a router should not send spans
 * nowhere by default, nor pay for them.)
 */
export function tracingConfig(values: TracingSettings): TracingConfig {
  const explicit = values.tracesExporter;
  const endpoint = values.otlpEndpoint;
  const tracesEndpoint = values.otlpTracesEndpoint;
  const chosen = explicit === '' ? (endpoint || tracesEndpoint ? 'otlp' : 'none') : explicit;
  const base = endpoint || DEFAULT_OTLP_BASE;
  const protocol = values.otlpProtocol;
  return {
    exporter: chosen === 'none' ? 'off' : chosen,
    protocol,
    // The spec: over grpc the endpoint is used as given (no signal path appended).
    tracesUrl:
      protocol === 'grpc'
        ? tracesEndpoint || endpoint || DEFAULT_OTLP_GRPC
        : tracesEndpoint || new URL('v1/traces', base.endsWith('/') ? base : `${base}/`).href,
    serviceName: values.serviceName,
    sampler: values.sampler,
    samplerArg: values.samplerArg,
    batch: {
      scheduledDelayMillis: values.bspScheduleDelayMs,
      maxQueueSize: values.bspMaxQueueSize,
      maxExportBatchSize: values.bspMaxExportBatchSize,
      exportTimeoutMillis: values.bspExportTimeoutMs,
    },
  };
}

export function accessLogConfig(
  values: Pick<TracingSettings, 'accessLog' | 'accessLogSample' | 'accessLogLevel'>,
): AccessLogConfig {
  return {
    enabled: values.accessLog,
    sample: values.accessLogSample,
    level: values.accessLogLevel,
  };
}
