import {
  ConfigError,
  helpText,
  loadSettings,
  parseLabelSelector,
  parsers,
  type Setting,
} from '@podrouter/core';
import { CONTROLLER_BUILD } from '../config.ts';

export interface CleanupConfig {
  readonly routerService: string;
  readonly kubeconfig: string;
  readonly controllerNamespace: string;
  readonly controllerSelector: string;
  readonly waitTimeoutMs: number;
  readonly leaseNamespace: string;
  readonly leaseName: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

const BUILD = { ...CONTROLLER_BUILD, name: 'podrouter-controller cleanup' };
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};
const dnsLabel = (raw: string, name: string) =>
  DNS_LABEL.test(raw) ? raw : fail(name, `"${raw}" is not a DNS label`);
const optionalDnsLabel = (raw: string, name: string) => (raw === '' ? '' : dnsLabel(raw, name));
const objectRef = (raw: string, name: string) => {
  const [namespace = '', service = '', ...rest] = raw.split('/');
  return rest.length === 0 && DNS_LABEL.test(namespace) && DNS_LABEL.test(service)
    ? raw
    : fail(name, `"${raw}" is not NAMESPACE/NAME`);
};
const optionalSelector = (raw: string, name: string) => {
  if (raw.trim() === '') return '';
  try {
    parseLabelSelector(raw);
    return raw.trim();
  } catch (error) {
    return fail(name, `not a label selector: ${(error as Error).message}`);
  }
};

const s = (setting: Setting) => setting;

/** Names shared with the controller mean the same, so the controller's env cleans up after it. */
export const CLEANUP_SETTINGS = [
  s({
    key: 'routerService',
    env: 'ROUTER_SERVICE',
    flag: '--router-service',
    description:
      'NAMESPACE/NAME of the private router Service: the aliases leading to it (annotation podrouter.dev/router-service) are deleted, no other.',
    default: () => 'podrouter/podrouter-private',
    parse: objectRef,
  }),
  s({
    key: 'controllerNamespace',
    env: 'CONTROLLER_NAMESPACE',
    flag: '--controller-namespace',
    description: 'Namespace of the controller Pods of --controller-selector.',
    default: () => 'podrouter',
    parse: dnsLabel,
  }),
  s({
    key: 'controllerSelector',
    env: 'CONTROLLER_SELECTOR',
    flag: '--controller-selector',
    description:
      'Label selector of the controller Pods: nothing is deleted before none is left (a running controller recreates aliases). Empty = do not wait.',
    default: () => '',
    parse: optionalSelector,
  }),
  s({
    key: 'waitTimeoutMs',
    env: 'WAIT_TIMEOUT',
    flag: '--wait-timeout',
    description: 'Longest wait for the controller Pods to be gone; then cleanup fails.',
    default: () => '2m',
    parse: parsers.duration,
  }),
  s({
    key: 'leaseNamespace',
    env: 'LEASE_NAMESPACE',
    flag: '--lease-namespace',
    description: 'Namespace of the controller’s leader-election Lease.',
    default: () => 'podrouter',
    parse: dnsLabel,
  }),
  s({
    key: 'leaseName',
    env: 'LEASE_NAME',
    flag: '--lease-name',
    description: 'Name of the controller’s Lease, deleted last; empty = keep it.',
    default: () => '',
    parse: optionalDnsLabel,
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
    key: 'logLevel',
    env: 'LOG_LEVEL',
    flag: '--log-level',
    description: 'debug, info, warn or error.',
    default: () => 'info',
    parse: parsers.oneOf('debug', 'info', 'warn', 'error'),
  }),
] as const;

export type CleanupRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: CleanupConfig };

/** `argv` after the `cleanup` command word. */
export function loadCleanupConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CleanupRequest {
  const result = loadSettings(CLEANUP_SETTINGS, BUILD, argv, env);
  if (result.kind !== 'run') return result;
  // Each value comes from its setting's parser above (text, or milliseconds for the timeout).
  const values = result.values as Readonly<Record<string, unknown>>;
  const text = (key: keyof CleanupConfig) => String(values[key] ?? '');
  return {
    kind: 'run',
    config: {
      routerService: text('routerService'),
      kubeconfig: text('kubeconfig'),
      controllerNamespace: text('controllerNamespace'),
      controllerSelector: text('controllerSelector'),
      waitTimeoutMs: Number(values.waitTimeoutMs),
      leaseNamespace: text('leaseNamespace'),
      leaseName: text('leaseName'),
      logLevel: text('logLevel') as CleanupConfig['logLevel'],
    },
  };
}

export const cleanupHelp = () =>
  helpText(
    BUILD,
    CLEANUP_SETTINGS,
    'Deletes what one podrouter installation’s controller made — the alias Services, EndpointSlices and Endpoints leading to its router Service, and its Lease — once its controller Pods are gone. The chart runs it as a post-delete hook of helm uninstall.',
  );
