import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import {
  EventRecorder,
  type InformerHandlers,
  type KubeConnection,
  kubeConfigConnection,
  type Logger,
  type PodInfo,
  parseLabelSelector,
} from '@podrouter/core';
import { ControllerMetrics } from './admin/metrics.ts';
import { createAdminServer } from './admin/server.ts';
import { type AliasWriter, applyActions } from './alias/apply.ts';
import { desiredAliases, isManaged } from './alias/desired.ts';
import { type ActualObjects, diffAlias } from './alias/diff.ts';
import {
  type AliasInputs,
  type AliasOptions,
  type DesiredState,
  type KubeObject,
  type NamespaceInfo,
  type RouterTarget,
  SERVICE_NAME_LABEL,
} from './alias/types.ts';
import type { ControllerConfig } from './config.ts';
import { routerEndpointsFromSlices } from './endpoints/slices.ts';
import { EVENT_REASONS, type EventSink, ProblemReporter, recorderSink } from './events/recorder.ts';
import { type CacheName, type Caches, createCaches, forget, remember } from './kube/caches.ts';
import { kubeLeaseClient } from './kube/lease-client.ts';
import { KubeAliasWriter, NotLeaderError } from './kube/writer.ts';
import { LeaderElector, type LeaseClient } from './leader/lease.ts';
import { WorkQueue } from './queue/work-queue.ts';

/** The alias (`namespace/service`) an alias object belongs to. */
const aliasKeyOf = (object: KubeObject): string =>
  `${object.metadata.namespace}/${
    object.kind === 'EndpointSlice'
      ? (object.metadata.labels?.[SERVICE_NAME_LABEL] ?? '')
      : object.metadata.name
  }`;

export interface ControllerOptions {
  readonly config: ControllerConfig;
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Overrides for tests. */
  readonly writer?: AliasWriter;
  readonly events?: EventSink;
  readonly leaseClient?: LeaseClient;
  readonly workers?: number;
  /** Defaults to one from `kubeConfig`. */
  readonly connection?: KubeConnection;
}

/**
 * The alias controller: informers fill caches; any change schedules a pass that recomputes
 * the desired aliases (pure) and queues every alias whose objects differ; workers diff and
 * apply one alias at a time. Only the Lease holder writes; the other replica keeps warm
 * caches and writes nothing.
 */
export class AliasController {
  readonly metrics = new ControllerMetrics();
  readonly #config: ControllerConfig;
  readonly #log: Logger;
  readonly #queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  readonly #writer: AliasWriter;
  readonly #reporter: ProblemReporter;
  readonly #elector: LeaderElector | undefined;
  readonly #options: AliasOptions;
  readonly #caches: Caches;
  readonly #recorder: EventRecorder | undefined;
  readonly #admin: Server;
  readonly #workers: number;
  #synced = false;
  #leading: boolean;
  #inputsVersion = 0;
  #actualVersion = 0;
  #actualCache: { version: number; actual: ActualObjects } | undefined;
  #snapshot: { version: number; state: DesiredState } | undefined;
  #passTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #reporting: Promise<unknown> = Promise.resolve();
  #running: Promise<void>[] = [];
  #stopping = false;

