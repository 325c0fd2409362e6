import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type {
  ExchangeRecord,
  PolicyDecisionMessage,
  RequestStartMessage,
  UpstreamRequestMessage,
  UpstreamResponseMessage,
} from '@podrouter/core';
import { keyIdOf } from './key-id.ts';

/** podrouter's own span attributes (the k8s ones are OTel's). */
export const Attr = {
  tier: 'podrouter.tier',
  routeHost: 'podrouter.route.host',
  routePath: 'podrouter.route.path',
  namespace: 'k8s.namespace.name',
  pod: 'k8s.pod.name',
  upstream: 'podrouter.upstream.address',
  retries: 'podrouter.retries',
  policy: 'podrouter.policy.decision',
  keyId: 'podrouter.api_key.id',
  upgrade: 'podrouter.upgrade',
} as const;

export const POLICY_DENIED_EVENT = 'podrouter.policy.denied';

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** Names this hop rewrites on the way upstream; inbound copies (malformed or not) go. */
const PROPAGATION_HEADERS = new Set(['traceparent', 'tracestate', 'baggage']);

const carrierSetter: TextMapSetter<Record<string, string>> = {
  set: (target, key, value) => {
    target[key] = value;
  },
};

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

interface Hop {
  readonly server: Span;
  readonly context: Context;
  client: Span | undefined;
  decision: 'allow' | 'deny' | 'error' | undefined;
}

const pathOf = (url: string | undefined) => {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
};

const hostAndPort = (host: string | undefined): [string, number | undefined] => {
  if (!host) return ['', undefined];
  const match = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(host);
  if (!match) return [host, undefined];
  return [(match[1] as string).toLowerCase(), match[2] ? Number(match[2]) : undefined];
};

/** The method in upper case; node:http already gives known methods so, without a copy. */
const upperMethod = (method: string | undefined) => {
  const given = method ?? 'GET';
  return KNOWN_METHODS.has(given) ? given : given.toUpperCase();
};

/** Span name of a method: itself when HTTP knows it, `HTTP` otherwise (semconv). */
const normalizedMethod = (method: string | undefined) => {
  const upper = upperMethod(method);
  return KNOWN_METHODS.has(upper) ? upper : 'HTTP';
};

