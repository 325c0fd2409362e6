import { type ClientHttp2Session, connect } from 'node:http2';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * The two OTLP protocols the OpenTelemetry SDK's proto exporter does not speak: `http/json`
 * and `grpc` (OTLP/gRPC, what collectors listen for on 4317). Both serialize with
 * OpenTelemetry's own serializers; only the transport is written here, so the gRPC one
 * needs no gRPC library at run time (one unary call over node:http2).
 */

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

const failed = (error: Error): ExportResult => ({ code: ExportResultCode.FAILED, error });
const SUCCESS: ExportResult = { code: ExportResultCode.SUCCESS };

/** OTLP/HTTP with a JSON body (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`). */
export class OtlpJsonExporter implements SpanExporter {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(options: { url: string; timeoutMs: number; headers: Record<string, string> }) {
    this.#url = options.url;
    this.#timeoutMs = options.timeoutMs;
    this.#headers = options.headers;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const body = JsonTraceSerializer.serializeRequest(spans);
    if (body === undefined) {
      done(failed(new Error('spans could not be serialized')));
      return;
    }
    const sent = fetch(this.#url, {
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    }).then(
      async (response) => {
        await response.arrayBuffer();
        done(
          response.ok
            ? SUCCESS
            : failed(new Error(`OTLP/HTTP JSON export answered ${response.status}`)),
        );
      },
      (error: Error) => done(failed(error)),
    );
    this.#pending.add(sent);
    sent.finally(() => this.#pending.delete(sent));
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }
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
export class OtlpGrpcExporter implements SpanExporter {
  readonly #origin: string;
  readonly #timeoutMs: number;
  /** gRPC metadata: the same headers, minus the ones HTTP/2 or gRPC reserve. */
  readonly #metadata: Record<string, string>;
  #session: ClientHttp2Session | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(options: { url: string; timeoutMs: number; headers: Record<string, string> }) {
    this.#origin = new URL(options.url).origin;
    this.#timeoutMs = options.timeoutMs;
    this.#metadata = Object.fromEntries(
      Object.entries(options.headers).filter(
        ([name]) => !RESERVED_METADATA.has(name) && !name.startsWith('grpc-'),
      ),
    );
  }

  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = connect(this.#origin);
    // A collector that is down fails the exports; the next one tries a new session.
    session.on('error', () => undefined);
    session.once('close', () => {
      if (this.#session === session) this.#session = undefined;
    });
    // Not kept alive for its own sake: the batch processor's next export reopens it.
    session.unref();
    this.#session = session;
    return session;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const message = ProtobufTraceSerializer.serializeRequest(spans);
    if (message === undefined) {
      done(failed(new Error('spans could not be serialized')));
      return;
    }
    const call = new Promise<void>((resolve) => {
      let settled = false;
      const finish = (result: ExportResult) => {
        if (settled) return;
        settled = true;
        resolve();
        done(result);
      };
      let stream: ReturnType<ClientHttp2Session['request']>;
      try {
        stream = this.#connect().request({
          ...this.#metadata,
          ':method': 'POST',
          ':path': EXPORT_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${this.#timeoutMs}m`,
        });
      } catch (error) {
        finish(failed(error as Error));
        return;
      }
      let status: string | undefined;
      let httpStatus = 0;
      stream.setTimeout(this.#timeoutMs, () => {
        stream.close();
        finish(failed(new Error(`OTLP/gRPC export took longer than ${this.#timeoutMs} ms`)));
      });
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status'] ?? 0);
        // Trailers-Only: the status came with the headers.
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
      });
      stream.on('trailers', (trailers) => {
        if (trailers['grpc-status'] !== undefined) status = String(trailers['grpc-status']);
      });
      stream.on('error', (error) => finish(failed(error)));
      stream.resume();
      stream.on('close', () => {
        if (status === '0') finish(SUCCESS);
        else
          finish(
            failed(
              new Error(
                `OTLP/gRPC export failed (HTTP ${httpStatus}, grpc-status ${status ?? 'none'})`,
              ),
            ),
          );
      });
      stream.end(grpcFrame(message));
    });
    this.#pending.add(call);
    call.finally(() => this.#pending.delete(call));
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    this.#session?.close();
    this.#session = undefined;
  }
}
