import {
  type BuildDefaults,
  ConfigError,
  type ConfigOf,
  helpText,
  loadSettings,
  PRIVATE_DEFAULTS,
  parsers,
  setting,
} from '@podrouter/core';

export type AliasMode = 'endpointslice' | 'externalname' | 'cluster-ip';
export const ALIAS_MODES: readonly AliasMode[] = ['endpointslice', 'externalname', 'cluster-ip'];

/** `FROM/TO`: Pods of namespace FROM may claim aliases in namespace TO (`*` = any). */
export interface AllowRule {
  readonly from: string;
  readonly to: string;
}

/** The controller is no router build; it shares the private build's annotation defaults. */
export const CONTROLLER_BUILD: BuildDefaults = {
  ...PRIVATE_DEFAULTS,
  name: 'podrouter-controller',
  adminPort: 9082,
};

const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const objectRef = (raw: string, name: string) => {
  const [namespace = '', service = '', ...rest] = raw.split('/');
  return rest.length === 0 && DNS_LABEL.test(namespace) && DNS_LABEL.test(service)
    ? { namespace, name: service }
    : fail(name, `"${raw}" is not NAMESPACE/NAME`);
};
const dnsLabel = (raw: string, name: string) =>
  DNS_LABEL.test(raw) ? raw : fail(name, `"${raw}" is not a DNS label`);
const domain = (raw: string, name: string) =>
  raw.split('.').every((label) => DNS_LABEL.test(label))
    ? raw
    : fail(name, `"${raw}" is not a DNS domain`);
const allowRules = (raw: string, name: string): AllowRule[] =>
  raw
    .split(',')
    .map((rule) => rule.trim())
    .filter((rule) => rule !== '')
    .map((rule) => {
      const [from = '', to = '', ...rest] = rule.split('/');
      const ok = (ns: string) => ns === '*' || DNS_LABEL.test(ns);
      return rest.length === 0 && ok(from) && ok(to)
        ? { from, to }
        : fail(name, `"${rule}" is not FROM_NAMESPACE/TO_NAMESPACE (either may be *)`);
    });

const workers = (raw: string, name: string) =>
  /^[0-9]+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 256
    ? Number(raw)
    : fail(name, `"${raw}" is not a whole number from 1 to 256`);

const s = setting;

