import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EndpointHealth } from '../balancer/endpoint-health.ts';
import type { ClientAddressResolver } from '../guards/client-address.ts';
import type { Admission, ClientLimits } from '../guards/client-limits.ts';
import { channels } from '../observability/channels.ts';
import type { HookContext, HookResponse } from '../pipeline/types.ts';
import { permits } from '../routes/access-rules.ts';
import { matchRoute } from '../routes/match.ts';
import type { Endpoint, Route, RouteTable } from '../routes/types.ts';
import { SendWatch } from '../server/send-timeout.ts';
import {
  type Attempt,
  compose,
  type Dispatch,
  ejectOnConnectFailure,
  publishAttempts,
  retryOnce,
} from './dispatch.ts';
import {
  ClientBodyTimeoutError,
  RequestBodyTooLargeError,
  type UpstreamEngine,
  type UpstreamFailure,
  type UpstreamOutcome,
} from './engine.ts';
import { Exchange } from './exchange.ts';
import type { ExchangeObserver, ExchangeRecord } from './exchange-record.ts';
import { exchangeDeadlineMs } from './grpc.ts';
import { invalidHeader, upstreamRequestHeaders } from './headers.ts';
import { type Inbound, type InboundOptions, inspectInbound, isProblem } from './inbound.ts';
import { type Problem, Problems, sendProblem, writeRawProblem } from './problem.ts';
import { guardBody } from './request-body.ts';
import { openTunnel } from './websocket.ts';

export type { ExchangeObserver, ExchangeRecord } from './exchange-record.ts';

