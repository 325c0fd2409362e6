import type { IncomingMessage } from 'node:http';
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
  Endpoint,
  ExchangeRecord,
  PolicyDecisionMessage,
  RequestStartMessage,
  Route,
  UpstreamRequestMessage,
  UpstreamResponseMessage,
} from '@podrouter/core';
import { keyIdOf } from './key-id.ts';
import { attributeBlock } from './otlp-protobuf.ts';
import {
  type AttributeBlock,
  type AttributeList,
  attributeKey,
  OtlpKind,
  OtlpStatus,
  type SpanData,
  type SpanEvent,
  spanFlags,
} from './span-data.ts';
import {
  carriedBaggage,
  extractParent,
  newSpanId,
  randomIds,
  type Sampler,
} from './trace-context.ts';

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

/** Every key a span of this hop carries, encoded once (span-data.ts). */
const K = {
  clientAddress: attributeKey(ATTR_CLIENT_ADDRESS),
  errorType: attributeKey(ATTR_ERROR_TYPE),
  method: attributeKey(ATTR_HTTP_REQUEST_METHOD),
  methodOriginal: attributeKey(ATTR_HTTP_REQUEST_METHOD_ORIGINAL),
  resendCount: attributeKey(ATTR_HTTP_REQUEST_RESEND_COUNT),
  statusCode: attributeKey(ATTR_HTTP_RESPONSE_STATUS_CODE),
  route: attributeKey(ATTR_HTTP_ROUTE),
  peerAddress: attributeKey(ATTR_NETWORK_PEER_ADDRESS),
  peerPort: attributeKey(ATTR_NETWORK_PEER_PORT),
  protocolVersion: attributeKey(ATTR_NETWORK_PROTOCOL_VERSION),
  serverAddress: attributeKey(ATTR_SERVER_ADDRESS),
  serverPort: attributeKey(ATTR_SERVER_PORT),
  urlFull: attributeKey(ATTR_URL_FULL),
  urlPath: attributeKey(ATTR_URL_PATH),
  urlScheme: attributeKey(ATTR_URL_SCHEME),
  userAgent: attributeKey(ATTR_USER_AGENT_ORIGINAL),
  tier: attributeKey(Attr.tier),
  routeHost: attributeKey(Attr.routeHost),
  routePath: attributeKey(Attr.routePath),
  namespace: attributeKey(Attr.namespace),
  pod: attributeKey(Attr.pod),
  upstream: attributeKey(Attr.upstream),
  retries: attributeKey(Attr.retries),
  policy: attributeKey(Attr.policy),
  keyId: attributeKey(Attr.keyId),
  upgrade: attributeKey(Attr.upgrade),
  policyReason: attributeKey('podrouter.policy.reason'),
} as const;

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

/** Wall-clock epoch milliseconds, as the OTel SDK stamps spans (timeOrigin + monotonic). */
const TIME_ORIGIN = performance.timeOrigin;
const now = () => TIME_ORIGIN + performance.now();

/** The CLIENT span of the attempt in flight. */
interface Attempt {
  readonly spanId: string;
  readonly start: number;
  readonly name: string;
  readonly attributes: AttributeList;
  readonly endpoint: AttributeBlock;
}

/** What every exchange keeps: the ids and headers the upstream request propagates. */
interface Propagated {
  readonly traceId: string;
  readonly spanId: string;
  /** Inbound `tracestate`, re-serialized; undefined when there was none. */
  readonly traceState: string | undefined;
  readonly baggage: string | undefined;
}

/** An exchange the sampler dropped: propagation only, no span, nothing more to record. */
interface UnsampledHop extends Propagated {
  readonly sampled: false;
}

/**
 * An exchange whose spans are exported: also what the SERVER span is made of when the
 * exchange ends (read at the start where the core may change it later: the socket may be
 * gone, `req.url` is normalised when routed).
 */
interface SampledHop extends Propagated {
  readonly sampled: true;
  /** The caller's span id; '' for a new trace. */
  readonly parentSpanId: string;
  readonly start: number;
  readonly url: string | undefined;
  readonly upgrade: boolean;
  readonly encrypted: boolean;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  client: Attempt | undefined;
  /** The first CLIENT span's id, drawn with the hop's own; '' once taken. */
  firstClientSpanId: string;
  decision: 'allow' | 'deny' | 'error' | undefined;
  events: SpanEvent[] | undefined;
}

