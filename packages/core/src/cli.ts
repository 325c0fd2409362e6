import cluster from 'node:cluster';
import type { Registry } from 'prom-client';
import { collect, helpText, loadRouterConfig } from './config/load.ts';
import {
  type BuildDefaults,
  type ConfigOf,
  ROUTER_SETTINGS,
  type RouterConfig,
  type Setting,
} from './config/settings.ts';
import { ConfigError, PodrouterError } from './errors.ts';
import type { SharedClientRate } from './guards/client-limits.ts';
import { loadKubeConnection } from './kube/connection.ts';
import { createLogger, type Logger } from './observability/log.ts';
import { RouterMetrics } from './observability/metrics.ts';
import type { ClusterState } from './pods/types.ts';
import { Router, type RouterOptions } from './router.ts';
import type { RouteTable } from './routes/types.ts';
import { ExternalNameSource } from './sources/external-names.ts';
import { FileSource } from './sources/file-source.ts';
import { EXTERNAL_BACKENDS_FEATURE, POD_EVENTS_FEATURE } from './sources/kube-access.ts';
import { KubeSource } from './sources/kube-source.ts';
import type { Source } from './sources/types.ts';
import { REUSE_PORT, WorkerPool } from './workers/primary.ts';
import { PRIMARY_SOURCE, serveAsWorker } from './workers/worker.ts';

export const VERSION = '0.1.0';

const SUMMARY = {
  public:
    'podrouter public router: routes traffic entering the cluster to Pods annotated with publicHosts/publicPaths.',
  private:
    'podrouter private router: routes traffic between apps to Pods annotated with privateHosts/privatePaths.',
};

export async function createSource(config: RouterConfig): Promise<Source> {
  if (config.source === 'file') return new FileSource(config.sourceFile);
  try {
    return new KubeSource(
      {
        namespaces: config.watchNamespaces,
        labelSelector: config.routableLabelSelector,
        secretName: config.apiKeySecretLocation.secretName,
        silenceTimeoutMs: config.watchSilenceTimeoutMs,
        backendTlsAnnotation: config.backendTlsAnnotation,
        ...(config.tlsPort !== undefined
          ? {
              tlsSecretAnnotation: config.tlsSecretAnnotation,
              ...(config.defaultTlsSecret ? { defaultTlsSecret: config.defaultTlsSecret } : {}),
            }
          : {}),
      },
      await loadKubeConnection(config.kubeconfig),
    );
  } catch (error) {
    throw new ConfigError(
      'KUBECONFIG (--kubeconfig)',
      `no usable Kubernetes configuration (${(error as Error).message}); run in a cluster, set KUBECONFIG, or use --source file`,
    );
  }
}

/**
 * What a build plugs into the core (policy, tracing): its own settings, which join `--help`
 * and the flag/env parsing, and what it adds to the router. The core knows none of them.
 * Declare one with `defineExtension`, which types `values` from the settings.
 */
export interface Extension {
  readonly name: string;
  readonly settings: readonly Setting[];
  configure(context: {
    readonly config: RouterConfig;
    /** Every setting's parsed value (this extension's are read through `collect`). */
    readonly values: ReadonlyMap<Setting, unknown>;
    readonly logger: Logger;
  }): ExtensionParts | Promise<ExtensionParts>;
}

/** An extension whose `configure` gets its own settings' values, typed from their parsers. */
export function defineExtension<const S extends readonly Setting[]>(extension: {
  readonly name: string;
  readonly settings: S;
  configure(context: {
    readonly config: RouterConfig;
    readonly values: ConfigOf<S>;
    readonly logger: Logger;
  }): ExtensionParts | Promise<ExtensionParts>;
}): Extension {
  return {
    name: extension.name,
    settings: extension.settings,
    configure: ({ config, values, logger }) =>
      extension.configure({
        config,
        values: collect(extension.settings, (setting) => values.get(setting)),
        logger,
      }),
  };
}

export interface ExtensionParts {
  readonly policies?: RouterOptions['policies'];
  readonly observers?: RouterOptions['observers'];
  /** Prometheus registry of the extension's own metrics, served at `/metrics`. */
  readonly metrics?: Registry;
  /** A section of the admin `/routes` view (e.g. namespaces the policy has closed). */
  readonly status?: () => unknown;
  /** Runs after the router has drained (flush exporters, close clients). */
  readonly close?: () => Promise<void>;
  /** Headers this extension sets upstream to say who the caller is: no client may send them. */
  readonly identityHeaders?: readonly string[];
  /** A store that shares CLIENT_RATE_LIMIT across replicas (guards/client-limits.ts). */
  readonly sharedClientRate?: SharedClientRate;
}

