import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import {
  EventRecorder,
  type InformerHandlers,
  KubeApiError,
  type KubeConnection,
  kubeConfigConnection,
  type Logger,
  parseLabelSelector,
} from '@podrouter/core';
import { ControllerMetrics } from './admin/metrics.ts';
import { createAdminServer } from './admin/server.ts';
import type { AliasWriter } from './alias/apply.ts';
import { isManaged } from './alias/desired.ts';
import type { AliasOptions, KubeObject, NamespaceInfo } from './alias/types.ts';
import type { ControllerConfig } from './config.ts';
import { type EventSink, ProblemReporter, recorderSink } from './events/recorder.ts';
import { type CacheName, type Caches, createCaches } from './kube/caches.ts';
import { kubeLeaseClient } from './kube/lease-client.ts';
import { KubeAliasWriter, NotLeaderError } from './kube/writer.ts';
import { LeaderElector, type LeaseClient } from './leader/lease.ts';
import { WorkQueue } from './queue/work-queue.ts';
import { ClaimsIndex } from './reconcile/claims-index.ts';
import { AliasReconciler } from './reconcile/reconciler.ts';
import { type AliasStore, aliasKeyOf, cacheStore } from './reconcile/store.ts';

export interface ControllerOptions {
  readonly config: ControllerConfig;
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Overrides for tests. */
  readonly writer?: AliasWriter;
  readonly events?: EventSink;
  readonly leaseClient?: LeaseClient;
  /** Defaults to one from `kubeConfig`. */
  readonly connection?: KubeConnection;
}

/**
 * The alias controller, in controller-runtime's shape: informers fill caches; each change
 * is mapped to the aliases (`namespace/service` keys) it can affect, and those keys are
 * queued; CONCURRENT_RECONCILES workers take keys from the queue, never two the same key at
 * once (queue/work-queue.ts), and reconcile one key each (reconcile/reconciler.ts). Only the Lease
 * holder writes; the other replica keeps warm caches and writes nothing.
 */
export class AliasController {
  readonly metrics = new ControllerMetrics();
  readonly #config: ControllerConfig;
  readonly #log: Logger;
  readonly #queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  readonly #elector: LeaderElector | undefined;
  readonly #caches: Caches;
  readonly #claims: ClaimsIndex;
  readonly #store: AliasStore;
  readonly #reconciler: AliasReconciler;
  readonly #recorder: EventRecorder | undefined;
  readonly #admin: Server;
  #synced = false;
  #leading: boolean;
  #resyncTimer: NodeJS.Timeout | undefined;
  #reporting: Promise<unknown> = Promise.resolve();
  #running: Promise<void>[] = [];
  #stopping = false;

