import { Counter, Gauge, Registry } from 'prom-client';

/** The controller's Prometheus metrics, on a registry of its own. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'podrouter_controller_reconciles_total',
    help: 'Alias reconciles, by result (unchanged: no write was needed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'podrouter_controller_api_writes_total',
    help: 'Writes to the API server, by object kind and verb.',
    labelNames: ['kind', 'verb'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'podrouter_controller_errors_total',
    help: 'Failures, by stage (reconcile, watch, lease, event).',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'podrouter_controller_queue_depth',
    help: 'Aliases waiting in the work queue.',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'podrouter_controller_leader',
    help: '1 while this replica holds the Lease (or election is off), else 0.',
    registers: [this.registry],
  });
  readonly aliases = new Gauge({
    name: 'podrouter_controller_aliases',
    help: 'Desired aliases, by mode.',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly problems = new Gauge({
    name: 'podrouter_controller_claim_problems',
    help: 'Hosts of routable Pods that claim no alias, by kind (refused, clash).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'podrouter_controller_events_total',
    help: 'Kubernetes Events written on claiming Pods, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    for (const result of ['changed', 'unchanged', 'error']) this.reconciles.inc({ result }, 0);
  }
}
