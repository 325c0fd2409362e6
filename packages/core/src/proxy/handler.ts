import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { EndpointHealth } from '../balancer/endpoint-health.ts';
import { channels } from '../observability/channels.ts';
import type { HookContext, HookResponse } from '../pipeline/types.ts';
import { hostOf, matchRoute } from '../routes/match.ts';
import type { Endpoint, Route, RouteTable } from '../routes/types.ts';
import { limitBody } from './body-limit.ts';
import {
  type FailureKind,
  RequestBodyTooLargeError,
  type UpstreamEngine,
  type UpstreamFailure,
} from './engine.ts';
import type { ExchangeObserver, ExchangeRecord } from './exchange-record.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { type Problem, Problems, sendProblem, writeRawProblem } from './problem.ts';
import { toOriginForm } from './request-target.ts';
import { openTunnel } from './websocket.ts';

export type { ExchangeObserver, ExchangeRecord } from './exchange-record.ts';

export interface ProxyOptions {
  /** 0 = unlimited. */
  readonly maxBodyBytes: number;
  /** `close` drops the connection without an answer, like k8s-router's nginx 444. */
  readonly notFound: 'problem' | 'close';
  readonly trustForwarded: boolean;
  readonly totalTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Failures after which nothing reached the upstream, or a stale keep-alive connection broke. */
const RETRYABLE = new Set<FailureKind>(['connect-refused', 'connect-timeout', 'connection-lost']);

function problemFor(failure: UpstreamFailure, maxBodyBytes: number): Problem {
  switch (failure.kind) {
    case 'request-body':
      return failure.error instanceof RequestBodyTooLargeError
        ? { ...Problems.bodyTooLarge, detail: `The request body exceeds ${maxBodyBytes} bytes.` }
        : {
            status: 400,
            title: 'Request body failed',
            detail: 'The request body could not be read.',
          };
    case 'timeout':
      return { ...Problems.gatewayTimeout, detail: 'The upstream Pod did not answer in time.' };
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

/**
 * The request path: match → policy pipeline → upstream (with one safe retry) → response.
 * Reads the current route table through `table()` on every request, so a swap takes effect
 * for the next request while exchanges in flight finish on the routes they started with.
 */
export class RouterProxy {
  readonly #table: () => RouteTable;
  readonly #engine: UpstreamEngine;
  readonly #health: EndpointHealth;
  readonly #options: ProxyOptions;
  readonly #observe: ExchangeObserver;
  readonly #onHookError: (error: unknown, route: Route) => void;
  readonly tunnels = new Set<Socket>();

  constructor(deps: {
    table: () => RouteTable;
    engine: UpstreamEngine;
    health: EndpointHealth;
    options: ProxyOptions;
    observe: ExchangeObserver;
    onHookError: (error: unknown, route: Route) => void;
  }) {
    this.#table = deps.table;
    this.#engine = deps.engine;
    this.#health = deps.health;
    this.#options = deps.options;
    this.#observe = deps.observe;
    this.#onHookError = deps.onHookError;
  }

  handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now();
    if (!toOriginForm(req)) {
      this.#reply(req, res, undefined, startedAt, Problems.badTarget);
      return;
    }
    if (channels.requestStart.hasSubscribers)
      channels.requestStart.publish({ req, res, upgrade: false, socket: req.socket });
    const route = matchRoute(
      this.#table(),
      hostOf(req.headers.host),
      req.url ?? '/',
      req.socket.remoteAddress,
    );
    if (route === undefined) {
      this.#notFound(req, res, startedAt);
      return;
    }
    const { maxBodyBytes } = this.#options;
    if (maxBodyBytes > 0) {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > maxBodyBytes) {
        this.#reply(
          req,
          res,
          route,
          startedAt,
          { ...Problems.bodyTooLarge, detail: `The request body exceeds ${maxBodyBytes} bytes.` },
          true,
        );
        return;
      }
    }
    this.#withPolicy(
      req,
      route,
      (context) => this.#proxy(req, res, route, startedAt, context),
      (problem) => this.#reply(req, res, route, startedAt, problem),
    );
  };

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const startedAt = performance.now();
    if (!toOriginForm(req)) {
      writeRawProblem(socket, Problems.badTarget);
      return;
    }
    if (channels.requestStart.hasSubscribers)
      channels.requestStart.publish({ req, res: undefined, upgrade: true, socket });
    socket.on('error', () => socket.destroy());
    const route = matchRoute(
      this.#table(),
      hostOf(req.headers.host),
      req.url ?? '/',
      req.socket.remoteAddress,
    );
    const fail = (problem: Problem, routeOf?: Route, failure?: FailureKind) => {
      writeRawProblem(socket, problem);
      this.#record(req, routeOf, undefined, problem.status, startedAt, 0, 0, failure, true);
    };
    if (route === undefined) {
      if (this.#options.notFound === 'close') {
        socket.destroy();
        this.#record(req, undefined, undefined, 0, startedAt, 0, 0, undefined, true);
      } else fail(Problems.notFound);
      return;
    }
    const tunnel = (context: HookContext | undefined) => {
      const headers = upstreamRequestHeaders(req, {
        upgrade: true,
        trustForwarded: this.#options.trustForwarded,
        strip: context?.stripHeaders,
        set: context?.upstreamHeaders,
      });
      const attempt = (endpoint: Endpoint | undefined, retries: number) => {
        if (endpoint === undefined) {
          fail(Problems.noEndpoints, route);
          return;
        }
        const upstreamStart = performance.now();
        if (channels.upstreamRequest.hasSubscribers)
          channels.upstreamRequest.publish({
            req,
            route,
            endpoint,
            headers,
            retries,
            upgrade: true,
          });
        openTunnel(req, socket, head, endpoint, headers, {
          connectTimeoutMs: this.#options.connectTimeoutMs,
          onOpen: (upstream) => {
            if (channels.upstreamResponse.hasSubscribers)
              channels.upstreamResponse.publish({
                req,
                endpoint,
                status: 101,
                retries,
                failure: undefined,
                upgrade: true,
              });
            this.tunnels.add(upstream);
            upstream.once('close', () => this.tunnels.delete(upstream));
            this.#record(
              req,
              route,
              endpoint,
              101,
              startedAt,
              performance.now() - upstreamStart,
              retries,
              undefined,
              true,
            );
          },
          onFailure: (failure) => {
            if (channels.upstreamResponse.hasSubscribers)
              channels.upstreamResponse.publish({
                req,
                endpoint,
                status: 0,
                retries,
                failure,
                upgrade: true,
              });
            this.#health.eject(endpoint.key);
            const next = retries === 0 ? route.balancer.pick(endpoint) : undefined;
            if (next !== undefined && !socket.destroyed) attempt(next, retries + 1);
            else
              fail(
                failure === 'connect-timeout'
                  ? {
                      ...Problems.gatewayTimeout,
                      detail: 'The upstream Pod did not accept the connection in time.',
                    }
                  : Problems.badGateway,
                route,
                failure,
              );
          },
        });
      };
      attempt(route.balancer.pick(), 0);
    };
    this.#withPolicy(req, route, tunnel, (problem) => fail(problem, route));
  };

  /**
   * Runs the route's pipeline, then `proceed` (with what the hooks asked of the upstream
   * request), or `deny` with the hooks' answer. Routes without policy proceed at once.
   */
  #withPolicy(
    req: IncomingMessage,
    route: Route,
    proceed: (context: HookContext | undefined) => void,
    deny: (problem: Problem) => void,
  ): void {
    if (route.pipeline === null) {
      proceed(undefined);
      return;
    }
    const context: HookContext = {
      req,
      route,
      upstreamHeaders: new Map(),
      stripHeaders: new Set(),
      responseHeaders: new Map(),
    };
    this.#runPipeline(context, (answer) => {
      if (answer === undefined) proceed(context);
      else deny(withResponseHeaders(answer, context));
    });
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

  #notFound(req: IncomingMessage, res: ServerResponse, startedAt: number): void {
    if (this.#options.notFound === 'close') {
      res.destroy();
      this.#record(req, undefined, undefined, 0, startedAt, 0, 0, undefined, false);
      return;
    }
    this.#reply(req, res, undefined, startedAt, Problems.notFound);
  }

  #reply(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route | undefined,
    startedAt: number,
    problem: Problem,
    closeConnection = false,
  ): void {
    sendProblem(res, problem, closeConnection);
    this.#record(req, route, undefined, problem.status, startedAt, 0, 0, undefined, false);
  }

  #proxy(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    startedAt: number,
    context: HookContext | undefined,
  ): void {
    const first = route.balancer.pick();
    if (first === undefined) {
      this.#reply(req, res, route, startedAt, Problems.noEndpoints);
      return;
    }
    const withBody = hasBody(req);
    let body: Readable | null = null;
    if (withBody) {
      const { maxBodyBytes } = this.#options;
      body =
        maxBodyBytes > 0 && req.headers['content-length'] === undefined
          ? limitBody(req, maxBodyBytes)
          : req;
    }
    const headers = upstreamRequestHeaders(req, {
      upgrade: false,
      trustForwarded: this.#options.trustForwarded,
      strip: context?.stripHeaders,
      set: context?.upstreamHeaders,
    });
    const retryable = !withBody && IDEMPOTENT.has(req.method ?? '');
    const upstreamStart = performance.now();
    const attempt = (endpoint: Endpoint, retries: number) => {
      if (channels.upstreamRequest.hasSubscribers)
        channels.upstreamRequest.publish({
          req,
          route,
          endpoint,
          headers,
          retries,
          upgrade: false,
        });
      this.#engine.forward(
        {
          req,
          res,
          endpoint,
          headers,
          body,
          totalTimeoutMs: this.#options.totalTimeoutMs,
          responseHeaders: context?.responseHeaders,
        },
        (outcome) => {
          const failure = outcome.failure;
          if (channels.upstreamResponse.hasSubscribers)
            channels.upstreamResponse.publish({
              req,
              endpoint,
              status: outcome.status,
              retries,
              failure: failure?.kind,
              upgrade: false,
            });
          if (failure === undefined) {
            this.#record(
              req,
              route,
              endpoint,
              outcome.status,
              startedAt,
              performance.now() - upstreamStart,
              retries,
              undefined,
              false,
            );
            return;
          }
          if (failure.kind === 'connect-refused' || failure.kind === 'connect-timeout') {
            this.#health.eject(endpoint.key);
          }
          if (
            retryable &&
            retries === 0 &&
            !failure.responseStarted &&
            RETRYABLE.has(failure.kind) &&
            !res.destroyed
          ) {
            const next =
              route.balancer.pick(endpoint) ??
              (failure.kind === 'connection-lost' ? endpoint : undefined);
            if (next !== undefined) {
              attempt(next, 1);
              return;
            }
          }
          let status = 0;
          if (failure.kind === 'client-gone') res.destroy();
          else if (failure.responseStarted) res.destroy(failure.error);
          else {
            const problem = problemFor(failure, this.#options.maxBodyBytes);
            status = problem.status;
            sendProblem(res, problem, failure.kind === 'request-body');
          }
          this.#record(
            req,
            route,
            endpoint,
            status,
            startedAt,
            performance.now() - upstreamStart,
            retries,
            failure.kind,
            false,
          );
        },
      );
    };
    attempt(first, 0);
  }

  #record(
    req: IncomingMessage,
    route: Route | undefined,
    endpoint: Endpoint | undefined,
    status: number,
    startedAt: number,
    upstreamMs: number,
    retries: number,
    failure: FailureKind | undefined,
    upgrade: boolean,
  ): void {
    const record: ExchangeRecord = {
      req,
      route,
      endpoint,
      status,
      startedAt,
      upstreamMs,
      retries,
      failure,
      upgrade,
    };
    this.#observe(record);
    if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish(record);
  }
}
