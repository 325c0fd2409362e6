import { ConfigError } from '../errors.ts';
import { parseCidrs } from '../guards/client-address.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
import { parseSecretRef } from '../tls/secret-name.ts';
import { defaultWorkers } from '../workers/cpu-limit.ts';
import { parseDuration, parseSize } from './units.ts';

/**
 * Every router setting, as data: its environment variable (the k8s-router names keep their
 * meaning), its flag, its default per build and its parser. `--help`, the README table and
 * the chart's values are generated from or checked against this list.
 */

/** What differs between the public and the private build. Nothing else does. */
export interface BuildDefaults {
  readonly tier: 'public' | 'private';
  readonly name: string;
  readonly port: number;
  readonly adminPort: number;
  readonly introspectionPort: number;
  readonly hostsAnnotation: string;
  readonly pathsAnnotation: string;
  readonly apiKeySecretLocation: string;
}

export const PUBLIC_DEFAULTS: BuildDefaults = {
  tier: 'public',
  name: 'podrouter-public',
  port: 80,
  adminPort: 9080,
  introspectionPort: 9180,
  hostsAnnotation: 'publicHosts',
  pathsAnnotation: 'publicPaths',
  apiKeySecretLocation: 'routing:public-api-key',
};

export const PRIVATE_DEFAULTS: BuildDefaults = {
  tier: 'private',
  name: 'podrouter-private',
  port: 81,
  adminPort: 9081,
  introspectionPort: 9181,
  hostsAnnotation: 'privateHosts',
  pathsAnnotation: 'privatePaths',
  apiKeySecretLocation: 'routing:private-api-key',
};

/**
 * One setting as data. Its value type is its parser's return type, and the config type of a
 * list of settings is derived from them (`ConfigOf`): nothing is declared twice.
 */
export interface Setting<K extends string = string, V = unknown> {
  readonly key: K;
  readonly env: string;
  readonly flag: string;
  readonly description: string;
  readonly default: (build: BuildDefaults) => string;
  readonly parse: (raw: string, name: string) => V;
  /** A flag that takes no value (`--flag` means true). */
  readonly boolean?: boolean;
}

/** The parsed values of a list of settings, by key, typed by each parser. */
export type ConfigOf<S extends readonly Setting[]> = {
  readonly [E in S[number] as E['key']]: ReturnType<E['parse']>;
};

/** Declares a setting, keeping its key literal and its value type. */
export const setting = <const K extends string, V>(definition: Setting<K, V>): Setting<K, V> =>
  definition;

const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};

const port = (raw: string, name: string) => {
  const value = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
  return value >= 0 && value <= 65535 ? value : fail(name, `"${raw}" is not a port (0-65535)`);
};
const duration = (raw: string, name: string) =>
  parseDuration(raw) ?? fail(name, `"${raw}" is not a duration (e.g. 500ms, 5s, 2m)`);
const size = (raw: string, name: string) =>
  parseSize(raw) ?? fail(name, `"${raw}" is not a size (e.g. 0, 512k, 10m)`);
const count = (raw: string, name: string) =>
  /^[0-9]+$/.test(raw) ? Number(raw) : fail(name, `"${raw}" is not a non-negative integer`);
const oneOf =
  <T extends string>(...values: T[]) =>
  (raw: string, name: string): T =>
    (values as string[]).includes(raw)
      ? (raw as T)
      : fail(name, `"${raw}" is not one of ${values.join(', ')}`);
const bool = (raw: string, name: string) =>
  ['true', '1', 'yes'].includes(raw.toLowerCase())
    ? true
    : ['false', '0', 'no', ''].includes(raw.toLowerCase())
      ? false
      : fail(name, `"${raw}" is not true or false`);
const workers = (raw: string, name: string) =>
  raw === 'auto'
    ? defaultWorkers()
    : /^[0-9]+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 1024
      ? Number(raw)
      : fail(name, `"${raw}" is not auto or a number of processes (1-1024)`);
const text = (raw: string) => raw;
const nonEmpty = (raw: string, name: string) =>
  raw.trim() === '' ? fail(name, 'must not be empty') : raw.trim();
const annotationName = (raw: string, name: string) =>
  /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(raw)
    ? raw
    : fail(name, `"${raw}" is not an annotation name`);
