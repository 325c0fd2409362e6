import { ConfigError } from '../errors.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
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
  readonly hostsAnnotation: string;
  readonly pathsAnnotation: string;
  readonly apiKeySecretLocation: string;
}

export const PUBLIC_DEFAULTS: BuildDefaults = {
  tier: 'public',
  name: 'podrouter-public',
  port: 80,
  adminPort: 9080,
  hostsAnnotation: 'publicHosts',
  pathsAnnotation: 'publicPaths',
  apiKeySecretLocation: 'routing:public-api-key',
};

export const PRIVATE_DEFAULTS: BuildDefaults = {
  tier: 'private',
  name: 'podrouter-private',
  port: 81,
  adminPort: 9081,
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
    description: 'Address the proxy and admin listeners bind to.',
    default: () => '0.0.0.0',
    parse: nonEmpty,
  }),
  s({
    key: 'adminPort',
    env: 'ADMIN_PORT',
    flag: '--admin-port',
    description: 'Port of the admin server (/healthz, /readyz, /metrics, /routes).',
    default: (b) => String(b.adminPort),
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
    key: 'connectTimeoutMs',
    env: 'UPSTREAM_CONNECT_TIMEOUT',
    flag: '--upstream-connect-timeout',
    description:
      'Time to open a connection to a Pod. Exceeded → 504 (after one retry elsewhere when safe).',
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
    description: 'Longest whole upstream exchange; 0 = no limit.',
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
    key: 'ejectionMs',
    env: 'EJECTION_DURATION',
    flag: '--ejection-duration',
    description: 'How long a Pod endpoint that refused a connection gets no traffic.',
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
