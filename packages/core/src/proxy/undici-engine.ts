import type { Dispatcher } from 'undici';
import { buildConnector, Pool } from 'undici';
import { isTlsFailure, tlsConnectOptions } from '../backends/backend-tls.ts';
import type { BackendTls } from '../backends/types.ts';
import type { Endpoint } from '../routes/types.ts';
import {
  ClientGoneError,
  connectErrorKind,
  type FailureKind,
  RequestBodyTooLargeError,
  type UpstreamCall,
  type UpstreamEngine,
  type UpstreamOutcome,
} from './engine.ts';
import { clientResponseHeaders } from './headers.ts';

export interface UndiciEngineOptions {
  readonly connectTimeoutMs: number;
  /** No byte from the upstream for this long (before or during the response) → timeout. */
  readonly idleTimeoutMs: number;
  /** Idle keep-alive connections to a Pod are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Connections per Pod endpoint; 0 = unlimited. */
  readonly maxConnectionsPerEndpoint: number;
}

class TotalTimeoutError extends Error {
  constructor(ms: number) {
    super(`upstream exchange exceeded ${ms} ms`);
    this.name = 'TotalTimeoutError';
  }
}

function classify(error: Error, requestBodyFailed: boolean): FailureKind {
  if (error instanceof ClientGoneError) return 'client-gone';
  if (error instanceof RequestBodyTooLargeError || requestBodyFailed) return 'request-body';
  if (error instanceof TotalTimeoutError) return 'timeout';
  const code = (error as { code?: string }).code ?? '';
  // undici refused the request the router built (a Transfer-Encoding a hook set, …).
  if (code === 'UND_ERR_INVALID_ARG') return 'invalid-request';
  const connectKind = connectErrorKind(code);
  if (connectKind !== undefined) return connectKind;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect-timeout';
  if (isTlsFailure(code)) return 'tls-handshake';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'connection-lost';
}

/**
 * A connector with the raw engine's verified TLS options. undici would take SNI (and the
 * name it verifies) from each request's Host header; the backend's server name is used
 * instead, or none for an address (verified against the certificate's IP SANs).
 */
function tlsConnector(
  endpoint: Endpoint,
  tls: BackendTls,
  timeoutMs: number,
): buildConnector.connector {
  const {
    host: _host,
    port: _port,
    ...verify
  } = tlsConnectOptions(tls, endpoint.ip, endpoint.port);
  const connect = buildConnector({ ...verify, timeout: timeoutMs });
  const servername = typeof verify.servername === 'string' ? verify.servername : '';
  return (options, callback) => connect({ ...options, servername }, callback);
}

/** One exchange: undici's dispatch handler streaming straight into the ServerResponse. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #call: UpstreamCall;
  readonly #done: (outcome: UpstreamOutcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #finished = false;
  #timer: NodeJS.Timeout | undefined;
  #bodyError = false;

  constructor(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void) {
    this.#call = call;
    this.#done = done;
    call.res.once('close', this.#onClientClose);
    call.body?.once('error', this.#onBodyError);
    if (call.totalTimeoutMs > 0) {
      this.#timer = setTimeout(
        () => this.#abort(new TotalTimeoutError(call.totalTimeoutMs)),
        call.totalTimeoutMs,
      );
    }
  }

  #onClientClose = () => {
    if (!this.#finished) this.#abort(new ClientGoneError());
  };

  #onBodyError = () => {
    this.#bodyError = true;
  };

  #onDrain = () => this.#controller?.resume();

  #abort(error: Error) {
    if (this.#controller) this.#controller.abort(error);
    else
      this.#finish({
        status: 0,
        failure: { kind: classify(error, false), error, responseStarted: false },
      });
  }

  #finish(outcome: UpstreamOutcome) {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#call.res.off('close', this.#onClientClose);
    this.#call.body?.off('error', this.#onBodyError);
    this.#done(outcome);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#finished) controller.abort(new ClientGoneError());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: unknown,
    statusMessage?: string,
  ): void {
    this.#status = statusCode;
    const raw = (controller.rawHeaders ?? []) as (Buffer | string)[];
    const { res, responseHeaders } = this.#call;
    const headers = clientResponseHeaders(raw);
    if (responseHeaders) for (const [name, value] of responseHeaders) headers.push(name, value);
    if (statusMessage) res.writeHead(statusCode, statusMessage, headers);
    else res.writeHead(statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#call.res.write(chunk)) {
      controller.pause();
      this.#call.res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(): void {
    this.#call.res.end();
    this.#finish({ status: this.#status });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  fail(error: Error): void {
    const responseStarted = this.#status !== 0;
    this.#finish({
      status: this.#status,
      failure: { kind: classify(error, this.#bodyError), error, responseStarted },
    });
  }
}

/** Keep-alive pools per Pod endpoint, created on first use. */
export class UndiciEngine implements UpstreamEngine {
  readonly #pools = new Map<string, Pool>();
  readonly #options: UndiciEngineOptions;

  constructor(options: UndiciEngineOptions) {
    this.#options = options;
  }

  #pool(endpoint: Endpoint): Pool {
    const { origin, tls } = endpoint;
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      const options = this.#options;
      pool = new Pool(tls === undefined ? origin : origin.slice(0, origin.indexOf('#')), {
        connections:
          options.maxConnectionsPerEndpoint > 0 ? options.maxConnectionsPerEndpoint : null,
        pipelining: 1,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        keepAliveMaxTimeout: options.keepAliveTimeoutMs,
        headersTimeout: options.idleTimeoutMs,
        bodyTimeout: options.idleTimeoutMs,
        connect:
          tls === undefined
            ? { timeout: options.connectTimeoutMs }
            : tlsConnector(endpoint, tls, options.connectTimeoutMs),
        strictContentLength: true,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  forward(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void): void {
    const exchange = new Exchange(call, done);
    try {
      this.#dispatch(call, exchange);
    } catch (error) {
      // undici validates options synchronously; surface it like any upstream failure.
      exchange.fail(error as Error);
    }
  }

  #dispatch(call: UpstreamCall, exchange: Exchange): void {
    const { req } = call;
    this.#pool(call.endpoint).dispatch(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: call.headers,
        body: call.body,
        // The router retries itself, only where that is safe; undici must not.
        idempotent: false,
        blocking: true,
        upgrade: null,
      },
      exchange,
    );
  }

  retainOnly(origins: ReadonlySet<string>): void {
    for (const [origin, pool] of this.#pools) {
      if (origins.has(origin)) continue;
      this.#pools.delete(origin);
      // close() lets in-flight exchanges finish; only idle connections go at once.
      pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }
}