const selector = (raw: string, name: string) => {
  try {
    parseLabelSelector(raw);
    return raw;
  } catch (error) {
    return fail(name, `not a label selector: ${(error as Error).message}`);
  }
};
const secretLocation = (raw: string, name: string) => {
  const match = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([-._a-zA-Z0-9]+)$/.exec(raw);
  return match
    ? { secretName: match[1] as string, field: match[3] as string }
    : fail(name, `"${raw}" is not SECRET_NAME:FIELD`);
};
const headerName = (raw: string, name: string) =>
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw)
    ? raw
    : fail(name, `"${raw}" is not an HTTP header name`);
const namespaces = (raw: string) =>
  raw
    .split(',')
    .map((namespace) => namespace.trim())
    .filter((namespace) => namespace !== '');

/** A port, or `off`/empty for none (the chart passes no empty value, hence `off`). */
const optionalPort = (raw: string, name: string) =>
  raw.trim() === '' || raw.trim().toLowerCase() === 'off' ? undefined : port(raw.trim(), name);
const secretRef = (raw: string, name: string) => {
  if (raw.trim() === '') return undefined;
  const ref = parseSecretRef(raw.trim());
  return 'reason' in ref ? fail(name, ref.reason) : ref;
};

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Methods served: those listed, plus with `*` every method but TRACE and CONNECT. */
export interface MethodPolicy {
  readonly any: boolean;
  readonly listed: ReadonlySet<string>;
}
const methods = (raw: string, name: string): MethodPolicy => {
  const list = raw
    .split(',')
    .map((method) => method.trim())
    .filter((method) => method !== '');
  if (list.length === 0) return fail(name, 'must list at least one method, or *');
  for (const method of list)
    if (method !== '*' && !TOKEN.test(method)) fail(name, `"${method}" is not a method`);
  return {
    any: list.includes('*'),
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    listed: new Set(list.filter((method) => method !== '*')),
  };
};
const upgradeProtocols = (raw: string, name: string): ReadonlySet<string> => {
  const tokens = raw
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
  for (const token of tokens) {
    if (!TOKEN.test(token)) fail(name, `"${token}" is not an Upgrade token`);
    if (token === 'h2c') fail(name, 'h2c upgrades are never tunnelled (the smuggling class)');
  }
  return new Set(tokens);
};

const cidrs = (raw: string, name: string): readonly string[] => {
  const list = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  try {
    parseCidrs(list);
  } catch (error) {
    fail(name, (error as Error).message);
  }
  return list;
};
const rate = (raw: string, name: string): { readonly perSecond: number } => {
  if (raw.trim() === '') return { perSecond: 0 };
  const match = /^([0-9]+(?:\.[0-9]+)?)\/(s|m)$/.exec(raw.trim());
  const value = match ? Number(match[1]) : 0;
  if (!match || value <= 0) return fail(name, `"${raw}" is not a rate such as 20/s or 600/m`);
  return { perSecond: match[2] === 's' ? value : value / 60 };
};

const s = setting;