/** Exit status 2 with the setting named, for a bad configuration; 1 for another coded error
 * at start (e.g. missing RBAC); anything else propagates. */
function exitOnConfigError(build: BuildDefaults, error: unknown): void {
  if (!(error instanceof PodrouterError)) throw error;
  const isConfig = error instanceof ConfigError;
  process.stderr.write(`${build.name}: ${isConfig ? '' : `${error.code}: `}${error.message}\n`);
  process.exitCode = isConfig ? 2 : 1;
}

/** How this process takes part: the only one, or the primary or a worker of `WORKERS` > 1. */
type Role = 'single' | 'primary' | 'worker';

interface Prepared {
  readonly role: Role;
  readonly config: RouterConfig;
  readonly source: Source;
  readonly logger: Logger;
  readonly parts: readonly ExtensionParts[];
  /** Each extension's `/routes` section by the extension's name (not by its place in `parts`). */
  readonly statuses: readonly (readonly [string, () => unknown])[];
  readonly features: ReadonlyMap<string, FeatureState>;
  /** Pod Events, from the Pod reports of each table applied. */
  readonly onTableApplied?: (table: Pick<RouteTable, 'pods'>, state: ClusterState) => void;
}

/** Configuration, source and extensions, or `undefined` when the CLI has already answered. */
async function prepare(
  build: BuildDefaults,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  extensions: readonly Extension[],
): Promise<Prepared | undefined> {
  const allSettings = [
    ...ROUTER_SETTINGS,
    ...extensions.flatMap((extension) => extension.settings),
  ];
  const request = loadRouterConfig(build, argv, env, allSettings);
  if (request.kind === 'help') {
    process.stdout.write(`${helpText(build, allSettings, SUMMARY[build.tier])}\n`);
    return undefined;
  }
  if (request.kind === 'version') {
    process.stdout.write(`${build.name} ${VERSION}\n`);
    return undefined;
  }
  const { config, values } = request;
  const role: Role = config.workers === 1 ? 'single' : cluster.isPrimary ? 'primary' : 'worker';
  const root = createLogger(build.name, config.logLevel);
  const logger = role === 'worker' ? root.child({ worker: cluster.worker?.id }) : root;
  // The primary watches and the workers serve: only one of them connects to Kubernetes, only
  // the others run the policy and tracing extensions.
  const watched =
    role === 'worker'
      ? { source: PRIMARY_SOURCE, parts: [], features: new Map<string, FeatureState>() }
      : await prepareSource(build, config, logger);
  const parts = [...watched.parts];
  const statuses: [string, () => unknown][] = [];
  if (role !== 'primary') {
    for (const extension of extensions) {
      const part = await extension.configure({ config, values, logger });
      parts.push(part);
      if (part.status) statuses.push([extension.name, part.status]);
    }
  }
  return {
    role,
    config,
    source: watched.source,
    logger,
    parts,
    statuses,
    features: watched.features,
    ...('onTableApplied' in watched && watched.onTableApplied
      ? { onTableApplied: watched.onTableApplied }
      : {}),
  };
}

/** The source (with the RBAC checks and the Pod Event recorder of the kube source). */
async function prepareSource(
  build: BuildDefaults,
  config: RouterConfig,
  logger: Logger,
): Promise<{
  source: Source;
  parts: ExtensionParts[];
  features: Map<string, FeatureState>;
  onTableApplied?: Prepared['onTableApplied'];
}> {
  const source = await createSource(config);
  const parts: ExtensionParts[] = [];
  let onTableApplied: Prepared['onTableApplied'];
  const features = new Map<string, FeatureState>();
  if (source instanceof KubeSource) {
    const access = await source.checkAccess(config.podEvents);
    const missing = access.disabled.get(POD_EVENTS_FEATURE);
    if (config.podEvents) features.set(POD_EVENTS_FEATURE, featureState(missing));
    if (missing !== undefined) {
      logger.warn(
        { feature: POD_EVENTS_FEATURE, user: access.user, missing },
        `Pod Events are off: this identity may not ${missing.join('; ')}. Grant them (docs/rbac.md) or set POD_EVENTS=false`,
      );
    }
    const backendsMissing = access.disabled.get(EXTERNAL_BACKENDS_FEATURE);
    features.set(EXTERNAL_BACKENDS_FEATURE, featureState(backendsMissing));
    if (backendsMissing !== undefined) {
      source.disableExternalBackends();
      logger.warn(
        { feature: EXTERNAL_BACKENDS_FEATURE, user: access.user, missing: backendsMissing },
        `Services as backends are off: this identity may not ${backendsMissing.join('; ')}. Grant them (docs/rbac.md)`,
      );
    }
    if (config.podEvents && missing === undefined) {
      const recorder = source.eventRecorder(build.name, logger);
      onTableApplied = (table, state) => recorder.observe(table, state);
      parts.push({ close: () => recorder.close() });
    }
  }
  return {
    // ExternalName Services' DNS names resolved and kept fresh, for every source.
    source: new ExternalNameSource(source, {
      floorMs: config.externalNameMinTtlMs,
      ceilingMs: config.externalNameMaxTtlMs,
      retryMs: config.externalNameRetryMs,
    }),
    parts,
    features,
    ...(onTableApplied ? { onTableApplied } : {}),
  };
}

