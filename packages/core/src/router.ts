import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import {
  type AdminState,
  createAdminServers,
  mergeRegistries,
  routesView,
} from './admin/server.ts';
import { AnnotationMemo } from './annotations/memo.ts';
import { EndpointHealth } from './balancer/endpoint-health.ts';
import type { RouterConfig } from './config/settings.ts';
import type { PodrouterError } from './errors.ts';
import { ClientAddressResolver } from './guards/client-address.ts';
import { ClientLimits, type SharedClientRate } from './guards/client-limits.ts';
import { Http2Front } from './http2/front.ts';
import { acceptPriorKnowledge } from './http2/prior-knowledge.ts';
import type { Logger } from './observability/log.ts';
import { RouterMetrics } from './observability/metrics.ts';
import type { PipelineCompiler } from './pipeline/types.ts';
import { type LabelSelector, parseLabelSelector } from './pods/label-selector.ts';
import type { ClusterState } from './pods/types.ts';
import type { UpstreamEngine } from './proxy/engine.ts';
import { H2cEngine } from './proxy/h2c-engine.ts';
import { type ExchangeObserver, RouterProxy } from './proxy/handler.ts';
import { Problems, writeRawProblem } from './proxy/problem.ts';
import { ProtocolEngines } from './proxy/protocol-engines.ts';
import { RawEngine } from './proxy/raw-engine.ts';
import { UndiciEngine } from './proxy/undici-engine.ts';
import { IncrementalTable } from './routes/incremental-table.ts';
import type { RouteTable } from './routes/types.ts';
import { type ClientServer, createClientServer } from './server/client-server.ts';
import type { Source } from './sources/types.ts';
import { TlsTermination } from './tls/termination.ts';

export interface RouterOptions {
  readonly config: RouterConfig;
  readonly source: Source;
  readonly logger: Logger;
  /** Policy: turns each cluster state into the pipeline compiler for its table. */
  readonly policies?: (state: ClusterState) => PipelineCompiler | undefined;
  /** Extra observers of finished exchanges (access logs, tracing). */
  readonly observers?: readonly ExchangeObserver[];
  /** Called after each table swap with the new table and the state it was built from. */
  readonly onTableApplied?: (table: RouteTable, state: ClusterState) => void;
  /** Extensions' Prometheus registries, served with the router's at `/metrics`. */
  readonly registries?: readonly Registry[];
  /** Extra sections of the admin `/routes` view, by name. */
  readonly status?: () => Readonly<Record<string, unknown>>;
  /** Identity headers the policy sets upstream: stripped from every inbound request. */
  readonly identityHeaders?: readonly string[];
  /**
   * Serve the admin and introspection listeners (default). A worker process of
   * `workers/` leaves them to the primary, which asks it for metrics and `/routes`.
   */
  readonly admin?: boolean;
  /**
   * Bind the proxy listeners with SO_REUSEPORT, each process its own socket, the kernel
   * spreading connections over them (the workers of `workers/`).
   */
  readonly reusePort?: boolean;
  /** Shares CLIENT_RATE_LIMIT across replicas (the policy's Redis); in memory otherwise. */
  readonly sharedClientRate?: SharedClientRate;
}

const EMPTY_TABLE: RouteTable = {
  version: 0,
  builtAt: 0,
  hosts: new Map(),
  routes: [],
  pods: [],
  rejectedEntries: 0,
};

/**
 * One router process: source → table (swapped by reference) → proxy, plus the admin server.
 * The same class runs both builds; only the configuration differs.
 */
