import { type ClientHttp2Session, connect } from 'node:http2';
import { ExportResultCode } from '@opentelemetry/core';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

/**
 * The transports of the three OTLP protocols, for batches SpanBatcher has already encoded.
 * `http/protobuf` is OpenTelemetry's own OTLP/HTTP transport (retries, keep-alive agent,
 * OTEL_EXPORTER_OTLP_TIMEOUT / _COMPRESSION / _HEADERS), given the bytes as they are;
 * `http/json` and `grpc` (OTLP/gRPC, what collectors listen for on 4317) are written here,
 * so the gRPC one needs no gRPC library at run time (one unary call over node:http2).
 */

export interface Transport {
  /** Sends one encoded `ExportTraceServiceRequest`; rejects when the collector did not take it. */
  send(body: Uint8Array | string, spans: number): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TransportOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly headers: Record<string, string>;
}

/**
 * `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (the latter wins), as
 * the SDK's own exporter reads them: `key=value` pairs, comma-separated, values
 * percent-decoded. A malformed pair is skipped (never logged: it may hold a token).
 */
export function otlpHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    for (const pair of (env[variable] ?? '').split(',')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals).trim().toLowerCase();
      try {
        const value = decodeURIComponent(pair.slice(equals + 1).trim());
        if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) headers[name] = value;
      } catch {
        // Malformed percent-encoding: skipped.
      }
    }
  }
  return headers;
}

interface EncodedBatch {
  readonly body: Uint8Array;
  readonly spans: number;
}

/** OTLP/HTTP protobuf (`http/protobuf`, the default), through OpenTelemetry's exporter base. */
export function httpProtobufTransport(url: string): Transport {
  const delegate = createOtlpHttpExportDelegate<EncodedBatch, unknown>(
    convertLegacyHttpOptions({ url }, 'TRACES', 'v1/traces', {
      'Content-Type': 'application/x-protobuf',
    }),
    {
      serializeRequest: (batch) => batch.body,
      deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
    },
    'otlp_http_span_exporter',
    { name: 'span', countItems: (batch) => batch.spans },
    undefined,
  );
  return {
    send: (body, spans) =>
      new Promise((resolve, reject) => {
        const bytes = typeof body === 'string' ? Buffer.from(body) : body;
        delegate.export({ body: bytes, spans }, (result) =>
          result.code === ExportResultCode.SUCCESS
            ? resolve()
            : reject(result.error ?? new Error('OTLP/HTTP export failed')),
        );
      }),
    shutdown: () => delegate.shutdown(),
  };
}

/** OTLP/HTTP with a JSON body (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`). */
export function httpJsonTransport(options: TransportOptions): Transport {
  const pending = new Set<Promise<unknown>>();
  return {
    send(body) {
      const sent = fetch(options.url, {
        method: 'POST',
        headers: { ...options.headers, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(options.timeoutMs),
      }).then(async (response) => {
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`OTLP/HTTP JSON export answered ${response.status}`);
      });
      pending.add(sent);
      void sent.catch(() => undefined).finally(() => pending.delete(sent));
      return sent;
    },
    async shutdown() {
      await Promise.allSettled(pending);
    },
  };
}

const RESERVED_METADATA = new Set([
  'content-type',
  'te',
  'host',
  'connection',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
]);

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** One length-prefixed gRPC message (uncompressed). */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * OTLP/gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`): each export is one unary call of
 * `TraceService/Export` on a long-lived HTTP/2 session to the collector (`http://` is h2c,
 * `https://` TLS), opened again when it ends. The call succeeds when its `grpc-status` is 0.
 */
export function grpcTransport(options: TransportOptions): Transport {
  const origin = new URL(options.url).origin;
  const timeoutMs = options.timeoutMs;
  /** gRPC metadata: the same headers, minus the ones HTTP/2 or gRPC reserve. */
  const metadata = Object.fromEntries(
    Object.entries(options.headers).filter(
      ([name]) => !RESERVED_METADATA.has(name) && !name.startsWith('grpc-'),
    ),
  );
  let current: ClientHttp2Session | undefined;
  const pending = new Set<Promise<void>>();

  const session = (): ClientHttp2Session => {
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const opened = connect(origin);
    // A collector that is down fails the exports; the next one tries a new session.
    opened.on('error', () => undefined);
    opened.once('close', () => {
      if (current === opened) current = undefined;
    });
    // Not kept alive for its own sake: the next export reopens it.
    opened.unref();
    current = opened;
    return opened;
  };

  const call = (message: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve();
        else reject(error);
      };
      const stream = session().request({
        ...metadata,
        ':method': 'POST',
        ':path': EXPORT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
      });
      let status: string | undefined;
      let httpStatus = 0;
      stream.setTimeout(timeoutMs, () => {
        stream.close();
        finish(new Error(`OTLP/gRPC export took longer than ${timeoutMs} ms`));
      });
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status'] ?? 0);
        // Trailers-Only: the status came with the headers.
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
      });
      stream.on('trailers', (trailers) => {
        if (trailers['grpc-status'] !== undefined) status = String(trailers['grpc-status']);
      });
      stream.on('error', (error) => finish(error));
      stream.resume();
      stream.on('close', () => {
        if (status === '0') finish();
        else
          finish(
            new Error(
              `OTLP/gRPC export failed (HTTP ${httpStatus}, grpc-status ${status ?? 'none'})`,
            ),
          );
      });
      stream.end(grpcFrame(message));
    });

  return {
    send(body) {
      const sent = call(typeof body === 'string' ? Buffer.from(body) : body);
      pending.add(sent);
      void sent.catch(() => undefined).finally(() => pending.delete(sent));
      return sent;
    },
    async shutdown() {
      await Promise.allSettled(pending);
      current?.close();
      current = undefined;
    },
  };
}
