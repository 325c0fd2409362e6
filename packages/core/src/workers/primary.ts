import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import { createAdminHttpServer } from '../admin/server.ts';
import type { RouterConfig } from '../config/settings.ts';
import type { PodrouterError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { RouterMetrics } from '../observability/metrics.ts';
import type { ClusterState } from '../pods/types.ts';
import type { PodReport, RouteTable } from '../routes/types.ts';
import type { Source } from '../sources/types.ts';
import { isMessage, type Ports, type ToPrimary, type ToWorker } from './messages.ts';
import { payloadFor } from './state-delta.ts';

/**
 * How the workers share the port. SO_REUSEPORT (Linux): each worker binds its own socket and
 * the kernel spreads connections by hash, with no process in between. Elsewhere, Node's
 * cluster round-robin: the primary accepts and hands each connection to a worker (a hop per
 * connection, and a connection handed to a worker as it dies is never answered). docs/workers.md.
 */
export const REUSE_PORT = process.platform === 'linux';

/**
 * Port 0 (tests) resolved once, so every worker binds the same port. The port is free for a
 * moment between this probe and the first worker's bind; only a process also using
 * SO_REUSEPORT under the same user could share it.
 */
async function resolvePorts(config: RouterConfig): Promise<Ports> {
  const free = async (port: number) => {
    if (port !== 0 || !REUSE_PORT) return port;
    const probe = createServer();
    probe.listen({ port: 0, host: config.listenAddress, reusePort: true });
    await once(probe, 'listening');
    const chosen = (probe.address() as AddressInfo).port;
    await new Promise((done) => probe.close(done));
    return chosen;
  };
  const port = await free(config.port);
  return config.tlsPort === undefined ? { port } : { port, tlsPort: await free(config.tlsPort) };
}

export interface PrimaryOptions {
  readonly config: RouterConfig;
  readonly source: Source;
  readonly logger: Logger;
  /** The primary's own metrics (source errors, features, its process), summed with the workers'. */
  readonly metrics: RouterMetrics;
  /** Called with the Pod reports of each table the workers applied (Pod Events). */
  readonly onTableApplied?: (table: Pick<RouteTable, 'pods'>, state: ClusterState) => void;
  /** Sections of `/routes` the primary knows (features), added to the workers' view. */
  readonly status?: () => Readonly<Record<string, unknown>>;
  /** Runs after every worker has drained. */
  readonly close?: () => Promise<void>;
  /** How long the primary waits for a worker's answer to a metrics or `/routes` request. */
  readonly askTimeoutMs?: number;
}

interface WorkerState {
  readonly worker: Worker;
  readonly forkedAt: number;
  /** Said hello: receives states. */
  ready: boolean;
  /** Listening. */
  serving: boolean;
  /** The last table version it applied. */
  version: number;
  /** The source sequence of the last state sent to it (what the next change is relative to). */
  sent: number | undefined;
  /** Its metrics at the last scrape: what Prometheus has seen of it. */
  scraped: MetricsJson | undefined;
}

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Counters and histograms only: what must never go down in a sum; gauges die with their worker. */
const monotonic = (metrics: MetricsJson): MetricsJson =>
  metrics.filter((metric) => {
    // prom-client's types say an enum; its JSON carries the type's name.
    const type = metric.type as unknown as string;
    return type === 'counter' || type === 'histogram';
  });

/** A worker that dies sooner than this after its start counts as failing to start. */
const QUICK_EXIT_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

/**
 * The primary of a `WORKERS` > 1 router. It owns what there must be one of: the source (one
 * Kubernetes watch), the admin listeners (one readiness, one `/metrics` summing every
 * worker, one `/routes`) and Pod Events; the workers own the proxy listeners, sharing the
 * port (`REUSE_PORT`). Each state the source emits is sent to every worker with the table
 * version it becomes. A worker that dies is replaced.
 */
export class WorkerPool {
  readonly #options: PrimaryOptions;
  readonly #log: Logger;
  readonly #workers = new Map<number, WorkerState>();
  readonly #probes: Server;
  readonly #introspection: Server;
  readonly #restarts: Counter<'tier' | 'reason'>;
  readonly #serving: Gauge<'tier'>;
  readonly #pending = new Map<number, (message: ToPrimary) => void>();
  #nextId = 0;
  /**
   * The counters and histograms of workers that died, as last scraped: added to every later
   * sum, so a replaced worker does not look like a counter reset to Prometheus.
   */
  #retired: MetricsJson = [];
  #latest: { readonly version: number; readonly state: ClusterState } | undefined;
  #sourceError: string | undefined;
  /** Every initial worker has served: readiness may pass from now on. */
  #started = false;
  #loggedVersion = 0;
  #quickExits = 0;
  #draining = false;
  #port: Ports | undefined;
  #ports: Ports | undefined;
  #onStarted: (() => void) | undefined;
  #onFatal: ((code: number) => void) | undefined;

  constructor(options: PrimaryOptions) {
    this.#options = options;
    this.#log = options.logger;
    const { registry } = options.metrics;
    const tier = options.config.build.tier;
    this.#restarts = new Counter({
      name: 'podrouter_worker_restarts_total',
      help: 'Worker processes that exited unexpectedly and were replaced, by how they ended (exit code or signal).',
      labelNames: ['tier', 'reason'],
      registers: [registry],
    });
    this.#serving = new Gauge({
      name: 'podrouter_workers',
      help: 'Worker processes serving the port.',
      labelNames: ['tier'],
      registers: [registry],
    });
    this.#serving.labels(tier).set(0);
    const common = {
      ready: () => this.ready,
      registry,
      collect: () => this.#collectMetrics(),
    };
    this.#probes = createAdminHttpServer({ ...common, views: {} });
    this.#introspection = createAdminHttpServer({
      ...common,
      views: { '/routes': () => this.#routes() },
    });
  }

  /** One readiness: every worker served its first table, at least one serves, no drain. */
  get ready(): boolean {
    return this.#started && !this.#draining && this.#servingCount() > 0;
  }

  /** Starts the admin listeners, the workers and the source; resolves once every worker serves. */
  async start(): Promise<{ port: number; adminPort: number; introspectionPort: number }> {
    const { config } = this.#options;
    this.#probes.listen(config.adminPort, config.listenAddress);
    this.#introspection.listen(config.introspectionPort, config.introspectionAddress);
    await Promise.all([once(this.#probes, 'listening'), once(this.#introspection, 'listening')]);
    this.#ports = await resolvePorts(config);
    // Without SO_REUSEPORT, the primary accepts and hands connections round-robin.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ serialization: 'advanced' });
    const started = new Promise<void>((resolve, reject) => {
      this.#onStarted = resolve;
      this.#onFatal = (code) =>
        reject(Object.assign(new Error('a worker failed to start'), { code }));
    });
    for (let index = 0; index < config.workers; index++) this.#fork();
    this.#options.source.start({
      onState: (state) => this.#broadcast(state),
      onError: (error: PodrouterError) => {
        this.#sourceError = error.message;
        this.#options.metrics.reloadFailed();
        this.#log.error({ code: error.code }, error.message);
      },
    });
    await started;
    const adminPort = (this.#probes.address() as AddressInfo).port;
    const introspectionPort = (this.#introspection.address() as AddressInfo).port;
    const port = this.#port?.port ?? 0;
    this.#log.info(
      {
        port,
        ...(this.#port?.tlsPort !== undefined ? { tlsPort: this.#port.tlsPort } : {}),
        adminPort,
        introspectionPort,
        workers: config.workers,
        source: this.#options.source.kind,
        tier: config.build.tier,
      },
      'listening',
    );
    return { port, adminPort, introspectionPort };
  }

  #fork(): void {
    const worker = cluster.fork();
    const state: WorkerState = {
      worker,
      forkedAt: Date.now(),
      ready: false,
      serving: false,
      version: 0,
      sent: undefined,
      scraped: undefined,
    };
    this.#workers.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (isMessage<ToPrimary>(message)) this.#onMessage(state, message);
    });
    worker.on('error', (error) =>
      this.#log.warn({ err: error, worker: worker.id }, 'worker IPC error'),
    );
    worker.on('exit', (code, signal) => this.#onExit(state, code, signal));
  }

  #onMessage(worker: WorkerState, message: ToPrimary): void {
    switch (message.type) {
      case 'hello':
        worker.ready = true;
        worker.sent = undefined;
        // A worker that was still starting when SIGTERM came: nothing to serve, just exit.
        if (this.#draining) this.#send(worker, { type: 'drain', delayMs: 0 });
        else if (this.#latest) this.#send(worker, this.#stateMessage(this.#latest, worker));
        return;
      case 'applied':
        worker.version = Math.max(worker.version, message.version);
        if (message.pods && this.#latest?.version === message.version) {
          this.#reportPods(message.pods, this.#latest.state);
        }
        this.#checkApplied();
        return;
      case 'failed':
        // The worker counted it (podrouter_reloads_total is taken once, not summed) and logged why.
        return;
      case 'serving':
        worker.serving = true;
        this.#port ??= message;
        this.#serving.labels(this.#options.config.build.tier).set(this.#servingCount());
        if (!this.#started && this.#servingCount() === this.#options.config.workers) {
          this.#started = true;
          this.#onStarted?.();
        }
        this.#checkApplied();
        return;
      case 'metrics':
      case 'routes':
        this.#pending.get(message.id)?.(message);
        return;
    }
  }

  #reportPods(pods: readonly PodReport[], state: ClusterState): void {
    try {
      this.#options.onTableApplied?.({ pods }, state);
    } catch (error) {
      this.#log.error({ err: error }, 'reporting the table failed');
    }
  }

  /** One line per version, once every serving worker has it (what a reader waits for). */
  #checkApplied(): void {
    if (!this.#started) return;
    let version = Number.POSITIVE_INFINITY;
    for (const worker of this.#workers.values()) {
      if (worker.serving) version = Math.min(version, worker.version);
    }
    if (!Number.isFinite(version) || version <= this.#loggedVersion) return;
    this.#loggedVersion = version;
    this.#sourceError = undefined;
    this.#log.info({ version, workers: this.#servingCount() }, 'route table applied');
  }

  #broadcast(state: ClusterState): void {
    if (this.#draining) return;
    this.#latest = { version: (this.#latest?.version ?? 0) + 1, state };
    // One worker (the oldest) reports its Pod reports back, for Pod Events.
    for (const worker of this.#workers.values()) {
      if (worker.ready) this.#send(worker, this.#stateMessage(this.#latest, worker));
    }
  }

  #stateMessage(
    latest: { readonly version: number; readonly state: ClusterState },
    worker: WorkerState,
  ): ToWorker {
    const reporter = [...this.#workers.values()].find((candidate) => candidate.ready);
    const payload = payloadFor(latest.state, worker.sent);
    worker.sent = latest.state.sequence;
    return {
      type: 'state',
      version: latest.version,
      payload,
      report: reporter === worker && this.#options.onTableApplied !== undefined,
      ports: this.#ports ?? { port: this.#options.config.port },
    };
  }

  #send(worker: WorkerState, message: ToWorker): void {
    if (!worker.worker.isConnected()) return;
    try {
      worker.worker.send(message);
    } catch (error) {
      this.#log.warn({ err: error, worker: worker.worker.id }, 'cannot reach a worker');
    }
  }

  #onExit(worker: WorkerState, code: number | null, signal: string | null): void {
    this.#workers.delete(worker.worker.id);
    if (worker.scraped !== undefined) this.#retire(worker.scraped);
    this.#serving.labels(this.#options.config.build.tier).set(this.#servingCount());
    if (this.#draining) return;
    const fields = { worker: worker.worker.id, pid: worker.worker.process.pid, code, signal };
    if (!this.#started && !worker.serving) {
      // A worker that cannot start (e.g. an extension's bad setting): so will its replacement.
      this.#log.fatal(fields, 'a worker exited before serving; stopping');
      this.#onFatal?.(code === 0 || code === null ? 1 : code);
      return;
    }
    this.#restarts.labels(this.#options.config.build.tier, signal ?? `exit ${code}`).inc();
    this.#quickExits = Date.now() - worker.forkedAt < QUICK_EXIT_MS ? this.#quickExits + 1 : 0;
    const delayMs =
      this.#quickExits === 0 ? 0 : Math.min(100 * 2 ** this.#quickExits, MAX_RESTART_DELAY_MS);
    this.#log.error({ ...fields, restartInMs: delayMs }, 'worker exited; starting a new one');
    setTimeout(() => {
      if (!this.#draining) this.#fork();
    }, delayMs).unref();
  }

  /** Folds a dead worker's last scraped counters into the retired sum. */
  #retire(scraped: MetricsJson): void {
    const sum = AggregatorRegistry.aggregate([this.#retired, monotonic(scraped)]);
    // The registry's JSON is synchronous for counters and histograms (no collect callbacks).
    sum.getMetricsAsJSON().then(
      (metrics) => {
        this.#retired = metrics as MetricsJson;
      },
      (error: unknown) => this.#log.warn({ err: error }, "keeping a dead worker's counts failed"),
    );
  }

  #servingCount(): number {
    let count = 0;
    for (const worker of this.#workers.values()) if (worker.serving) count++;
    return count;
  }

  /** Asks the workers; each one's answer, or undefined if none arrived within the timeout. */
  async #ask<T extends 'metrics' | 'routes'>(
    type: T,
    workers: readonly WorkerState[],
  ): Promise<(Extract<ToPrimary, { type: T }> | undefined)[]> {
    const timeoutMs = this.#options.askTimeoutMs ?? 2000;
    const answers = workers.map(
      (worker) =>
        new Promise<Extract<ToPrimary, { type: T }> | undefined>((resolve) => {
          const id = ++this.#nextId;
          const timer = setTimeout(() => {
            this.#pending.delete(id);
            resolve(undefined);
          }, timeoutMs);
          this.#pending.set(id, (message) => {
            clearTimeout(timer);
            this.#pending.delete(id);
            resolve(message as Extract<ToPrimary, { type: T }>);
          });
          this.#send(worker, { type, id });
        }),
    );
    return Promise.all(answers);
  }

  /**
   * Every worker's metrics and the primary's own, summed per series (prom-client's cluster
   * aggregation), plus the last scraped counters of workers that died. A worker that does not
   * answer fails the scrape: a sum without it would look like a counter reset to Prometheus,
   * a missing scrape is only a gap.
   */
  async #collectMetrics(): Promise<Registry> {
    const serving = [...this.#workers.values()].filter((worker) => worker.serving);
    const asked = await this.#ask('metrics', serving);
    const answers = asked.filter((answer) => answer !== undefined);
    asked.forEach((answer, index) => {
      const worker = serving[index];
      if (answer !== undefined && worker !== undefined) worker.scraped = answer.metrics;
    });
    if (answers.length < serving.length) {
      this.#log.warn(
        { asked: serving.length, answered: answers.length },
        'a worker did not answer the metrics request; failing this scrape',
      );
      throw new Error('a worker did not answer');
    }
    const own: MetricObjectWithValues<MetricValue<string>>[] =
      await this.#options.metrics.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([
      own,
      this.#retired,
      ...answers.map((answer) => answer.metrics),
    ]);
  }

  /** One worker's view (they build the same tables), with what only the primary knows. */
  async #routes(): Promise<unknown> {
    const serving = [...this.#workers.values()].filter((worker) => worker.serving);
    const [answer] = await this.#ask('routes', serving.slice(0, 1));
    if (answer === undefined) throw new Error('no worker answered');
    return {
      ...(answer.view as Record<string, unknown>),
      sourceError: this.#sourceError ?? null,
      ...this.#options.status?.(),
      workers: [...this.#workers.values()].map((worker) => ({
        id: worker.worker.id,
        pid: worker.worker.process.pid,
        serving: worker.serving,
        version: worker.version,
      })),
    };
  }

  /**
   * Readiness fails first; each worker then waits the delay and drains as a single-process
   * router would; the source and the admin listeners stop last.
   */
  async shutdown(delayMs = this.#options.config.shutdownDelayMs): Promise<void> {
    if (this.#draining) return;
    const { config } = this.#options;
    this.#draining = true;
    this.#log.info(
      { delayMs, timeoutMs: config.shutdownTimeoutMs, workers: this.#workers.size },
      'shutting down: readiness now fails',
    );
    const exited = [...this.#workers.values()].map((worker) =>
      worker.worker.isDead() ? undefined : once(worker.worker, 'exit'),
    );
    for (const worker of this.#workers.values()) this.#send(worker, { type: 'drain', delayMs });
    // Workers enforce the shutdown timeout themselves; this is for one that hangs regardless.
    const timedOut = await Promise.race([
      Promise.all(exited).then(() => false),
      sleep(delayMs + config.shutdownTimeoutMs + 5000, true, { ref: false }),
    ]);
    if (timedOut) {
      this.#log.warn('a worker did not exit after draining; killing it');
      for (const worker of this.#workers.values()) worker.worker.process.kill('SIGKILL');
    }
    await this.#options.source.stop();
    await this.#options.close?.();
    for (const server of [this.#probes, this.#introspection]) server.closeAllConnections();
    await Promise.all(
      [this.#probes, this.#introspection].map(
        (server) => new Promise<void>((done) => server.close(() => done())),
      ),
    );
    this.#log.info('shut down');
  }
}
