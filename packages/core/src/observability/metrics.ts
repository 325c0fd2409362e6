import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ExchangeRecord } from '../proxy/exchange-record.ts';
import type { RouteTable } from '../routes/types.ts';
import { HistogramTally, Tallies, type Tally } from './tallies.ts';

const UPSTREAM_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * The router's Prometheus metrics. The `host` label only ever holds hosts of the route
 * table (or "" for unmatched requests), so arbitrary Host headers cannot blow up cardinality.
 * With several workers the primary sums every worker's (`workers/primary.ts`); what
 * describes the one shared table or source (routes, rejected entries, reloads, features) is
 * the same in each process and is taken once (`aggregator: 'max'`).
 */
export class RouterMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'tier' | 'host' | 'status'>;
  readonly #upstreamSeconds: Histogram<'tier'>;
  readonly #upstreamFailures: Counter<'tier' | 'kind'>;
  readonly #routes: Gauge<'tier'>;
  readonly #rejected: Gauge<'tier'>;
  readonly #reloads: Counter<'tier' | 'result'>;
  readonly #tunnels: Gauge<'tier'>;
  readonly #retries: Counter<'tier'>;
  readonly #features: Gauge<'tier' | 'feature'>;
  readonly #sendTimeouts: Counter<'tier'>;
  readonly #tier: string;
  readonly #requestChildren = new Map<string, Map<number, Tally>>();
  readonly #requestTallies = new Tallies();
  readonly #upstreamTally = new HistogramTally(UPSTREAM_BUCKETS);

  constructor(tier: string) {
    this.#tier = tier;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'podrouter_process_' });
    this.#requests = new Counter({
      name: 'podrouter_requests_total',
      help: 'Requests answered, by tier, matched host and status (0 = connection closed without a response).',
      labelNames: ['tier', 'host', 'status'],
      registers,
      collect: () => this.#requestTallies.flush(),
    });
    this.#upstreamSeconds = new Histogram({
      name: 'podrouter_upstream_duration_seconds',
      help: 'Time from the first upstream attempt to the end of the exchange.',
      labelNames: ['tier'],
      buckets: UPSTREAM_BUCKETS,
      registers,
      collect: () => this.#upstreamTally.flushInto(this.#upstreamSeconds, { tier }),
    });
    this.#upstreamFailures = new Counter({
      name: 'podrouter_upstream_failures_total',
      help: 'Upstream exchanges that failed, by kind.',
      labelNames: ['tier', 'kind'],
      registers,
    });
    this.#routes = new Gauge({
      name: 'podrouter_routes',
      aggregator: 'max',
      help: 'Routes (host+path) in the current table.',
      labelNames: ['tier'],
      registers,
    });
    this.#rejected = new Gauge({
      name: 'podrouter_rejected_annotations',
      aggregator: 'max',
      help: 'Annotation entries rejected in the current table.',
      labelNames: ['tier'],
      registers,
    });
    this.#reloads = new Counter({
      name: 'podrouter_reloads_total',
      aggregator: 'max',
      help: 'Route table rebuilds from source changes, by result (applied, error). Unchanged input is dropped by the source before it gets here.',
      labelNames: ['tier', 'result'],
      registers,
    });
    this.#tunnels = new Gauge({
      name: 'podrouter_open_tunnels',
      help: 'Open WebSocket/upgrade tunnels.',
      labelNames: ['tier'],
      registers,
    });
    this.#retries = new Counter({
      name: 'podrouter_upstream_retries_total',
      help: 'Requests retried on another endpoint after a connection failure.',
      labelNames: ['tier'],
      registers,
    });
    this.#features = new Gauge({
      name: 'podrouter_feature_enabled',
      aggregator: 'max',
      help: 'Optional features (1 on, 0 off): a feature whose RBAC permissions are missing is turned off at start.',
      labelNames: ['tier', 'feature'],
      registers,
    });
    this.#sendTimeouts = new Counter({
      name: 'podrouter_client_send_timeouts_total',
      help: 'Client connections (or HTTP/2 streams, or WebSocket tunnels) closed because the client read nothing of its answer for CLIENT_SEND_TIMEOUT.',
      labelNames: ['tier'],
      registers,
    });
    this.#sendTimeouts.labels(tier).inc(0);
    for (const result of ['applied', 'error']) this.#reloads.labels(tier, result).inc(0);
  }

  observeExchange = (record: ExchangeRecord): void => {
    this.#requestCounter(record.route?.host ?? '', record.status).count++;
    if (record.upstreamMs > 0) this.#upstreamTally.observe(record.upstreamMs / 1000);
    if (record.failure !== undefined)
      this.#upstreamFailures.labels(this.#tier, record.failure).inc();
    if (record.retries > 0) this.#retries.labels(this.#tier).inc(record.retries);
  };

  /** Tallies per host and status: no label hashing on the request path. */
  #requestCounter(host: string, status: number): Tally {
    let byStatus = this.#requestChildren.get(host);
    if (byStatus === undefined) {
      // Hosts come from the route table, but tables change: bound the cache anyway.
      if (this.#requestChildren.size > 10_000) {
        this.#requestTallies.clear();
        this.#requestChildren.clear();
      }
      byStatus = new Map();
      this.#requestChildren.set(host, byStatus);
    }
    let child = byStatus.get(status);
    if (child === undefined) {
      child = this.#requestTallies.of(() =>
        this.#requests.labels(this.#tier, host, String(status)),
      );
      byStatus.set(status, child);
    }
    return child;
  }

  clientSendTimeout = (): void => {
    this.#sendTimeouts.labels(this.#tier).inc();
  };

  feature(name: string, enabled: boolean): void {
    this.#features.labels(this.#tier, name).set(enabled ? 1 : 0);
  }

  tableApplied(table: RouteTable): void {
    this.#routes.labels(this.#tier).set(table.routes.length);
    this.#rejected.labels(this.#tier).set(table.rejectedEntries);
    this.#reloads.labels(this.#tier, 'applied').inc();
  }

  reloadFailed(): void {
    this.#reloads.labels(this.#tier, 'error').inc();
  }

  setTunnels(count: number): void {
    this.#tunnels.labels(this.#tier).set(count);
  }
}