  constructor(options: ControllerOptions) {
    const { config, kubeConfig, logger } = options;
    this.#config = config;
    this.#log = logger;
    this.#workers = options.workers ?? 8;
    this.#leading = !config.leaderElect;
    this.metrics.leader.set(this.#leading ? 1 : 0);
    this.#writer =
      options.writer ?? new KubeAliasWriter(kubeConfig, () => this.#leading && !this.#stopping);
    const connection =
      options.connection ??
      kubeConfigConnection(kubeConfig, (url) => new RequestContext(url, HttpMethod.GET));
    if (options.events === undefined) {
      this.#recorder = new EventRecorder({
        connection,
        controller: 'podrouter.dev/controller',
        instance: config.identity,
        logger,
        onError: (error) => {
          this.metrics.errors.inc({ stage: 'event' });
          this.#log.warn({ err: error }, 'writing an Event failed');
        },
        onCreated: () => this.metrics.writes.inc({ kind: 'Event', verb: 'create' }),
      });
    }
    this.#reporter = new ProblemReporter(
      options.events ?? recorderSink(this.#recorder as EventRecorder),
    );
    this.#options = {
      hostsAnnotation: config.hostsAnnotation,
      selector: parseLabelSelector(config.routableLabelSelector),
      clusterDomain: config.clusterDomain,
      routerService: config.routerService,
      mode: config.aliasMode,
      graceMs: config.aliasGracePeriodMs,
      allow: config.allowCrossNamespace,
    };
    if (config.leaderElect) {
      this.#elector = new LeaderElector({
        client:
          options.leaseClient ??
          kubeLeaseClient(kubeConfig, config.leaseNamespace, config.leaseName),
        identity: config.identity,
        durationMs: config.leaseDurationMs,
        renewDeadlineMs: config.leaseRenewDeadlineMs,
        retryPeriodMs: config.leaseRetryPeriodMs,
        onStartedLeading: () => {
          this.#leading = true;
          this.metrics.leader.set(1);
          this.#log.info({ identity: config.identity }, 'leading: this replica writes aliases');
          this.#schedulePass(0);
        },
        onStoppedLeading: () => {
          this.#leading = false;
          this.metrics.leader.set(0);
          this.#log.info({ identity: config.identity }, 'not leading: this replica writes nothing');
        },
        onError: (error) => {
          this.metrics.errors.inc({ stage: 'lease' });
          this.#log.warn({ err: error }, 'lease acquire/renew failed');
        },
      });
    }

    /**
     * Whether a change can change the desired state (then a pass recomputes it); otherwise
     * only the alias the object belongs to is re-checked.
     */
    const inputs: Record<CacheName, boolean> = {
      pods: true,
      namespaces: true,
      services: true,
      routerSlices: true,
      aliasSlices: false,
      endpoints: false,
    };
    let pendingSyncs = 0;
    const handlers = <T>(name: CacheName): InformerHandlers<T> => {
      pendingSyncs++;
      return {
        onChange: (_key, current, previous) =>
          this.#changed(
            (current ?? previous) as KubeObject | undefined,
            inputs[name] || current === undefined,
          ),
        onList: (first) => {
          if (first && --pendingSyncs === 0) this.#onSynced();
          else this.#changed(undefined, true);
        },
        onError: (error, retryInMs) => {
          this.metrics.errors.inc({ stage: 'watch' });
          this.#log.warn({ err: error, retryInMs }, 'watch failed; retrying');
        },
      };
    };
    this.#caches = createCaches(connection, config, handlers);
    this.#admin = createAdminServer(
      {
        ready: () => this.#synced && !this.#stopping,
        aliases: () => this.#view(),
        beforeMetrics: () => this.metrics.queueDepth.set(this.#queue.length),
      },
      this.metrics,
    );
  }

  get leading(): boolean {
    return this.#leading;
  }

  async start(): Promise<{ adminPort: number }> {
    this.#admin.listen(this.#config.adminPort, this.#config.listenAddress);
    await once(this.#admin, 'listening');
    for (const informer of this.#caches.all) informer.start();
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work());
    this.#resyncTimer = setInterval(() => this.#schedulePass(0), this.#config.resyncPeriodMs);
    this.#resyncTimer.unref();
    const adminPort = (this.#admin.address() as AddressInfo).port;
    this.#log.info(
      {
        adminPort,
        mode: this.#config.aliasMode,
        router: `${this.#config.routerService.namespace}/${this.#config.routerService.name}`,
        leaderElect: this.#config.leaderElect,
        identity: this.#config.identity,
      },
      'started',
    );
    return { adminPort };
  }

  #onSynced(): void {
    this.#synced = true;
    this.#log.info('caches synced');
    this.#elector?.start();
    this.#schedulePass(0);
  }

  #changed(object: KubeObject | undefined, affectsDesired: boolean): void {
    this.#actualVersion++;
    if (object === undefined || affectsDesired) {
      this.#inputsVersion++;
      this.#schedulePass(20);
      return;
    }
    if (this.#synced && this.#leading && !this.#stopping) this.#queue.add(aliasKeyOf(object));
  }

  #schedulePass(delayMs: number): void {
    if (!this.#synced || this.#stopping) return;
    if (this.#passTimer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.#passTimer);
    }
    this.#passTimer = setTimeout(() => {
      this.#passTimer = undefined;
      this.#pass();
    }, delayMs);
  }

  #inputs(): AliasInputs {
    const pods: PodInfo[] = [];
    for (const informer of this.#caches.pods)
      for (const pod of informer.store.values()) pods.push(pod);
    const namespaces = new Map<string, NamespaceInfo>();
    for (const namespace of this.#caches.namespaces.store.values()) {
      namespaces.set(namespace.name, namespace);
    }
    const services = new Map<string, KubeObject>();
    for (const object of this.#caches.services.store.values()) {
      services.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
    }
    return { pods, namespaces, services, router: this.#router(services), now: Date.now() };
  }

  #router(services: ReadonlyMap<string, KubeObject>): RouterTarget | undefined {
    const { namespace, name } = this.#config.routerService;
    const service = services.get(`${namespace}/${name}`);
    if (service === undefined) return undefined;
    const spec = (service.spec ?? {}) as {
      clusterIP?: string;
      ports?: { name?: string; port?: number; targetPort?: number | string }[];
    };
    const ports = spec.ports ?? [];
    const port = ports.find((candidate) => candidate.name === 'http') ?? ports[0];
    if (port?.port === undefined) return undefined;
    const { endpoints, targetPort } = routerEndpointsFromSlices(
      [...this.#caches.routerSlices.store.values()],
      port.name ?? '',
    );
    return {
      namespace,
      name,
      clusterIP: spec.clusterIP === 'None' ? '' : (spec.clusterIP ?? ''),
      servicePort: port.port,
      targetPort: targetPort || (typeof port.targetPort === 'number' ? port.targetPort : 0),
      endpoints,
    };
  }

  #actual(): ActualObjects {
    if (this.#actualCache?.version !== this.#actualVersion) {
      this.#actualCache = { version: this.#actualVersion, actual: this.#buildActual() };
    }
    return this.#actualCache.actual;
  }

  #buildActual(): ActualObjects {
    const services = new Map<string, KubeObject>();
    for (const object of this.#caches.services.store.values()) {
      services.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
    }
    const slices = new Map<string, KubeObject[]>();
    for (const object of this.#caches.aliasSlices.store.values()) {
      const key = `${object.metadata.namespace}/${object.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''}`;
      const list = slices.get(key);
      if (list) list.push(object);
      else slices.set(key, [object]);
    }
    const endpoints = new Map<string, KubeObject>();
    for (const object of this.#caches.endpoints.store.values()) {
      endpoints.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
    }
    return { services, slices, endpoints };
  }

  /** The desired state for the current caches, recomputed only when an input changed. */
  #desired(): DesiredState {
    if (
      this.#snapshot?.version !== this.#inputsVersion ||
      this.#snapshot.state.nextExpiry !== undefined
    ) {
      this.#snapshot = {
        version: this.#inputsVersion,
        state: desiredAliases(this.#inputs(), this.#options),
      };
    }
    return this.#snapshot.state;
  }

  #pass(): void {
    const desired = this.#desired();
    const actual = this.#actual();
    this.metrics.aliases.reset();
    for (const alias of desired.aliases.values()) this.metrics.aliases.inc({ mode: alias.mode });
    this.metrics.problems.reset();
    for (const kind of ['refused', 'clash'] as const) {
      this.metrics.problems.set(
        { kind },
        desired.problems.filter((problem) => problem.kind === kind).length,
      );
    }
    if (desired.pending.length > 0) {
      this.#log.warn(
        { pending: desired.pending.length, router: this.#config.routerService },
        'router Service or its endpoints not seen yet; those aliases wait',
      );
    }
    if (this.#leading) {
      const keys = new Set<string>([
        ...desired.aliases.keys(),
        ...[...actual.services.entries()].filter(([, s]) => isManaged(s)).map(([key]) => key),
        ...actual.slices.keys(),
        ...actual.endpoints.keys(),
      ]);
      for (const key of desired.pending) keys.delete(key);
      for (const key of keys) {
        if (diffAlias(key, desired.aliases.get(key), actual).length > 0) this.#queue.add(key);
      }
      this.#reportProblems(desired);
    }
    this.metrics.queueDepth.set(this.#queue.length);
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    if (desired.nextExpiry !== undefined) {
      this.#expiryTimer = setTimeout(
        () => this.#schedulePass(0),
        Math.max(0, desired.nextExpiry - Date.now()) + 10,
      );
      this.#expiryTimer.unref();
    }
  }

  #reportProblems(desired: DesiredState): void {
    this.#reporting = this.#reporting.then(async () => {
      if (!this.#leading) return;
      const fresh = await this.#reporter.report(desired.problems, (error) => {
        this.metrics.errors.inc({ stage: 'event' });
        this.#log.warn({ err: error }, 'writing an Event failed');
      });
      for (const problem of fresh) {
        this.metrics.events.inc({ reason: EVENT_REASONS[problem.kind] });
        this.#log.warn(
          {
            pod: `${problem.pod.namespace}/${problem.pod.name}`,
            host: problem.host,
            kind: problem.kind,
          },
          problem.reason,
        );
      }
    });
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      try {
        await this.#reconcile(key);
        this.#queue.forget(key);
      } catch (error) {
        if (error instanceof NotLeaderError) {
          this.#queue.forget(key);
        } else {
          this.metrics.reconciles.inc({ result: 'error' });
          this.metrics.errors.inc({ stage: 'reconcile' });
          const delay = this.#queue.addRateLimited(key);
          this.#log.warn({ err: error, alias: key, retryInMs: delay }, 'reconcile failed');
        }
      } finally {
        this.#queue.done(key);
      }
    }
  }

  async #reconcile(key: string): Promise<void> {
    if (!this.#leading || this.#stopping) return;
    const desired = this.#desired();
    if (desired.pending.includes(key)) return;
    const alias = desired.aliases.get(key);
    const actions = diffAlias(key, alias, this.#actual());
    if (actions.length === 0) {
      this.metrics.reconciles.inc({ result: 'unchanged' });
      return;
    }
    await applyActions(actions, this.#writer, {
      write: (kind, verb) => this.metrics.writes.inc({ kind, verb }),
      written: (object, ref) => {
        const store = (kind: string) =>
          kind === 'Service'
            ? this.#caches.services.store
            : kind === 'EndpointSlice'
              ? this.#caches.aliasSlices.store
              : this.#caches.endpoints.store;
        if (object !== undefined) remember(store(object.kind), object);
        else if (ref !== undefined)
          forget(store(ref.kind), `${ref.namespace}/${ref.name}`, ref.uid);
        this.#actualVersion++;
      },
    });
    this.metrics.reconciles.inc({ result: 'changed' });
    this.#log.info(
      {
        alias: key,
        mode: alias?.mode,
        writes: actions.map((action) =>
          action.verb === 'delete'
            ? `delete ${action.ref.kind}/${action.ref.name}`
            : `${action.verb} ${action.object.kind}/${action.object.metadata.name}`,
        ),
      },
      alias === undefined ? 'alias removed' : 'alias reconciled',
    );
  }

  #view() {
    const state = this.#snapshot?.state;
    return {
      leading: this.#leading,
      synced: this.#synced,
      aliases: [...(state?.aliases.values() ?? [])].map((alias) => ({
        alias: `${alias.namespace}/${alias.name}`,
        mode: alias.mode,
        claimedBy: alias.claimedBy,
      })),
      pending: state?.pending ?? [],
      problems: state?.problems ?? [],
    };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#passTimer);
    clearTimeout(this.#expiryTimer);
    clearInterval(this.#resyncTimer);
    this.#queue.shutdown();
    await Promise.all(this.#running);
    await this.#reporting.catch(() => undefined);
    try {
      await this.#elector?.stop();
    } catch (error) {
      this.#log.warn({ err: error }, 'releasing the lease failed');
    }
    await this.#recorder?.close();
    await Promise.all(this.#caches.all.map((informer) => informer.stop()));
    this.#admin.closeAllConnections();
    await new Promise<void>((done) => this.#admin.close(() => done()));
    this.#log.info('stopped');
  }
}