function methodAttributes(method: string | undefined, into: Attributes): void {
  const upper = upperMethod(method);
  if (KNOWN_METHODS.has(upper)) {
    into[ATTR_HTTP_REQUEST_METHOD] = upper;
    return;
  }
  into[ATTR_HTTP_REQUEST_METHOD] = '_OTHER';
  into[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = method ?? '';
}

/**
 * Turns the core's diagnostics-channel events into spans: one SERVER span per inbound
 * request and one CLIENT span per upstream attempt, both children of the caller's context.
 * State lives in a WeakMap keyed by the request, so an exchange that never ends leaks nothing.
 */
export class HopTracer {
  readonly #tracer: Tracer;
  readonly #propagator: TextMapPropagator;
  readonly #tier: string;
  readonly #keyHeader: string;
  readonly #hops = new WeakMap<IncomingMessage, Hop>();

  constructor(options: {
    tracer: Tracer;
    propagator: TextMapPropagator;
    tier: string;
    apiKeyHeader: string;
  }) {
    this.#tracer = options.tracer;
    this.#propagator = options.propagator;
    this.#tier = options.tier;
    this.#keyHeader = options.apiKeyHeader.toLowerCase();
  }

  /** The ids of the SERVER span of `req`, for access logs. */
  ids(req: IncomingMessage): { traceId: string; spanId: string; sampled: boolean } | undefined {
    const hop = this.#hops.get(req);
    if (hop === undefined) return undefined;
    const { traceId, spanId, traceFlags } = hop.server.spanContext();
    return { traceId, spanId, sampled: (traceFlags & 1) === 1 };
  }

  onRequestStart = (message: unknown): void => {
    const { req, upgrade } = message as RequestStartMessage;
    const parent = this.#propagator.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const method = normalizedMethod(req.method);
    // The sampler decides first; attributes are built only for spans that are kept.
    const server = this.#tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
    if (server.isRecording()) {
      const attributes: Attributes = {};
      methodAttributes(req.method, attributes);
      const [host, port] = hostAndPort(req.headers.host);
      attributes[ATTR_URL_PATH] = pathOf(req.url);
      attributes[ATTR_URL_SCHEME] = 'encrypted' in req.socket ? 'https' : 'http';
      attributes[ATTR_SERVER_ADDRESS] = host;
      const serverPort = port ?? req.socket.localPort;
      if (serverPort !== undefined) attributes[ATTR_SERVER_PORT] = serverPort;
      if (req.socket.remoteAddress) attributes[ATTR_CLIENT_ADDRESS] = req.socket.remoteAddress;
      attributes[ATTR_NETWORK_PROTOCOL_VERSION] = req.httpVersion;
      const agent = req.headers['user-agent'];
      if (agent) attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
      attributes[Attr.tier] = this.#tier;
      if (upgrade) attributes[Attr.upgrade] = true;
      server.setAttributes(attributes);
    }
    this.#hops.set(req, {
      server,
      context: trace.setSpan(parent, server),
      client: undefined,
      decision: undefined,
    });
  };

  onPolicyDecision = (message: unknown): void => {
    const { req, answer } = message as PolicyDecisionMessage;
    const hop = this.#hops.get(req);
    if (hop === undefined) return;
    if (answer === undefined) {
      hop.decision = 'allow';
      return;
    }
    hop.decision = answer.status >= 500 ? 'error' : 'deny';
    hop.server.addEvent(POLICY_DENIED_EVENT, {
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: answer.status,
      'podrouter.policy.reason': answer.title,
    });
  };

  onUpstreamRequest = (message: unknown): void => {
    const attempt = message as UpstreamRequestMessage;
    const { req, headers, retries } = attempt;
    const hop = this.#hops.get(req);
    if (hop === undefined) return;
    const carrier: Record<string, string> = {};
    this.#propagator.inject(this.#clientContext(hop, attempt), carrier, carrierSetter);
    // The list is built from the inbound headers, and a retry gets the list the first attempt
    // was sent with: on a first attempt without inbound propagation headers there is nothing
    // to remove (and no name to lower-case).
    const inbound = req.headers;
    if (
      retries > 0 ||
      inbound.traceparent !== undefined ||
      inbound.tracestate !== undefined ||
      inbound.baggage !== undefined
    ) {
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (PROPAGATION_HEADERS.has((headers[i] as string).toLowerCase())) headers.splice(i, 2);
      }
    }
    for (const name in carrier) headers.push(name, carrier[name] as string);
  };

  /**
   * The context the upstream request carries: a new CLIENT span's when this hop is sampled.
   * When it is not, a CLIENT span would never be exported, so none is made; the upstream
   * still gets the trace id and the not-sampled flag (under this hop's span id), so the next
   * hop keeps the decision.
   */
  #clientContext(hop: Hop, message: UpstreamRequestMessage): Context {
    if (!hop.server.isRecording()) return hop.context;
    const { req, route, endpoint, retries, upgrade } = message;
    const client = this.#tracer.startSpan(
      normalizedMethod(req.method),
      { kind: SpanKind.CLIENT },
      hop.context,
    );
    if (client.isRecording()) {
      const attributes: Attributes = {};
      methodAttributes(req.method, attributes);
      attributes[ATTR_SERVER_ADDRESS] = endpoint.ip;
      attributes[ATTR_SERVER_PORT] = endpoint.port;
      attributes[ATTR_NETWORK_PEER_ADDRESS] = endpoint.ip;
      attributes[ATTR_NETWORK_PEER_PORT] = endpoint.port;
      attributes[ATTR_URL_FULL] = `${endpoint.origin}${pathOf(req.url)}`;
      attributes[Attr.namespace] = endpoint.namespace;
      attributes[Attr.pod] = endpoint.podName;
      attributes[Attr.upstream] = endpoint.key;
      attributes[Attr.routePath] = route.path;
      if (retries > 0) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = retries;
      if (upgrade) attributes[Attr.upgrade] = true;
      client.setAttributes(attributes);
    }
    hop.client = client;
    return trace.setSpan(hop.context, client);
  }

  onUpstreamResponse = (message: unknown): void => {
    const { req, status, failure } = message as UpstreamResponseMessage;
    const hop = this.#hops.get(req);
    const client = hop?.client;
    if (hop === undefined || client === undefined) return;
    hop.client = undefined;
    if (status > 0) client.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (failure !== undefined) {
      client.setAttribute(ATTR_ERROR_TYPE, failure);
      if (failure !== 'client-gone')
        client.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    } else if (status >= 500) {
      client.setAttribute(ATTR_ERROR_TYPE, String(status));
      client.setStatus({ code: SpanStatusCode.ERROR });
    }
    client.end();
  };

  onRequestEnd = (message: unknown): void => {
    const record = message as ExchangeRecord;
    const { req, route, endpoint, status, failure, retries } = record;
    const hop = this.#hops.get(req);
    if (hop === undefined) return;
    this.#hops.delete(req);
    hop.client?.end();
    const span = hop.server;
    if (!span.isRecording()) {
      span.end();
      return;
    }
    const attributes: Attributes = {};
    if (status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    if (route !== undefined) {
      attributes[ATTR_HTTP_ROUTE] = route.path;
      attributes[Attr.routeHost] = route.host;
      attributes[Attr.routePath] = route.path;
      attributes[Attr.namespace] = route.namespace;
      span.updateName(`${upperMethod(req.method)} ${route.path}`);
    }
    if (endpoint !== undefined) {
      attributes[Attr.pod] = endpoint.podName;
      attributes[Attr.upstream] = endpoint.key;
    }
    attributes[Attr.retries] = retries;
    if (hop.decision !== undefined) attributes[Attr.policy] = hop.decision;
    const keyId = keyIdOf(req, this.#keyHeader);
    if (keyId !== undefined) attributes[Attr.keyId] = keyId;
    if (failure !== undefined) attributes[ATTR_ERROR_TYPE] = failure;
    else if (status >= 500) attributes[ATTR_ERROR_TYPE] = String(status);
    span.setAttributes(attributes);
    if (status >= 500 || (failure !== undefined && failure !== 'client-gone')) {
      span.setStatus({ code: SpanStatusCode.ERROR, ...(failure ? { message: failure } : {}) });
    }
    span.end();
  };
}