export class Router {
  readonly #options: RouterOptions;
  readonly #log: Logger;
  readonly metrics: RouterMetrics;
  readonly #health: EndpointHealth;
  readonly #engine: UpstreamEngine;
  readonly #proxy: RouterProxy;
  readonly #server: ClientServer;
  readonly #admin: Server | undefined;
  readonly #introspection: Server | undefined;
  readonly #adminState: AdminState;
  readonly #registry: Registry;
  readonly #selector: LabelSelector;
  readonly #tables: IncrementalTable;
  readonly #tls: TlsTermination | undefined;
  readonly #h2: Http2Front;
  #table: RouteTable = EMPTY_TABLE;
  /** For a rebuild when a certificate expires without any change in the cluster. */
  #lastState: ClusterState | undefined;
  #synced = false;
  #draining = false;
  #sourceError: string | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: RouterOptions) {
    this.#options = options;
    const { config } = options;
    this.#log = options.logger;
    this.metrics = new RouterMetrics(config.build.tier);
    this.#health = new EndpointHealth({ ejectionMs: config.ejectionMs });
    this.#selector = parseLabelSelector(config.routableLabelSelector);
    this.#tables = new IncrementalTable({
      hostsAnnotation: config.hostsAnnotation,
      pathsAnnotation: config.pathsAnnotation,
      selector: this.#selector,
      health: this.#health,
      memo: new AnnotationMemo(),
      access: { allowFrom: config.allowFromAnnotation, denyFrom: config.denyFromAnnotation },
      backendTls: {
        tls: config.backendTlsAnnotation,
        serverName: config.backendServerNameAnnotation,
      },
      ...(config.aliasHosts ? { aliasDomain: config.clusterDomain } : {}),
    });
    const engineOptions = {
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      keepAliveTimeoutMs: config.upstreamKeepAliveMs,
      maxConnectionsPerEndpoint: config.upstreamMaxConnections,
    };
    this.#engine = new ProtocolEngines(
      config.upstreamEngine === 'raw'
        ? new RawEngine({ ...engineOptions, maxHeadBytes: config.maxHeaderSize })
        : new UndiciEngine(engineOptions),
      // Pod ports named for HTTP/2 (gRPC) are spoken to over h2c whichever engine is chosen.
      new H2cEngine(engineOptions),
    );
    const observers = [this.metrics.observeExchange, ...(options.observers ?? [])];
    this.#proxy = new RouterProxy({
      table: () => this.#table,
      engine: this.#engine,
      health: this.#health,
      options: {
        maxBodyBytes: config.clientMaxBodySize,
        bodyTimeoutMs: config.clientBodyTimeoutMs,
        notFound: config.notFoundResponse,
        clientAddress: new ClientAddressResolver({
          trustAll: config.trustForwardedHeaders,
          trustedProxies: config.trustedProxies,
        }),
        clientLimits: new ClientLimits({
          ratePerSecond: config.clientRateLimit.perSecond,
          burst: config.clientRateBurst,
          maxConcurrent: config.clientMaxConcurrent,
          ...(options.sharedClientRate ? { shared: options.sharedClientRate } : {}),
        }),
        underscores: config.underscoresInHeaders,
        identityHeaders: new Set((options.identityHeaders ?? []).map((name) => name.toLowerCase())),
        upgradeTokens: config.upgradeProtocols,
        methods: config.allowedMethods,
        mergeSlashes: config.mergeSlashes,
        escapedSlashes: config.escapedSlashes,
        totalTimeoutMs: config.totalTimeoutMs,
        connectTimeoutMs: config.connectTimeoutMs,
        idleTimeoutMs: config.idleTimeoutMs,
        sendTimeoutMs: config.clientSendTimeoutMs,
      },
      onSendTimeout: this.metrics.clientSendTimeout,
      observe:
        observers.length === 1
          ? this.metrics.observeExchange
          : (record) => {
              for (const observe of observers) observe(record);
            },
      onHookError: (error, route) =>
        this.#log.error(
          { err: error, host: route.host, path: route.path },
          'policy hook failed; answered 500',
        ),
      onError: (error) => this.#log.error({ err: error }, 'request path failed; answered 500'),
    });
    const onCheckContinue = (req: IncomingMessage, res: ServerResponse) => {
      if (this.#draining) res.setHeader('connection', 'close');
      if (this.#tls?.intercept(req, res)) return;
      this.#proxy.handleExpectContinue(req, res);
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (this.#draining) res.setHeader('connection', 'close');
      if (this.#tls?.intercept(req, res)) return;
      this.#proxy.handleRequest(req, res);
    };
    this.#server = createClientServer(
      {
        engine: config.serverEngine,
        maxHeaderSize: config.maxHeaderSize,
        keepAliveTimeoutMs: config.clientKeepAliveMs,
        headersTimeoutMs: config.clientHeaderTimeoutMs,
        bodyTimeoutMs: config.clientBodyTimeoutMs,
        sendTimeoutMs: config.clientSendTimeoutMs,
        onSendTimeout: this.metrics.clientSendTimeout,
      },
      {
        onRequest,
        onCheckContinue,
        shouldUpgrade: this.#proxy.shouldUpgrade,
        onUpgrade: (req, socket: Duplex, head: Buffer) => {
          if (this.#draining) {
            writeRawProblem(socket, Problems.shuttingDown);
            return;
          }
          this.#proxy.handleUpgrade(req, socket, head);
        },
      },
    );
    // HTTP/2 takes the same request listener: over TLS (ALPN h2) and with prior knowledge
    // (h2c) on the plain port.
    this.#h2 = new Http2Front({
      onRequest,
      onCheckContinue,
      maxHeaderSize: config.maxHeaderSize,
      idleTimeoutMs: config.clientKeepAliveMs,
      sendTimeoutMs: config.clientSendTimeoutMs,
      onSendTimeout: this.metrics.clientSendTimeout,
    });
    acceptPriorKnowledge(this.#server, this.#h2);
    this.#tls =
      config.tlsPort === undefined
        ? undefined
        : new TlsTermination({
            port: config.tlsPort,
            address: config.listenAddress,
            annotation: config.tlsSecretAnnotation,
            hostsAnnotation: config.hostsAnnotation,
            selector: this.#selector,
            defaultSecret: config.defaultTlsSecret,
            ...(config.aliasHosts ? { aliasDomain: config.clusterDomain } : {}),
            redirect: config.httpsRedirect,
            hstsMaxAgeMs: config.hstsMaxAgeMs,
            handshakeTimeoutMs: config.clientHeaderTimeoutMs,
            http: this.#server,
            http2: this.#h2,
            logger: this.#log,
            onValidityChange: () => {
              if (this.#lastState === undefined || this.#draining) return;
              try {
                this.applyState(this.#lastState);
              } catch (error) {
                this.#log.error({ err: error }, 'rebuilding the route table failed');
              }
            },
            registry: this.metrics.registry,
            tier: config.build.tier,
          });
    const status = options.status;
    const tls = this.#tls;
    this.#adminState = {
      ready: () => this.#synced && !this.#draining,
      table: () => this.#table,
      sourceError: () => this.#sourceError,
      ejected: () => this.#health.ejected(),
      beforeMetrics: () => this.metrics.setTunnels(this.#proxy.tunnels.size),
      ...(status || tls
        ? { status: () => ({ ...status?.(), ...(tls ? { tls: tls.view() } : {}) }) }
        : {}),
    };
    this.#registry = mergeRegistries(this.metrics.registry, options.registries);
    const admin =
      options.admin === false ? undefined : createAdminServers(this.#adminState, this.#registry);
    this.#admin = admin?.probes;
    this.#introspection = admin?.introspection;
  }

  /** Every metric of this process (the router's and its extensions'), as prom-client JSON. */
  metricsJson(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    this.#adminState.beforeMetrics?.();
    return this.#registry.getMetricsAsJSON();
  }

  /** The admin `/routes` view of this process. */
  routesView(): ReturnType<typeof routesView> {
    return routesView(this.#table, this.#adminState);
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** Applies a new cluster state: patch (or build) a new table and swap it in. */
  applyState(state: ClusterState, version = this.#table.version + 1): RouteTable {
    const started = performance.now();
    const compilePipeline = this.#options.policies?.(state);
    const built = this.#tables.apply(state, {
      version,
      now: Date.now(),
      ...(compilePipeline ? { compilePipeline } : {}),
    });
    this.#lastState = state;
    const table = this.#tls ? this.#tls.apply(state, built) : built;
    this.#table = table;
    this.#synced = true;
    this.#sourceError = undefined;
    this.#engine.retainOnly(this.#tables.origins);
    this.metrics.tableApplied(table);
    this.#log.info(
      {
        version: table.version,
        routes: table.routes.length,
        rejected: table.rejectedEntries,
        pods: state.pods.length,
        buildMs: Math.round((performance.now() - started) * 100) / 100,
      },
      'route table applied',
    );
    for (const pod of table.pods) {
      for (const rejection of pod.rejections) {
        this.#log.warn(
          { namespace: pod.namespace, pod: pod.name, ...rejection },
          'annotation entry rejected',
        );
      }
    }
    this.#options.onTableApplied?.(table, state);
    return table;
  }

  /** `ports` override the configured ones (a worker is told the port its primary chose). */
  async start(ports: { port?: number; tlsPort?: number } = {}): Promise<{
    port: number;
    adminPort: number;
    introspectionPort: number;
    tlsPort?: number;
  }> {
    const { config } = this.#options;
    const reusePort = this.#options.reusePort === true;
    this.#server.listen({
      port: ports.port ?? config.port,
      host: config.listenAddress,
      ...(reusePort ? { reusePort, exclusive: true } : {}),
    });
    this.#admin?.listen(config.adminPort, config.listenAddress);
    this.#introspection?.listen(config.introspectionPort, config.introspectionAddress);
    await Promise.all(
      [this.#server, this.#admin, this.#introspection].map((server) =>
        server ? once(server, 'listening') : undefined,
      ),
    );
    const tlsPort = await this.#tls?.listen({
      ...(ports.tlsPort !== undefined ? { port: ports.tlsPort } : {}),
      reusePort,
    });
    this.#options.source.start({
      onState: (state) => {
        try {
          this.applyState(state);
        } catch (error) {
          this.metrics.reloadFailed();
          this.#log.error(
            { err: error },
            'building the route table failed; keeping the last good table',
          );
        }
      },
      onError: (error: PodrouterError) => {
        this.#sourceError = error.message;
        this.metrics.reloadFailed();
        this.#log.error({ code: error.code }, error.message);
      },
    });
    const port = (this.#server.address() as AddressInfo).port;
    const adminPort = (this.#admin?.address() as AddressInfo | undefined)?.port ?? 0;
    const introspectionPort =
      (this.#introspection?.address() as AddressInfo | undefined)?.port ?? 0;
    this.#log.info(
      {
        port,
        tlsPort,
        adminPort,
        introspectionPort,
        source: this.#options.source.kind,
        tier: config.build.tier,
        serverEngine: config.serverEngine,
        upstreamEngine: config.upstreamEngine,
      },
      'listening',
    );
    return { port, adminPort, introspectionPort, ...(tlsPort !== undefined ? { tlsPort } : {}) };
  }

  /** Readiness fails first, then the listener closes and in-flight requests drain. */
  shutdown(delayMs = this.#options.config.shutdownDelayMs): Promise<void> {
    this.#shutdown ??= this.#drain(delayMs);
    return this.#shutdown;
  }

  async #drain(delayMs: number): Promise<void> {
    const { config } = this.#options;
    this.#draining = true;
    this.#log.info(
      { delayMs, timeoutMs: config.shutdownTimeoutMs },
      'shutting down: readiness now fails',
    );
    if (delayMs > 0) await sleep(delayMs);
    const closed = Promise.all([
      new Promise<void>((done) => this.#server.close(() => done())),
      this.#tls?.close(),
    ]);
    this.#h2.close();
    this.#server.closeIdleConnections();
    const idleSweep = setInterval(() => this.#server.closeIdleConnections(), 100);
    const timedOut = await Promise.race([
      closed.then(() => false),
      sleep(config.shutdownTimeoutMs).then(() => true),
    ]);
    clearInterval(idleSweep);
    if (timedOut) {
      this.#log.warn('shutdown timeout reached; closing the remaining connections');
      this.#server.closeAllConnections();
      this.#h2.destroy();
      for (const tunnel of this.#proxy.tunnels) tunnel.destroy();
    }
    await Promise.all([this.#options.source.stop(), this.#engine.close()]);
    const admin = [this.#admin, this.#introspection].filter((server) => server !== undefined);
    for (const server of admin) server.closeAllConnections();
    await Promise.all(
      admin.map((server) => new Promise<void>((done) => server.close(() => done()))),
    );
    this.#log.info('shut down');
  }
}
