import type { IncomingMessage } from 'node:http';
import type { ExchangeRecord, Logger, RequestStartMessage } from '@podrouter/core';
import { keyIdOf } from './key-id.ts';
import type { AccessLogConfig } from './settings.ts';

/**
 * One JSON line per request. What it never holds: a header value other than Host (so no
 * key, cookie or token), a body, or the query string — query parameters carry secrets
 * (`?api_key=`, `?token=`, signed-URL signatures) too often to log any of them.
 */

export interface AccessLine {
  readonly tier: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly upstreamMs: number;
  readonly route?: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly upstream?: string;
  readonly retries: number;
  readonly failure?: string;
  readonly upgrade?: true;
  /** Bytes written to the client for this exchange, head included (like nginx $bytes_sent). */
  readonly bytesSent: number;
  /** Bytes read from the client after the request head (the body, as sent). */
  readonly bytesReceived: number;
  readonly client?: string;
  readonly traceId?: string;
  readonly spanId?: string;
  readonly keyId?: string;
}

export type TraceIds = (
  req: IncomingMessage,
) => { traceId: string; spanId?: string; sampled?: boolean } | undefined;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** Without tracing, the caller's trace id still ties log lines together. */
export const inboundTraceIds: TraceIds = (req) => {
  const header = req.headers.traceparent;
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim());
  return match && match[1] !== '00000000000000000000000000000000'
    ? { traceId: match[1] as string }
    : undefined;
};

const round = (ms: number) => Math.round(ms * 100) / 100;

export class AccessLog {
  readonly #config: AccessLogConfig;
  readonly #logger: Logger;
  readonly #tier: string;
  readonly #keyHeader: string;
  readonly #traceIds: TraceIds;
  readonly #random: () => number;
  readonly #counters = new WeakMap<IncomingMessage, { written: number; read: number }>();

  constructor(options: {
    config: AccessLogConfig;
    logger: Logger;
    tier: string;
    apiKeyHeader: string;
    traceIds: TraceIds;
    random?: () => number;
  }) {
    this.#config = options.config;
    this.#logger = options.logger;
    this.#tier = options.tier;
    this.#keyHeader = options.apiKeyHeader.toLowerCase();
    this.#traceIds = options.traceIds;
    this.#random = options.random ?? Math.random;
  }

  /** Socket counters at the start, so a keep-alive connection's earlier requests don't count. */
  onRequestStart = (message: unknown): void => {
    const { req, socket } = message as RequestStartMessage;
    const counted = socket as { bytesWritten?: number; bytesRead?: number };
    this.#counters.set(req, { written: counted.bytesWritten ?? 0, read: counted.bytesRead ?? 0 });
  };

  observe = (record: ExchangeRecord): void => {
    const failed = record.status >= 500 || record.status === 0;
    if (!failed && this.#config.sample < 1 && this.#random() >= this.#config.sample) return;
    const level =
      failed && record.status !== 0 && this.#config.level !== 'error' ? 'warn' : this.#config.level;
    // Building the line is most of the cost: skip it when LOG_LEVEL drops it anyway.
    if (!this.#logger.isLevelEnabled(level)) return;
    this.#logger[level](this.line(record), 'access');
  };

  line(record: ExchangeRecord): AccessLine {
    const { req, route, endpoint } = record;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const host = req.headers.host ?? '';
    const socket = req.socket as { bytesWritten?: number; bytesRead?: number } | null;
    const start = this.#counters.get(req);
    const ids = this.#traceIds(req);
    const keyId = keyIdOf(req, this.#keyHeader);
    return {
      tier: this.#tier,
      method: req.method ?? '',
      host: host.toLowerCase(),
      path: query === -1 ? url : url.slice(0, query),
      status: record.status,
      durationMs: round(performance.now() - record.startedAt),
      upstreamMs: round(record.upstreamMs),
      ...(route ? { route: route.path, namespace: route.namespace } : {}),
      ...(endpoint ? { pod: endpoint.podName, upstream: endpoint.key } : {}),
      retries: record.retries,
      ...(record.failure ? { failure: record.failure } : {}),
      ...(record.upgrade ? { upgrade: true as const } : {}),
      bytesSent: (socket?.bytesWritten ?? 0) - (start?.written ?? 0),
      bytesReceived: (socket?.bytesRead ?? 0) - (start?.read ?? 0),
      ...(req.socket?.remoteAddress ? { client: req.socket.remoteAddress } : {}),
      ...(ids ? { traceId: ids.traceId, ...(ids.spanId ? { spanId: ids.spanId } : {}) } : {}),
      ...(keyId ? { keyId } : {}),
    };
  }
}