export interface ProxyOptions extends InboundOptions {
  /** Who the client is (TCP peer or trusted proxies' X-Forwarded-For). */
  readonly clientAddress: ClientAddressResolver;
  /** Per-client request rate and concurrency, in memory. */
  readonly clientLimits: ClientLimits;
  /** 0 = unlimited. */
  readonly maxBodyBytes: number;
  /** Longest wait for the next request body byte; 0 = none. */
  readonly bodyTimeoutMs: number;
  /** `close` drops the connection without an answer, like k8s-router's nginx 444. */
  readonly notFound: 'problem' | 'close';
  /** Keep header names with `_`. */
  readonly underscores: boolean;
  /** Lower-case identity header names policy sets: removed from every inbound request. */
  readonly identityHeaders: ReadonlySet<string>;
  /** Lower-case Upgrade tokens tunnelled; any other upgrade is served as a plain request. */
  readonly upgradeTokens: ReadonlySet<string>;
  readonly totalTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** CLIENT_SEND_TIMEOUT for open tunnels' client sides; 0 or absent = none. */
  readonly sendTimeoutMs?: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

function problemFor(failure: UpstreamFailure, maxBodyBytes: number): Problem {
  switch (failure.kind) {
    case 'request-body':
      if (failure.error instanceof RequestBodyTooLargeError)
        return {
          ...Problems.bodyTooLarge,
          detail: `The request body exceeds ${maxBodyBytes} bytes.`,
        };
      if (failure.error instanceof ClientBodyTimeoutError) return Problems.bodyTimeout;
      return {
        status: 400,
        title: 'Request body failed',
        detail: 'The request body could not be read.',
      };
    case 'invalid-request':
      return {
        ...Problems.internalError,
        detail: 'The router could not write the request for the upstream Pod.',
      };
    case 'timeout':
      return { ...Problems.gatewayTimeout, detail: 'The upstream Pod did not answer in time.' };
    case 'tls-handshake':
      return {
        ...Problems.badGateway,
        detail:
          "The upstream's TLS certificate could not be verified, or its TLS handshake failed.",
      };
    case 'connect-local':
      return {
        ...Problems.badGateway,
        detail: 'The router could not open a connection to the upstream Pod.',
      };
    case 'connect-timeout':
      return {
        ...Problems.gatewayTimeout,
        detail: 'The upstream Pod did not accept the connection in time.',
      };
    default:
      return Problems.badGateway;
  }
}

/** A hook's answer, plus the response headers the pipeline collected on the way. */
function withResponseHeaders(answer: HookResponse, context: HookContext): Problem {
  const headers = { ...Object.fromEntries(context.responseHeaders), ...answer.headers };
  return {
    status: answer.status,
    title: answer.title,
    ...(answer.detail ? { detail: answer.detail } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
}

const hasBody = (req: IncomingMessage) => {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

/** The Upgrade tokens of a request, lower-case (`websocket`, `h2c`, …). */
const upgradeTokensOf = (req: IncomingMessage): string[] =>
  (req.headers.upgrade ?? '').split(',').map((token) => token.trim().toLowerCase());

/**
 * The request path, one state machine for plain requests and upgrades alike:
 * inspect (Host, target, method, path) → match → size → policy → dispatch (retry, eject,
 * publish, composed around the engine or the tunnel) → one record. Reads the current route
 * table through `table()` on every request, so a swap takes effect for the next request
 * while exchanges in flight finish on the routes they started with.
 */
export class RouterProxy {
  readonly #table: () => RouteTable;
  readonly #options: ProxyOptions;
  readonly #observe: ExchangeObserver;
  readonly #onHookError: (error: unknown, route: Route) => void;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #forward: Dispatch;
  readonly #tunnel: Dispatch;
  readonly tunnels = new Set<Socket>();
  /**
   * CLIENT_SEND_TIMEOUT for upgrade requests' sockets, which no server sweep covers once
   * handed over: a client that reads nothing holds the Pod's side (of an open tunnel, or of
   * a plain answer from a Pod that did not switch) paused behind it for good. Its socket is
   * closed, and with it the tunnel or the exchange.
   */
  readonly #tunnelSends: SendWatch<Duplex>;

  constructor(deps: {
    table: () => RouteTable;
    engine: UpstreamEngine;
    health: Pick<EndpointHealth, 'eject'>;
    options: ProxyOptions;
    observe: ExchangeObserver;
    onHookError: (error: unknown, route: Route) => void;
    /** The request path threw (a bug, not the client's fault): the client got a 500. */
    onError?: (error: unknown) => void;
    /** A tunnel was closed by CLIENT_SEND_TIMEOUT. */
    onSendTimeout?: () => void;
  }) {
    this.#table = deps.table;
    this.#options = deps.options;
    this.#observe = deps.observe;
    this.#onHookError = deps.onHookError;
    this.#onError = deps.onError;
    const { engine, health, options } = deps;
    this.#tunnelSends = new SendWatch(options.sendTimeoutMs ?? 0, (client) => {
      client.destroy();
      deps.onSendTimeout?.();
    });
    const steps = [retryOnce, ejectOnConnectFailure((key) => health.eject(key)), publishAttempts];
    this.#forward = compose(
      (exchange, attempt, done) => {
        engine.forward(
          {
            req: exchange.req,
            res: exchange.res as ServerResponse,
            endpoint: attempt.endpoint,
            headers: exchange.headers,
            checkedHeaders: exchange.checkedHeaders,
            body: exchange.body,
            // A gRPC caller's `grpc-timeout` shortens it: nobody waits for an answer after.
            totalTimeoutMs: exchangeDeadlineMs(exchange.req, options.totalTimeoutMs),
            responseHeaders: exchange.context?.responseHeaders,
          },
          (outcome) => done(outcome, attempt),
        );
      },
      ...steps,
    );
    this.#tunnel = compose(
      (exchange, attempt, done) => {
        openTunnel(
          {
            req: exchange.req,
            client: exchange.client,
            head: exchange.head ?? Buffer.alloc(0),
            endpoint: attempt.endpoint,
            headers: exchange.headers,
            connectTimeoutMs: options.connectTimeoutMs,
            idleTimeoutMs: options.idleTimeoutMs,
            responseHeaders: exchange.context?.responseHeaders,
            onOpen: (upstream) => {
              this.tunnels.add(upstream);
              upstream.once('close', () => this.tunnels.delete(upstream));
            },
          },
          (outcome) => done(outcome, attempt),
        );
      },
      ...steps,
    );
  }

  /** Node's `shouldUpgradeCallback`: only allowed Upgrade tokens become tunnels. */
  shouldUpgrade = (req: IncomingMessage): boolean =>
    upgradeTokensOf(req).some((token) => this.#options.upgradeTokens.has(token));

  handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.#begin(new Exchange(req, res, req.socket, undefined, false));
  };

  /** Node's `checkContinue`: the `100 Continue` waits for the policy's yes. */
  handleExpectContinue = (req: IncomingMessage, res: ServerResponse): void => {
    this.#begin(new Exchange(req, res, req.socket, undefined, true));
  };

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    // Watched from the handover, not from the 101: a Pod that ignores the Upgrade header
    // answers a plain response, relayed on this socket too.
    if (typeof (socket as Partial<Socket>).bytesWritten === 'number' && !socket.closed) {
      this.#tunnelSends.add(socket, socket as Socket);
      socket.once('close', () => this.#tunnelSends.delete(socket));
    }
    this.#begin(new Exchange(req, undefined, socket, head, false));
  };