/** An optional feature, on or off and why: a metric and a line at the admin `/routes`. */
interface FeatureState {
  readonly enabled: boolean;
  readonly reason?: string;
}

const featureState = (missing: readonly string[] | undefined): FeatureState =>
  missing === undefined
    ? { enabled: true }
    : { enabled: false, reason: `missing RBAC permissions: ${missing.join('; ')}` };

/** Entry point shared by both builds. Exit status: 0 clean stop, 2 bad configuration, 1 otherwise. */
export async function runCli(
  build: BuildDefaults,
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  extensions: readonly Extension[] = [],
): Promise<void> {
  let prepared: Prepared | undefined;
  try {
    prepared = await prepare(build, argv, env, extensions);
  } catch (error) {
    exitOnConfigError(build, error);
    // A worker's IPC channel would keep it alive; the primary sees the exit code and stops.
    if (cluster.isWorker) process.exit();
    return;
  }
  if (prepared === undefined) return;
  const { role, config, source, logger, parts, statuses, features, onTableApplied } = prepared;
  const closeParts = () => Promise.all(parts.map((part) => part.close?.())).then(() => {});
  const featureStatus = () => (features.size > 0 ? { features: Object.fromEntries(features) } : {});
  if (role === 'primary') {
    const metrics = new RouterMetrics(config.build.tier);
    for (const [name, state] of features) metrics.feature(name, state.enabled);
    const pool = new WorkerPool({
      config,
      source,
      logger,
      metrics,
      status: featureStatus,
      close: closeParts,
      ...(onTableApplied ? { onTableApplied } : {}),
    });
    onSignals(logger, (delayMs) => pool.shutdown(delayMs));
    try {
      await pool.start();
    } catch (error) {
      logger.fatal({ err: error }, 'cannot start');
      await pool.shutdown(0).catch(() => {});
      process.exit((error as { code?: number }).code ?? 1);
    }
    return;
  }
  const policies = parts.map((part) => part.policies).filter((policy) => policy !== undefined);
  if (policies.length > 1) throw new Error('only one extension may provide the policy pipeline');
  const sharedClientRate = parts.find((part) => part.sharedClientRate)?.sharedClientRate;
  const router = new Router({
    config,
    source,
    logger,
    ...(policies[0] ? { policies: policies[0] } : {}),
    observers: parts.flatMap((part) => part.observers ?? []),
    identityHeaders: parts.flatMap((part) => part.identityHeaders ?? []),
    ...(sharedClientRate ? { sharedClientRate } : {}),
    registries: parts.flatMap((part) => (part.metrics ? [part.metrics] : [])),
    status: () => ({
      ...featureStatus(),
      ...Object.fromEntries(statuses.map(([name, status]) => [name, status()])),
    }),
    ...(onTableApplied ? { onTableApplied } : {}),
    ...(role === 'worker' ? { admin: false, reusePort: REUSE_PORT } : {}),
  });
  if (role === 'worker') {
    serveAsWorker(router, logger, closeParts);
    return;
  }
  for (const [name, state] of features) router.metrics.feature(name, state.enabled);
  try {
    await router.start();
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    process.exit(1);
  }
  onSignals(logger, (delayMs) => router.shutdown(delayMs).then(closeParts));
}

/** SIGTERM drains after SHUTDOWN_DELAY; Ctrl-C on a terminal (no endpoint controller to wait for) at once. */
function onSignals(logger: Logger, shutdown: (delayMs?: number) => Promise<void>): void {
  const stop = (delayMs?: number) => {
    shutdown(delayMs).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop());
  process.once('SIGINT', () => stop(0));
}