type Hop = UnsampledHop | SampledHop;

/** A request as the tracer annotates it (see `HopTracer.#slot`). */
type Carrier = Record<symbol, Hop | undefined>;

const NO_EVENTS: readonly SpanEvent[] = [];

/**
 * The attributes a span takes from a route or an endpoint, encoded on first use. These are
 * objects of the route table, the same for every request until a new table replaces them
 * (and the WeakMaps forget them).
 */
const routeBlocks = new WeakMap<Route, AttributeBlock>();
const endpointBlocks = new WeakMap<Endpoint, AttributeBlock>();
const attemptBlocks = new WeakMap<Endpoint, AttributeBlock>();

function blockOf<T extends object>(
  cache: WeakMap<T, AttributeBlock>,
  owner: T,
  list: (owner: T) => AttributeList,
): AttributeBlock {
  let block = cache.get(owner);
  if (block === undefined) {
    block = attributeBlock(list(owner));
    cache.set(owner, block);
  }
  return block;
}

/** SERVER span: the route matched. */
const routeAttributes = (route: Route): AttributeList => [
  K.route,
  route.path,
  K.routeHost,
  route.host,
  K.routePath,
  route.path,
  K.namespace,
  route.namespace,
];
/** SERVER span: the endpoint that answered. */
const endpointAttributes = (endpoint: Endpoint): AttributeList => [
  K.pod,
  endpoint.podName,
  K.upstream,
  endpoint.key,
];
/** CLIENT span: the endpoint tried. */
const attemptAttributes = (endpoint: Endpoint): AttributeList => [
  K.serverAddress,
  endpoint.ip,
  K.serverPort,
  endpoint.port,
  K.peerAddress,
  endpoint.ip,
  K.peerPort,
  endpoint.port,
  K.namespace,
  endpoint.namespace,
  K.pod,
  endpoint.podName,
  K.upstream,
  endpoint.key,
];

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

/** Span name of a method (upper-cased): itself when HTTP knows it, `HTTP` otherwise (semconv). */
const normalizedMethod = (upper: string) => (KNOWN_METHODS.has(upper) ? upper : 'HTTP');

/** `upper` is `upperMethod(method)`, computed once per span by the caller. */
function methodAttributes(upper: string, method: string | undefined, into: AttributeList): void {
  if (KNOWN_METHODS.has(upper)) {
    into.push(K.method, upper);
    return;
  }
  into.push(K.method, '_OTHER', K.methodOriginal, method ?? '');
}

/**
 * Turns the core's diagnostics-channel events into spans: one SERVER span per inbound
 * request and one CLIENT span per upstream attempt, both children of the caller's context.
 * A span is plain data (SpanData) handed to `finish` when it ends — in the router, the
 * batcher that encodes it to OTLP. An unsampled request gets ids for propagation and
 * nothing else, and its later events return at once. State lives on the request (under a
 * symbol of the tracer's own), so an exchange that never ends leaks nothing.
 */
export class HopTracer {
  readonly #sampler: Sampler;
  readonly #finish: (span: SpanData) => void;
  readonly #tier: string;
  readonly #keyHeader: string;
  /**
   * The exchange's state lives on its request, under a symbol of this tracer's own: a
   * property load instead of a WeakMap lookup on each of the five events (the WeakMap was
   * most of an unsampled exchange's cost), gone with the request as a WeakMap entry would be,
   * and cleared when the exchange ends. Symbol keys are invisible to `Object.keys`, `for…in`
   * and JSON, and to every other reader of the request.
   */
  readonly #slot = Symbol('podrouter.hop');

  #hop(req: IncomingMessage): Hop | undefined {
    return (req as unknown as Carrier)[this.#slot];
  }

  #keep(req: IncomingMessage, hop: Hop | undefined): void {
    (req as unknown as Carrier)[this.#slot] = hop;
  }

  constructor(options: {
    sampler: Sampler;
    finish: (span: SpanData) => void;
    tier: string;
    apiKeyHeader: string;
  }) {
    this.#sampler = options.sampler;
    this.#finish = options.finish;
    this.#tier = options.tier;
    this.#keyHeader = options.apiKeyHeader.toLowerCase();
  }