  constructor(options: ControllerOptions) {
    const { config, kubeConfig, logger } = options;
    this.#config = config;
    this.#log = logger;
    this.#leading = !config.leaderElect;
    this.metrics.leader.set(this.#leading ? 1 : 0);
    const connection =
      options.connection ??
      kubeConfigConnection(kubeConfig, (url) => new RequestContext(url, HttpMethod.GET));
    const writer =
      options.writer ?? new KubeAliasWriter(connection, () => this.#leading && !this.#stopping);
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
    const aliasOptions: AliasOptions = {
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
          this.#resync();
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

    this.#claims = new ClaimsIndex(aliasOptions);
    let pendingSyncs = 0;
    const handlers = <T>(name: CacheName): InformerHandlers<T> => {
      pendingSyncs++;
      return {
        onChange: (key, current, previous) =>
          this.#changed(name, key, (current ?? previous) as unknown, current === undefined),
        onList: (first) => {
          if (first && --pendingSyncs === 0) this.#onSynced();
        },
        onError: (error, retryInMs) => {
          this.metrics.errors.inc({ stage: 'watch' });
          this.#log.warn({ err: error, retryInMs }, 'watch failed; retrying');
        },
      };
    };
    this.#caches = createCaches(connection, config, handlers);
    this.#store = cacheStore(this.#caches, this.#claims, config);
    this.#reconciler = new AliasReconciler({
      store: this.#store,
      writer,
      reporter: new ProblemReporter(
        options.events ?? recorderSink(this.#recorder as EventRecorder),
      ),
      options: aliasOptions,
      metrics: this.metrics,
      logger,
      leading: () => this.#leading && !this.#stopping,
    });
    this.#admin = createAdminServer(
      {
        ready: () => this.#synced && !this.#stopping,
        aliases: () => this.#view(),
        beforeMetrics: () => {
          this.metrics.queueDepth.set(this.#queue.length);
          this.#reconciler.updateGauges(this.#podProblems());
        },
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
    for (let i = 0; i < this.#config.concurrentReconciles; i++) this.#running.push(this.#work());
    this.#resyncTimer = setInterval(() => this.#resync(), this.#config.resyncPeriodMs);
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
    this.#resync();
  }

  /** Maps a cache change to the aliases it can affect (controller-runtime's handlers). */
  #changed(name: CacheName, key: string, value: unknown, deleted: boolean): void {
    switch (name) {
      case 'pods': {
        for (const alias of this.#claims.update(key, deleted ? undefined : (value as never))) {
          this.#enqueue(alias);
        }
        this.#reportPod(key);
        return;
      }
      case 'namespaces': {
        const namespace = (value as NamespaceInfo).name;
        for (const alias of this.#keys())
          if (alias.startsWith(`${namespace}/`)) this.#enqueue(alias);
        return;
      }
      case 'services': {
        const { namespace, name: service } = this.#config.routerService;
        if (key === `${namespace}/${service}`) this.#enqueueAll();
        else this.#enqueue(key);
        return;
      }
      case 'routerSlices':
        this.#enqueueAll();
        return;
      case 'aliasSlices':
        this.#enqueue(aliasKeyOf(value as KubeObject));
        return;
      case 'endpoints':
        this.#enqueue(key);
        return;
    }
  }

  #enqueue(key: string): void {
    if (this.#synced && !this.#stopping) this.#queue.add(key);
  }

  /** Every alias that exists or should: claimed ones and every podrouter object. */
  #keys(): Set<string> {
    const keys = new Set<string>(this.#claims.keys());
    for (const [key, service] of this.#caches.services.store.entries()) {
      if (isManaged(service)) keys.add(key);
    }
    for (const slice of this.#caches.aliasSlices.store.values()) keys.add(aliasKeyOf(slice));
    for (const key of this.#caches.endpoints.store.entries()) keys.add(key[0]);
    for (const key of this.#reconciler.results.keys()) keys.add(key);
    return keys;
  }

  #enqueueAll(): void {
    for (const key of this.#keys()) this.#enqueue(key);
  }

  /** Everything again (after the first sync, on becoming leader, every resync period). */
  #resync(): void {
    if (!this.#synced || this.#stopping) return;
    this.#enqueueAll();
    for (const [key] of this.#claims.podProblems()) this.#reportPod(key);
  }

  #reportPod(key: string): void {
    if (!this.#synced || !this.#leading) return;
    const problems = this.#claims.problems(key);
    this.#reporting = this.#reporting.then(() => this.#reconciler.report(`pod:${key}`, problems));
  }

  *#podProblems() {
    for (const [, problems] of this.#claims.podProblems()) yield* problems;
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      try {
        const result = await this.#reconciler.reconcile(key);
        this.#queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.#queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        if (error instanceof NotLeaderError) {
          this.#queue.forget(key);
        } else if (isNamespaceTerminating(error)) {
          // The namespace is being deleted: nothing may be created in it, and its aliases go
          // with it. Not an error, and nothing to retry.
          this.#queue.forget(key);
          this.#log.debug({ alias: key }, 'alias namespace is terminating; nothing to write');
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

  #view() {
    const results = [...this.#reconciler.results].sort(([a], [b]) => (a < b ? -1 : 1));
    return {
      leading: this.#leading,
      synced: this.#synced,
      aliases: results.flatMap(([, result]) =>
        result.alias
          ? [
              {
                alias: `${result.alias.namespace}/${result.alias.name}`,
                mode: result.alias.mode,
                claimedBy: result.alias.claimedBy,
              },
            ]
          : [],
      ),
      pending: results.filter(([, result]) => result.pending).map(([key]) => key),
      problems: [...this.#podProblems(), ...results.flatMap(([, result]) => result.problems)],
    };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
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

/** The API server's 403 for a write into a namespace that is being deleted (kube/writer.ts). */
const isNamespaceTerminating = (error: unknown): boolean =>
  error instanceof KubeApiError && error.reason === 'NamespaceTerminating';