export const ROUTER_SETTINGS = [
  s({
    key: 'port',
    env: 'PORT',
    flag: '--port',
    description: 'Port of the proxy listener.',
    default: (b) => String(b.port),
    parse: port,
  }),
  s({
    key: 'listenAddress',
    env: 'LISTEN_ADDRESS',
    flag: '--listen-address',
    description: 'Address the proxy and probe listeners bind to.',
    default: () => '0.0.0.0',
    parse: nonEmpty,
  }),
  s({
    key: 'adminPort',
    env: 'ADMIN_PORT',
    flag: '--admin-port',
    description:
      'Port of the probe and metrics server (/healthz, /readyz, /metrics), on LISTEN_ADDRESS.',
    default: (b) => String(b.adminPort),
    parse: port,
  }),
  s({
    key: 'tlsPort',
    env: 'TLS_PORT',
    flag: '--tls-port',
    description:
      'Port of the HTTPS listener (TLS 1.2+, certificates from kubernetes.io/tls Secrets chosen by SNI; docs/tls.md); off (or empty) = no TLS.',
    default: (b) => (b.tier === 'public' ? '443' : ''),
    parse: optionalPort,
  }),
  s({
    key: 'tlsSecretAnnotation',
    env: 'TLS_SECRET_ANNOTATION',
    flag: '--tls-secret-annotation',
    description:
      "Pod annotation naming a kubernetes.io/tls Secret of the Pod's own namespace; its certificate serves every host of the hosts annotation.",
    default: (b) => `${b.tier}TlsSecret`,
    parse: annotationName,
  }),
  s({
    key: 'allowFromAnnotation',
    env: 'ALLOW_FROM_ANNOTATION',
    flag: '--allow-from-annotation',
    description:
      'Pod annotation with the IPs/CIDRs allowed to call its routes (space-delimited); others get 403. Checked against the client address (see TRUSTED_PROXIES).',
    default: (b) => `${b.tier}AllowFrom`,
    parse: annotationName,
  }),
  s({
    key: 'denyFromAnnotation',
    env: 'DENY_FROM_ANNOTATION',
    flag: '--deny-from-annotation',
    description: 'Pod annotation with the IPs/CIDRs refused (403) on its routes (space-delimited).',
    default: (b) => `${b.tier}DenyFrom`,
    parse: annotationName,
  }),
  s({
    key: 'backendTlsAnnotation',
    env: 'BACKEND_TLS_ANNOTATION',
    flag: '--backend-tls-annotation',
    description:
      'Service annotation turning on verified TLS to its backends: "system" (system roots) or the name of a Secret of its namespace with ca.crt. Ports named https/https-* (or appProtocol https) use TLS with the system roots without it.',
    default: (b) => `${b.tier}BackendTls`,
    parse: annotationName,
  }),
  s({
    key: 'backendServerNameAnnotation',
    env: 'BACKEND_SERVER_NAME_ANNOTATION',
    flag: '--backend-server-name-annotation',
    description:
      "Service annotation with the name sent as SNI and verified in the backend's certificate; default: the ExternalName, else the endpoint address.",
    default: (b) => `${b.tier}BackendServerName`,
    parse: annotationName,
  }),
  s({
    key: 'defaultTlsSecret',
    env: 'DEFAULT_TLS_SECRET',
    flag: '--default-tls-secret',
    description:
      'NAMESPACE/NAME of a kubernetes.io/tls Secret for clients without SNI and hosts without a certificate of their own; empty = none.',
    default: () => '',
    parse: secretRef,
  }),
  s({
    key: 'httpsRedirect',
    env: 'HTTPS_REDIRECT',
    flag: '--https-redirect',
    description:
      'With TLS_PORT: answer plain HTTP requests for hosts that have a certificate with 308 to https:// (ACME http-01 challenges excepted).',
    default: () => 'true',
    parse: bool,
  }),
  s({
    key: 'hstsMaxAgeMs',
    env: 'HSTS_MAX_AGE',
    flag: '--hsts-max-age',
    description:
      'With TLS_PORT: send Strict-Transport-Security with this max-age on HTTPS answers of hosts that have a certificate (unless the Pod sends its own); 0 = off.',
    default: () => '0',
    parse: duration,
  }),
  s({
    key: 'introspectionAddress',
    env: 'INTROSPECTION_ADDRESS',
    flag: '--introspection-address',
    description:
      'Address of the introspection server (/routes: Pod IPs, names, key requirements, plus the probes). Loopback by default: reach it with kubectl port-forward.',
    default: () => '127.0.0.1',
    parse: nonEmpty,
  }),
  s({
    key: 'introspectionPort',
    env: 'INTROSPECTION_PORT',
    flag: '--introspection-port',
    description: 'Port of the introspection server.',
    default: (b) => String(b.introspectionPort),
    parse: port,
  }),
  s({
    key: 'source',
    env: 'SOURCE',
    flag: '--source',
    description: 'Where Pods and Secrets come from: kube (API server) or file.',
    default: () => 'kube',
    parse: oneOf('kube', 'file'),
  }),
  s({
    key: 'sourceFile',
    env: 'SOURCE_FILE',
    flag: '--file',
    description:
      'With --source file: a YAML file of Pods and Secrets (kubectl get pods,secrets -A -o yaml, or multi-document YAML). Watched.',
    default: () => '',
    parse: text,
  }),
  s({
    key: 'kubeconfig',
    env: 'KUBECONFIG',
    flag: '--kubeconfig',
    description: 'With --source kube: kubeconfig file; in-cluster configuration when empty.',
    default: () => '',
    parse: text,
  }),
  s({
    key: 'watchNamespaces',
    env: 'WATCH_NAMESPACES',
    flag: '--watch-namespaces',
    description: 'Comma-separated namespaces to watch; empty = all.',
    default: () => '',
    parse: namespaces,
  }),
  s({
    key: 'externalNameMinTtlMs',
    env: 'EXTERNAL_NAME_MIN_TTL',
    flag: '--external-name-min-ttl',
    description:
      "Shortest time an ExternalName Service's resolved addresses are kept before resolving again, whatever the DNS TTL (a 0 TTL must not spin the resolver).",
    default: () => '5s',
    parse: duration,
  }),
  s({
    key: 'externalNameMaxTtlMs',
    env: 'EXTERNAL_NAME_MAX_TTL',
    flag: '--external-name-max-ttl',
    description:
      "Longest time an ExternalName Service's resolved addresses are kept before resolving again, whatever the DNS TTL (addresses that moved are followed within it).",
    default: () => '5m',
    parse: duration,
  }),
  s({
    key: 'externalNameRetryMs',
    env: 'EXTERNAL_NAME_RETRY',
    flag: '--external-name-retry',
    description:
      'After an ExternalName fails to resolve, the next attempt; the last addresses keep routing meanwhile.',
    default: () => '5s',
    parse: duration,
  }),
  s({
    key: 'watchSilenceTimeoutMs',
    env: 'WATCH_SILENCE_TIMEOUT',
    flag: '--watch-silence-timeout',
    description:
      'With --source kube: a watch with no event or bookmark for this long is restarted (the API server sends a bookmark about once a minute).',
    default: () => '90s',
    parse: duration,
  }),
  s({
    key: 'podEvents',
    env: 'POD_EVENTS',
    flag: '--pod-events',
    description:
      'With --source kube: write a Kubernetes Event on each Pod whose annotation entries are rejected (needs create/patch/get on events.k8s.io events; without them Pod Events are turned off at start, with a warning).',
    default: () => 'true',
    parse: bool,
  }),
  s({
    key: 'hostsAnnotation',
    env: 'HOSTS_ANNOTATION',
    flag: '--hosts-annotation',
    description: 'Pod annotation holding the space-delimited hosts.',
    default: (b) => b.hostsAnnotation,
    parse: annotationName,
  }),
  s({
    key: 'pathsAnnotation',
    env: 'PATHS_ANNOTATION',
    flag: '--paths-annotation',
    description: 'Pod annotation holding the space-delimited PORT:PATH pairs.',
    default: (b) => b.pathsAnnotation,
    parse: annotationName,
  }),
  s({
    key: 'routableLabelSelector',
    env: 'ROUTABLE_LABEL_SELECTOR',
    flag: '--routable-label-selector',
    description: 'Label selector of the Pods to route.',
    default: () => 'routable=true',
    parse: selector,
  }),
  s({
    key: 'aliasHosts',
    env: 'ALIAS_HOSTS',
    flag: '--alias-hosts',
    description:
      'Read hosts of the form svc.ns as Service aliases: svc.ns.svc and svc.ns.svc.<CLUSTER_DOMAIN> match them too, and so does a bare svc when the caller (by its Pod IP) or the only namespace with that alias tells which one.',
    default: (b) => String(b.tier === 'private'),
    parse: bool,
  }),
  s({
    key: 'clusterDomain',
    env: 'CLUSTER_DOMAIN',
    flag: '--cluster-domain',
    description: 'DNS domain of the cluster, for ALIAS_HOSTS.',
    default: () => 'cluster.local',
    parse: nonEmpty,
  }),
  s({
    key: 'apiKeySecretLocation',
    env: 'API_KEY_SECRET_LOCATION',
    flag: '--api-key-secret-location',
    description: 'SECRET_NAME:FIELD of the per-namespace API key Secret.',
    default: (b) => b.apiKeySecretLocation,
    parse: secretLocation,
  }),
  s({
    key: 'apiKeyHeader',
    env: 'API_KEY_HEADER',
    flag: '--api-key-header',
    description: 'Request header carrying the API key.',
    default: () => 'X-ROUTING-API-KEY',
    parse: headerName,
  }),
  s({
    key: 'clientMaxBodySize',
    env: 'CLIENT_MAX_BODY_SIZE',
    flag: '--client-max-body-size',
    description: 'Largest request body (nginx syntax: 512k, 10m); 0 = unlimited. Larger → 413.',
    default: () => '1m',
    parse: size,
  }),
  s({
    key: 'maxHeaderSize',
    env: 'MAX_HEADER_SIZE',
    flag: '--max-header-size',
    description: 'Largest request head (request line + headers). Larger → 431.',
    default: () => '16k',
    parse: size,
  }),
  s({
    key: 'allowedMethods',
    env: 'ALLOWED_METHODS',
    flag: '--allowed-methods',
    description:
      'Comma-separated methods served; * = every method but TRACE (and CONNECT, never proxied). Others → 405. E.g. *,TRACE or GET,HEAD,POST.',
    default: () => '*',
    parse: methods,
  }),
  s({
    key: 'mergeSlashes',
    env: 'MERGE_SLASHES',
    flag: '--merge-slashes',
    description:
      'Collapse repeated / in request paths before matching (the Pod gets the merged path).',
    default: () => 'false',
    parse: bool,
  }),
  s({
    key: 'escapedSlashes',
    env: 'PATH_ESCAPED_SLASHES',
    flag: '--path-escaped-slashes',
    description:
      'Paths holding %2F, %5C or \\: reject (400) or keep (forwarded as data, never as a separator).',
    default: () => 'reject',
    parse: oneOf('reject', 'keep'),
  }),
  s({
    key: 'underscoresInHeaders',
    env: 'UNDERSCORES_IN_HEADERS',
    flag: '--underscores-in-headers',
    description:
      'Forward request header names that contain _ (dropped by default, like nginx: X_Forwarded_For must not pass for X-Forwarded-For).',
    default: () => 'false',
    parse: bool,
  }),
  s({
    key: 'upgradeProtocols',
    env: 'UPGRADE_PROTOCOLS',
    flag: '--upgrade-protocols',
    description:
      'Comma-separated Upgrade tokens tunnelled after the Pod answers 101; other upgrade requests are served as plain requests. h2c is never tunnelled.',
    default: () => 'websocket',
    parse: upgradeProtocols,
  }),
  s({
    key: 'notFoundResponse',
    env: 'NOT_FOUND_RESPONSE',
    flag: '--not-found-response',
    description:
      'No route: problem (404 application/problem+json) or close (drop the connection, like nginx 444).',
    default: () => 'problem',
    parse: oneOf('problem', 'close'),
  }),
  s({
    key: 'trustForwardedHeaders',
    env: 'TRUST_FORWARDED_HEADERS',
    flag: '--trust-forwarded-headers',
    description:
      'Keep and extend inbound X-Forwarded-* (set when a trusted proxy is in front); otherwise they are replaced.',
    default: () => 'false',
    parse: bool,
    boolean: true,
  }),
  s({
    key: 'trustedProxies',
    env: 'TRUSTED_PROXIES',
    flag: '--trusted-proxies',
    description:
      'Comma-separated CIDRs of proxies in front of the router: from them X-Forwarded-* is extended, and the client address is the right-most X-Forwarded-For hop not in this list.',
    default: () => '',
    parse: cidrs,
  }),
  s({
    key: 'clientRateLimit',
    env: 'CLIENT_RATE_LIMIT',
    flag: '--client-rate-limit',
    description:
      "Requests per client address, as N/s or N/m (nginx limit_req); over it → 429 with Retry-After. In memory per replica, and shared across replicas through the policy's Redis when REDIS_URL (or Sentinel/Cluster) is set (docs/security.md). Empty = none.",
    default: () => '',
    parse: rate,
  }),
  s({
    key: 'clientRateBurst',
    env: 'CLIENT_RATE_BURST',
    flag: '--client-rate-burst',
    description: 'Requests a client may send at once above CLIENT_RATE_LIMIT.',
    default: () => '10',
    parse: count,
  }),
  s({
    key: 'clientMaxConcurrent',
    env: 'CLIENT_MAX_CONCURRENT',
    flag: '--client-max-concurrent',
    description:
      'Requests (and open WebSocket tunnels) in flight per client address, per replica; over it → 503 with Retry-After. 0 = unlimited.',
    default: () => '0',
    parse: count,
  }),
  s({
    key: 'connectTimeoutMs',
    env: 'UPSTREAM_CONNECT_TIMEOUT',
    flag: '--upstream-connect-timeout',
    description:
      "Time to open a connection to a Pod (HTTP and WebSocket). Exceeded → 504 (after one retry elsewhere when safe); 0 = no limit but the kernel's (about 2 min).",
    default: () => '5s',
    parse: duration,
  }),
  s({
    key: 'idleTimeoutMs',
    env: 'UPSTREAM_IDLE_TIMEOUT',
    flag: '--upstream-idle-timeout',
    description: 'Longest silence from a Pod before or during its response. Exceeded → 504.',
    default: () => '60s',
    parse: duration,
  }),
  s({
    key: 'totalTimeoutMs',
    env: 'UPSTREAM_REQUEST_TIMEOUT',
    flag: '--upstream-request-timeout',
    description:
      "Longest whole upstream exchange; 0 = no limit. A gRPC call's grpc-timeout shortens it.",
    default: () => '0',
    parse: duration,
  }),
  s({
    key: 'upstreamKeepAliveMs',
    env: 'UPSTREAM_KEEPALIVE_TIMEOUT',
    flag: '--upstream-keepalive-timeout',
    description: 'Idle keep-alive connections to Pods are closed after this long.',
    default: () => '60s',
    parse: duration,
  }),
  s({
    key: 'upstreamMaxConnections',
    env: 'UPSTREAM_MAX_CONNECTIONS',
    flag: '--upstream-max-connections',
    description: 'Connections per Pod endpoint; 0 = unlimited.',
    default: () => '0',
    parse: count,
  }),
  s({
    key: 'upstreamEngine',
    env: 'UPSTREAM_ENGINE',
    flag: '--upstream-engine',
    description:
      "HTTP client to Pods: raw (podrouter's own strict HTTP/1.1 on raw sockets; docs/http1.md) or undici.",
    default: () => 'raw',
    parse: oneOf('raw', 'undici'),
  }),
  s({
    key: 'serverEngine',
    env: 'SERVER_ENGINE',
    flag: '--server-engine',
    description:
      "HTTP/1.1 server clients talk to: raw (podrouter's own strict HTTP/1.1 on raw sockets; docs/http1.md) or node (node:http).",
    default: () => 'raw',
    parse: oneOf('raw', 'node'),
  }),
  s({
    key: 'clientKeepAliveMs',
    env: 'CLIENT_KEEPALIVE_TIMEOUT',
    flag: '--client-keepalive-timeout',
    description: 'Idle client keep-alive connections are closed after this long.',
    default: () => '75s',
    parse: duration,
  }),
  s({
    key: 'clientHeaderTimeoutMs',
    env: 'CLIENT_HEADER_TIMEOUT',
    flag: '--client-header-timeout',
    description: 'Time a client has to send the request head. Exceeded → 408.',
    default: () => '60s',
    parse: duration,
  }),
  s({
    key: 'clientBodyTimeoutMs',
    env: 'CLIENT_BODY_TIMEOUT',
    flag: '--client-body-timeout',
    description:
      'Longest wait between two reads of a request body (nginx client_body_timeout); exceeded → 408, the upstream request aborted. 0 = none.',
    default: () => '60s',
    parse: duration,
  }),
  s({
    key: 'clientSendTimeoutMs',
    env: 'CLIENT_SEND_TIMEOUT',
    flag: '--client-send-timeout',
    description:
      'Longest wait between two successful writes to a client (nginx send_timeout): a client that stops reading its answer is disconnected (an HTTP/2 stream reset, a WebSocket tunnel closed) and the upstream exchange let go. 0 = none.',
    default: () => '60s',
    parse: duration,
  }),
  s({
    key: 'ejectionMs',
    env: 'EJECTION_DURATION',
    flag: '--ejection-duration',
    description: 'How long a Pod endpoint that refused or timed out a connection gets no traffic.',
    default: () => '10s',
    parse: duration,
  }),
  s({
    key: 'shutdownDelayMs',
    env: 'SHUTDOWN_DELAY',
    flag: '--shutdown-delay',
    description:
      'On SIGTERM: time between failing /readyz and closing the listener (lets endpoints update).',
    default: () => '3s',
    parse: duration,
  }),
  s({
    key: 'shutdownTimeoutMs',
    env: 'SHUTDOWN_TIMEOUT',
    flag: '--shutdown-timeout',
    description: 'On SIGTERM: longest wait for in-flight requests before exiting.',
    default: () => '30s',
    parse: duration,
  }),
  s({
    key: 'workers',
    env: 'WORKERS',
    flag: '--workers',
    description:
      'Processes serving the port (one source watch, one readiness, metrics summed). auto = the container CPU limit (resources.limits.cpu, read from cgroups) rounded up, at most the cores, 1 without a limit; 1 = a single process.',
    default: () => 'auto',
    parse: workers,
  }),
  s({
    key: 'logLevel',
    env: 'LOG_LEVEL',
    flag: '--log-level',
    description: 'debug, info, warn or error.',
    default: () => 'info',
    parse: oneOf('debug', 'info', 'warn', 'error'),
  }),
] as const;

/** The router's configuration: every router setting's value, and the build it runs as. */
export type RouterConfig = ConfigOf<typeof ROUTER_SETTINGS> & { readonly build: BuildDefaults };

/** Value parsers for extension settings, so every setting fails the same way. */
export const parsers = {
  port,
  duration,
  size,
  count,
  oneOf,
  bool,
  text,
  nonEmpty,
  headerName,
  secretLocation,
  annotationName,
  namespaces,
  selector,
};