  /** The ids of the SERVER span of `req`, for access logs. */
  ids(req: IncomingMessage): { traceId: string; spanId: string; sampled: boolean } | undefined {
    const hop = this.#hop(req);
    if (hop === undefined) return undefined;
    return { traceId: hop.traceId, spanId: hop.spanId, sampled: hop.sampled };
  }

  onRequestStart = (message: unknown): void => {
    const { req, upgrade } = message as RequestStartMessage;
    const headers = req.headers;
    const parent = extractParent(headers);
    // One draw, one hex conversion: [trace id,] this hop's span id, its first CLIENT span's.
    const ids = parent === undefined ? randomIds(4) : randomIds(2);
    const at = parent === undefined ? 32 : 0;
    const traceId = parent === undefined ? ids.slice(0, 32) : parent.traceId;
    // The sampler decides first: a dropped exchange keeps what propagation needs and its
    // later events return at once (the sampled flag is their first check).
    const sampled = this.#sampler(traceId, parent);
    const spanId = ids.slice(at, at + 16);
    const traceState = parent?.traceState;
    const baggage = headers.baggage === undefined ? undefined : carriedBaggage(headers);
    if (!sampled) {
      this.#keep(req, { traceId, spanId, traceState, baggage, sampled });
      return;
    }
    const socket = req.socket;
    this.#keep(req, {
      traceId,
      spanId,
      traceState,
      baggage,
      sampled,
      parentSpanId: parent?.spanId ?? '',
      start: now(),
      url: req.url,
      upgrade,
      encrypted: 'encrypted' in socket,
      localPort: socket.localPort,
      remoteAddress: socket.remoteAddress,
      client: undefined,
      firstClientSpanId: ids.slice(at + 16),
      decision: undefined,
      events: undefined,
    });
  };

  onPolicyDecision = (message: unknown): void => {
    const { req, answer } = message as PolicyDecisionMessage;
    const hop = this.#hop(req);
    if (hop === undefined || !hop.sampled) return;
    if (answer === undefined) {
      hop.decision = 'allow';
      return;
    }
    hop.decision = answer.status >= 500 ? 'error' : 'deny';
    hop.events ??= [];
    hop.events.push({
      name: POLICY_DENIED_EVENT,
      time: now(),
      attributes: [K.statusCode, answer.status, K.policyReason, answer.title],
    });
  };

  onUpstreamRequest = (message: unknown): void => {
    const attempt = message as UpstreamRequestMessage;
    const { req, headers, retries } = attempt;
    const hop = this.#hop(req);
    if (hop === undefined) return;
    // The upstream request carries a new CLIENT span's id when this hop is sampled. When it
    // is not, a CLIENT span would never be exported, so none is made; the upstream still
    // gets the trace id and the not-sampled flag (under this hop's span id), so the next hop
    // keeps the decision.
    const spanId = hop.sampled ? this.#startClient(hop, attempt) : hop.spanId;
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
    headers.push('traceparent', `00-${hop.traceId}-${spanId}-${hop.sampled ? '01' : '00'}`);
    if (hop.traceState !== undefined) headers.push('tracestate', hop.traceState);
    if (hop.baggage !== undefined) headers.push('baggage', hop.baggage);
  };

  #startClient(hop: SampledHop, message: UpstreamRequestMessage): string {
    const { req, route, endpoint, retries, upgrade } = message;
    const method = upperMethod(req.method);
    const attributes: AttributeList = [];
    methodAttributes(method, req.method, attributes);
    attributes.push(K.urlFull, `${endpoint.origin}${pathOf(req.url)}`, K.routePath, route.path);
    if (retries > 0) attributes.push(K.resendCount, retries);
    if (upgrade) attributes.push(K.upgrade, true);
    const spanId = hop.firstClientSpanId === '' ? newSpanId() : hop.firstClientSpanId;
    hop.firstClientSpanId = '';
    hop.client = {
      spanId,
      start: now(),
      name: normalizedMethod(method),
      attributes,
      endpoint: blockOf(attemptBlocks, endpoint, attemptAttributes),
    };
    return spanId;
  }

  onUpstreamResponse = (message: unknown): void => {
    const { req, status, failure } = message as UpstreamResponseMessage;
    const hop = this.#hop(req);
    if (hop === undefined || !hop.sampled) return;
    const client = hop.client;
    if (client === undefined) return;
    hop.client = undefined;
    const attributes = client.attributes;
    if (status > 0) attributes.push(K.statusCode, status);
    let code: number = OtlpStatus.UNSET;
    let statusMessage = '';
    if (failure !== undefined) {
      attributes.push(K.errorType, failure);
      if (failure !== 'client-gone') {
        code = OtlpStatus.ERROR;
        statusMessage = failure;
      }
    } else if (status >= 500) {
      attributes.push(K.errorType, String(status));
      code = OtlpStatus.ERROR;
    }
    this.#endClient(hop, client, code, statusMessage);
  };

  #endClient(hop: SampledHop, client: Attempt, statusCode: number, statusMessage: string): void {
    this.#finish({
      traceId: hop.traceId,
      spanId: client.spanId,
      parentSpanId: hop.spanId,
      traceState: hop.traceState ?? '',
      name: client.name,
      kind: OtlpKind.CLIENT,
      start: client.start,
      end: now(),
      attributes: client.attributes,
      blocks: [client.endpoint],
      events: NO_EVENTS,
      statusCode,
      statusMessage,
      flags: spanFlags(true, false),
    });
  }

  onRequestEnd = (message: unknown): void => {
    const record = message as ExchangeRecord;
    const { req, route, endpoint, status, failure, retries } = record;
    const hop = this.#hop(req);
    if (hop === undefined) return;
    this.#keep(req, undefined);
    if (!hop.sampled) return;
    if (hop.client !== undefined) this.#endClient(hop, hop.client, OtlpStatus.UNSET, '');
    const method = upperMethod(req.method);
    const attributes: AttributeList = [];
    methodAttributes(method, req.method, attributes);
    const [host, port] = hostAndPort(req.headers.host);
    attributes.push(
      K.urlPath,
      pathOf(hop.url),
      K.urlScheme,
      hop.encrypted ? 'https' : 'http',
      K.serverAddress,
      host,
    );
    const serverPort = port ?? hop.localPort;
    if (serverPort !== undefined) attributes.push(K.serverPort, serverPort);
    if (hop.remoteAddress) attributes.push(K.clientAddress, hop.remoteAddress);
    attributes.push(K.protocolVersion, req.httpVersion);
    const agent = req.headers['user-agent'];
    if (agent) attributes.push(K.userAgent, agent);
    attributes.push(K.tier, this.#tier);
    if (hop.upgrade) attributes.push(K.upgrade, true);
    if (status > 0) attributes.push(K.statusCode, status);
    const name = route === undefined ? normalizedMethod(method) : `${method} ${route.path}`;
    const blocks: AttributeBlock[] = [];
    if (route !== undefined) blocks.push(blockOf(routeBlocks, route, routeAttributes));
    if (endpoint !== undefined) blocks.push(blockOf(endpointBlocks, endpoint, endpointAttributes));
    attributes.push(K.retries, retries);
    if (hop.decision !== undefined) attributes.push(K.policy, hop.decision);
    const keyId = keyIdOf(req, this.#keyHeader);
    if (keyId !== undefined) attributes.push(K.keyId, keyId);
    if (failure !== undefined) attributes.push(K.errorType, failure);
    else if (status >= 500) attributes.push(K.errorType, String(status));
    const error = status >= 500 || (failure !== undefined && failure !== 'client-gone');
    this.#finish({
      traceId: hop.traceId,
      spanId: hop.spanId,
      parentSpanId: hop.parentSpanId,
      traceState: hop.traceState ?? '',
      name,
      kind: OtlpKind.SERVER,
      start: hop.start,
      end: now(),
      attributes,
      blocks,
      events: hop.events ?? NO_EVENTS,
      statusCode: error ? OtlpStatus.ERROR : OtlpStatus.UNSET,
      statusMessage: error && failure ? failure : '',
      flags: spanFlags(true, hop.parentSpanId !== ''),
    });
  };
}