export const CONTROLLER_SETTINGS = [
  s({
    key: 'aliasMode',
    env: 'ALIAS_MODE',
    flag: '--alias-mode',
    description:
      'How an alias reaches the private router: endpointslice (Service + EndpointSlices of the router Pods), externalname (CNAME to the router Service) or cluster-ip (v1 Endpoints to the router ClusterIP; kube-proxy does not forward it). A namespace overrides it with the annotation podrouter.dev/alias-mode.',
    default: () => 'endpointslice',
    parse: parsers.oneOf(...ALIAS_MODES),
  }),
  s({
    key: 'routerService',
    env: 'ROUTER_SERVICE',
    flag: '--router-service',
    description: 'NAMESPACE/NAME of the private router Service the aliases lead to.',
    default: () => 'podrouter/podrouter-private',
    parse: objectRef,
  }),
  s({
    key: 'clusterDomain',
    env: 'CLUSTER_DOMAIN',
    flag: '--cluster-domain',
    description: 'DNS domain of the cluster (hosts of the form svc.ns.svc.<domain>).',
    default: () => 'cluster.local',
    parse: domain,
  }),
  s({
    key: 'aliasGracePeriodMs',
    env: 'ALIAS_GRACE_PERIOD',
    flag: '--alias-grace-period',
    description: 'An alias nobody claims any more is deleted after this long.',
    default: () => '5m',
    parse: parsers.duration,
  }),
  s({
    key: 'allowCrossNamespace',
    env: 'ALLOW_CROSS_NAMESPACE_ALIASES',
    flag: '--allow-cross-namespace-aliases',
    description:
      'Comma-separated FROM/TO namespace pairs (* = any): Pods of FROM may claim aliases in TO. Empty = only same-namespace aliases, unless the target namespace has the annotation podrouter.dev/allow-aliases-from.',
    default: () => '',
    parse: allowRules,
  }),
  s({
    key: 'leaderElect',
    env: 'LEADER_ELECT',
    flag: '--leader-elect',
    description: 'Elect a leader on a coordination.k8s.io Lease; only the leader writes.',
    default: () => 'true',
    parse: parsers.bool,
  }),
  s({
    key: 'leaseNamespace',
    env: 'LEASE_NAMESPACE',
    flag: '--lease-namespace',
    description: 'Namespace of the leader-election Lease.',
    default: () => 'podrouter',
    parse: dnsLabel,
  }),
  s({
    key: 'leaseName',
    env: 'LEASE_NAME',
    flag: '--lease-name',
    description: 'Name of the leader-election Lease.',
    default: () => 'podrouter-controller',
    parse: dnsLabel,
  }),
  s({
    key: 'leaseDurationMs',
    env: 'LEASE_DURATION',
    flag: '--lease-duration',
    description: 'How long a Lease is held without renewal before another replica takes it.',
    default: () => '15s',
    parse: parsers.duration,
  }),
  s({
    key: 'leaseRenewDeadlineMs',
    env: 'LEASE_RENEW_DEADLINE',
    flag: '--lease-renew-deadline',
    description: 'The leader stops writing when it could not renew for this long.',
    default: () => '10s',
    parse: parsers.duration,
  }),
  s({
    key: 'leaseRetryPeriodMs',
    env: 'LEASE_RETRY_PERIOD',
    flag: '--lease-retry-period',
    description: 'Interval between attempts to acquire or renew the Lease.',
    default: () => '2s',
    parse: parsers.duration,
  }),
  s({
    key: 'identity',
    env: 'POD_NAME',
    flag: '--identity',
    description: 'Holder identity in the Lease; the host name and process id when empty.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'adminPort',
    env: 'ADMIN_PORT',
    flag: '--admin-port',
    description: 'Port of the admin server (/healthz, /readyz, /metrics, /aliases).',
    default: () => '9082',
    parse: parsers.port,
  }),
  s({
    key: 'listenAddress',
    env: 'LISTEN_ADDRESS',
    flag: '--listen-address',
    description: 'Address the admin server binds to.',
    default: () => '0.0.0.0',
    parse: parsers.nonEmpty,
  }),
  s({
    key: 'routableLabelSelector',
    env: 'ROUTABLE_LABEL_SELECTOR',
    flag: '--routable-label-selector',
    description: 'Label selector of the Pods whose hosts claim aliases.',
    default: () => 'routable=true',
    parse: parsers.selector,
  }),
  s({
    key: 'hostsAnnotation',
    env: 'HOSTS_ANNOTATION',
    flag: '--hosts-annotation',
    description: 'Pod annotation holding the space-delimited hosts (the private router’s).',
    default: () => 'privateHosts',
    parse: parsers.annotationName,
  }),
  s({
    key: 'kubeconfig',
    env: 'KUBECONFIG',
    flag: '--kubeconfig',
    description: 'Kubeconfig file; in-cluster configuration when empty.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'watchNamespaces',
    env: 'WATCH_NAMESPACES',
    flag: '--watch-namespaces',
    description: 'Comma-separated namespaces whose Pods may claim aliases; empty = all.',
    default: () => '',
    parse: parsers.namespaces,
  }),
  s({
    key: 'resyncPeriodMs',
    env: 'RESYNC_PERIOD',
    flag: '--resync-period',
    description:
      'Every alias is re-checked this often (it is also re-checked on every change seen).',
    default: () => '5m',
    parse: parsers.duration,
  }),
  s({
    key: 'concurrentReconciles',
    env: 'CONCURRENT_RECONCILES',
    flag: '--concurrent-reconciles',
    description:
      'Aliases reconciled at once (controller-runtime’s MaxConcurrentReconciles); one alias is never reconciled by two at once. Convergence after a cold start is bound by the API server’s write latency, which more workers overlap.',
    default: () => '16',
    parse: workers,
  }),
  s({
    key: 'logLevel',
    env: 'LOG_LEVEL',
    flag: '--log-level',
    description: 'debug, info, warn or error.',
    default: () => 'info',
    parse: parsers.oneOf('debug', 'info', 'warn', 'error'),
  }),
] as const;

/** The controller's configuration: the type comes from the settings' parsers. */
export type ControllerConfig = ConfigOf<typeof CONTROLLER_SETTINGS>;

export type ConfigRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: ControllerConfig };

export function loadControllerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConfigRequest {
  const result = loadSettings(CONTROLLER_SETTINGS, CONTROLLER_BUILD, argv, env, (values) => {
    const duration = values.leaseDurationMs;
    const renew = values.leaseRenewDeadlineMs;
    const retry = values.leaseRetryPeriodMs;
    if (values.leaderElect && !(retry < renew && renew < duration)) {
      throw new ConfigError(
        'LEASE_RENEW_DEADLINE (--lease-renew-deadline)',
        'needs LEASE_RETRY_PERIOD < LEASE_RENEW_DEADLINE < LEASE_DURATION',
      );
    }
  });
  return result.kind === 'run' ? { kind: 'run', config: result.values } : result;
}

export const controllerHelp = () =>
  helpText(
    CONTROLLER_BUILD,
    CONTROLLER_SETTINGS,
    'podrouter controller: keeps, for every <service>.<namespace> host claimed by routable Pods, an alias Service that sends the name to the private router.',
  );