  #begin(exchange: Exchange): void {
    const { req } = exchange;
    if (channels.requestStart.hasSubscribers)
      channels.requestStart.publish({
        req,
        res: exchange.res,
        upgrade: exchange.upgrade,
        socket: exchange.client,
      });
    const inbound = inspectInbound(req, this.#options);
    if (isProblem(inbound)) {
      this.#answer(exchange, inbound);
      return;
    }
    const client = this.#options.clientAddress.resolve(req);
    exchange.clientAddress = client.address;
    exchange.peerTrusted = client.peerTrusted;
    if (this.#options.clientLimits.enabled) {
      const admission = this.#options.clientLimits.admit(client.address);
      if (admission instanceof Promise)
        admission
          .then((settled) => this.#admitted(exchange, inbound, settled))
          .catch((error: unknown) => this.#failed(exchange, error));
      else this.#admitted(exchange, inbound, admission);
      return;
    }
    this.#route(exchange, inbound);
  }

  #admitted(exchange: Exchange, inbound: Inbound, admission: Admission): void {
    if (!admission.admitted) {
      this.#answer(exchange, admission.problem);
      return;
    }
    exchange.release = admission.release;
    // The client may have gone while a shared count was asked for (recording releases).
    if (exchange.clientGone) {
      this.#record(exchange, 0, undefined, undefined, 'client-gone');
      return;
    }
    this.#route(exchange, inbound);
  }

  /** Match, access, size and policy: everything after the per-client guards. */
  #route(exchange: Exchange, inbound: Inbound): void {
    const { req } = exchange;
    if (exchange.upgrade && (req.method !== 'GET' || hasBody(req))) {
      this.#answer(exchange, Problems.badUpgrade);
      return;
    }
    const route = matchRoute(this.#table(), inbound.host, inbound.path, req.socket.remoteAddress);
    if (route === undefined) {
      if (this.#options.notFound === 'close') {
        exchange.res?.destroy();
        exchange.client.destroy();
        this.#record(exchange, 0);
      } else this.#answer(exchange, Problems.notFound);
      return;
    }
    exchange.route = route;
    if (route.access !== null && !permits(route.access, exchange.clientAddress)) {
      this.#answer(exchange, Problems.clientForbidden);
      return;
    }
    const { maxBodyBytes } = this.#options;
    if (maxBodyBytes > 0 && Number(req.headers['content-length'] ?? 0) > maxBodyBytes) {
      this.#answer(exchange, {
        ...Problems.bodyTooLarge,
        detail: `The request body exceeds ${maxBodyBytes} bytes.`,
      });
      return;
    }
    if (route.pipeline === null) {
      this.#dispatch(exchange);
      return;
    }
    const context: HookContext = {
      req,
      route,
      clientAddress: exchange.clientAddress,
      upstreamHeaders: new Map(),
      stripHeaders: new Set(),
      responseHeaders: new Map(),
    };
    exchange.context = context;
    this.#runPipeline(context, (answer) => {
      // Caught here, not by the pipeline's catch: a throw past the policy is no hook's, and
      // after an asynchronous hook it would be an unhandled rejection.
      try {
        const invalid =
          invalidHeader(context.upstreamHeaders) ??
          invalidHeader(context.responseHeaders) ??
          invalidHeader(answer?.headers && Object.entries(answer.headers));
        if (invalid !== undefined) {
          // Refused where the values enter, for the engines and for the heads the router
          // writes raw (a 101, a refused handshake) alike. The value is not logged: it may
          // come from a Secret.
          this.#onHookError(
            new Error(
              `policy set an invalid header ${JSON.stringify(invalid)} (CR, LF, NUL or a bad name)`,
            ),
            route,
          );
          this.#answer(exchange, Problems.hookFailed);
        } else if (answer === undefined) this.#dispatch(exchange);
        else this.#answer(exchange, withResponseHeaders(answer, context));
      } catch (error) {
        this.#failed(exchange, error);
      }
    });
  }

  /**
   * The request path threw after an await (admission by a shared count, an asynchronous
   * hook): the client gets a 500 (or its connection cut if its answer had begun) and the
   * exchange its record, instead of an unhandled rejection and a client left waiting.
   */
  #failed(exchange: Exchange, error: unknown): void {
    this.#onError?.(error);
    try {
      if (!exchange.recorded) this.#answer(exchange, Problems.internalError);
      else if (exchange.res !== undefined && !exchange.res.writableEnded) exchange.res.destroy();
    } catch {
      exchange.res?.destroy();
      exchange.client.destroy();
      this.#record(exchange, 0);
    }
  }

  #runPipeline(context: HookContext, decided: (answer: HookResponse | undefined) => void): void {
    const pipeline = context.route.pipeline;
    if (pipeline === null) {
      decided(undefined);
      return;
    }
    const then = channels.policyDecision.hasSubscribers
      ? (answer: HookResponse | undefined) => {
          channels.policyDecision.publish({ req: context.req, route: context.route, answer });
          decided(answer);
        }
      : decided;
    const failed = (error: unknown) => {
      this.#onHookError(error, context.route);
      then(Problems.hookFailed);
    };
    try {
      const result = pipeline.run(context);
      if (result instanceof Promise) result.then(then, failed);
      else then(result);
    } catch (error) {
      failed(error);
    }
  }

  /** The request passed every check: send it to a Pod (or open its tunnel). */
  #dispatch(exchange: Exchange): void {
    const route = exchange.route as Route;
    if (exchange.clientGone) {
      this.#record(exchange, 0, undefined, undefined, 'client-gone');
      return;
    }
    const first = route.balancer.pick();
    if (first === undefined) {
      this.#answer(exchange, Problems.noEndpoints);
      return;
    }
    const { req, context } = exchange;
    const options = this.#options;
    const upstream = upstreamRequestHeaders(req, {
      upgrade: exchange.upgrade,
      trustForwarded: exchange.peerTrusted,
      underscores: options.underscores,
      identity: options.identityHeaders,
      strip: context?.stripHeaders,
      set: context?.upstreamHeaders,
    });
    exchange.headers = upstream.fields;
    exchange.checkedHeaders = upstream.checked;
    const withBody = !exchange.upgrade && hasBody(req);
    if (withBody && (options.maxBodyBytes > 0 || options.bodyTimeoutMs > 0)) {
      exchange.body = guardBody(req, {
        maxBytes: options.maxBodyBytes,
        idleTimeoutMs: options.bodyTimeoutMs,
      });
    } else if (withBody) exchange.body = req;
    exchange.retryable = !withBody && IDEMPOTENT.has(req.method ?? '');
    if (exchange.expectContinue) exchange.res?.writeContinue();
    exchange.upstreamStartedAt = performance.now();
    const dispatch = exchange.upgrade ? this.#tunnel : this.#forward;
    dispatch(exchange, { endpoint: first, retries: 0 }, (outcome, attempt) =>
      this.#settle(exchange, outcome, attempt),
    );
  }

  #settle(exchange: Exchange, outcome: UpstreamOutcome, attempt: Attempt): void {
    const failure = outcome.failure;
    if (failure === undefined) {
      this.#record(exchange, outcome.status, attempt.endpoint, attempt.retries);
      return;
    }
    let status = 0;
    if (failure.kind === 'client-gone') {
      exchange.res?.destroy();
      exchange.client.destroy();
    } else if (failure.responseStarted) {
      exchange.res?.destroy(failure.error);
      exchange.client.destroy();
    } else {
      const problem = problemFor(failure, this.#options.maxBodyBytes);
      status = problem.status;
      this.#send(exchange, problem, failure.kind === 'request-body');
    }
    this.#record(exchange, status, attempt.endpoint, attempt.retries, failure.kind);
  }

  /** Answers the client with a problem the router made itself. */
  #answer(exchange: Exchange, problem: Problem): void {
    this.#send(exchange, problem, false);
    this.#record(exchange, problem.status);
  }

  #send(exchange: Exchange, problem: Problem, close: boolean): void {
    if (exchange.res === undefined) {
      writeRawProblem(exchange.client, problem);
      return;
    }
    // A body the router did not read would be parsed as the next request: close instead.
    const unread = hasBody(exchange.req) && !exchange.req.complete;
    sendProblem(exchange.res, problem, close || unread || problem.status === 400);
  }

  /** The one place an exchange is published: observers, then the diagnostics channel. */
  #record(
    exchange: Exchange,
    status: number,
    endpoint?: Endpoint,
    retries = 0,
    failure?: UpstreamFailure['kind'],
  ): void {
    if (exchange.recorded) return;
    exchange.recorded = true;
    const release = exchange.release;
    if (release !== undefined) {
      // An open tunnel holds its client's slot until it closes.
      if (status === 101 && !exchange.client.destroyed) exchange.client.once('close', release);
      else release();
    }
    const record: ExchangeRecord = {
      req: exchange.req,
      route: exchange.route,
      endpoint,
      status,
      startedAt: exchange.startedAt,
      upstreamMs:
        exchange.upstreamStartedAt === 0 ? 0 : performance.now() - exchange.upstreamStartedAt,
      retries,
      failure,
      upgrade: exchange.upgrade,
    };
    this.#observe(record);
    if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish(record);
  }
}
