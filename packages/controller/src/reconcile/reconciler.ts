import type { Logger } from '@podrouter/core';
import type { ControllerMetrics } from '../admin/metrics.ts';
import { type AliasWriter, applyActions } from '../alias/apply.ts';
import { type AliasResult, desiredAlias } from '../alias/desired.ts';
import { diffAlias } from '../alias/diff.ts';
import type { AliasOptions, ClaimProblem } from '../alias/types.ts';
import { EVENT_REASONS, type ProblemReporter } from '../events/recorder.ts';
import type { AliasStore } from './store.ts';

/** controller-runtime's reconcile.Result: come back to this key after a while. */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

export interface ReconcilerOptions {
  readonly store: AliasStore;
  readonly writer: AliasWriter;
  readonly reporter: ProblemReporter;
  readonly options: AliasOptions;
  readonly metrics: ControllerMetrics;
  readonly logger: Logger;
  /** Only the leader writes objects and Events; the others keep their view current. */
  readonly leading: () => boolean;
  readonly now?: () => number;
}

/**
 * Reconciles one alias (`namespace/service`) at a time, level-based: whatever event queued
 * the key, the alias is recomputed from the caches (its claimants, its namespace, the
 * Services, the router), diffed against the objects that exist, and written only where they
 * differ. An alias in its grace period asks to be requeued when that ends, instead of the
 * whole desired state being recomputed until then.
 */
export class AliasReconciler {
  readonly #o: ReconcilerOptions;
  readonly #now: () => number;
  /** The last result of each alias: the admin view and the gauges. */
  readonly results = new Map<string, AliasResult>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { store, options, metrics, logger } = this.#o;
    const now = this.#now();
    const result = desiredAlias(
      key,
      store.claimants(key),
      {
        namespaces: store.namespaces,
        services: store.actual.services,
        router: store.router(),
        now,
      },
      options,
    );
    const before = this.results.get(key);
    if (result.alias === undefined && result.problems.length === 0 && !result.pending) {
      this.results.delete(key);
    } else this.results.set(key, result);
    if (result.pending && !before?.pending) {
      logger.warn(
        { alias: key, router: options.routerService },
        'router Service or its endpoints not seen yet; this alias waits',
      );
    }
    const requeue: ReconcileResult =
      result.expiresAt !== undefined
        ? { requeueAfterMs: Math.max(0, result.expiresAt - now) + 10 }
        : {};
    if (!this.#o.leading()) return requeue;
    await this.report(`alias:${key}`, result.problems);
    if (result.pending) return requeue;
    const actions = diffAlias(key, result.alias, store.actual);
    if (actions.length === 0) {
      metrics.reconciles.inc({ result: 'unchanged' });
      return requeue;
    }
    await applyActions(actions, this.#o.writer, {
      write: (kind, verb) => metrics.writes.inc({ kind, verb }),
      written: (object, ref) => store.written(object, ref),
    });
    metrics.reconciles.inc({ result: 'changed' });
    logger.info(
      {
        alias: key,
        mode: result.alias?.mode,
        writes: actions.map((action) =>
          action.verb === 'delete'
            ? `delete ${action.ref.kind}/${action.ref.name}`
            : `${action.verb} ${action.object.kind}/${action.object.metadata.name}`,
        ),
      },
      result.alias === undefined ? 'alias removed' : 'alias reconciled',
    );
    return requeue;
  }

  /** Events for the problems of one scope (an alias, or one Pod's own hosts). */
  async report(scope: string, problems: readonly ClaimProblem[]): Promise<void> {
    if (!this.#o.leading()) return;
    const { metrics, logger } = this.#o;
    const fresh = await this.#o.reporter.report(scope, problems, (error) => {
      metrics.errors.inc({ stage: 'event' });
      logger.warn({ err: error }, 'writing an Event failed');
    });
    for (const problem of fresh) {
      metrics.events.inc({ reason: EVENT_REASONS[problem.kind] });
      logger.warn(
        {
          pod: `${problem.pod.namespace}/${problem.pod.name}`,
          host: problem.host,
          kind: problem.kind,
        },
        problem.reason,
      );
    }
  }

  /** Sets the gauges of aliases by mode and problems by kind from the last results. */
  updateGauges(podProblems: Iterable<ClaimProblem>): void {
    const { metrics } = this.#o;
    metrics.aliases.reset();
    const problems = { refused: 0, clash: 0 };
    for (const result of this.results.values()) {
      if (result.alias) metrics.aliases.inc({ mode: result.alias.mode });
      for (const problem of result.problems) problems[problem.kind]++;
    }
    for (const problem of podProblems) problems[problem.kind]++;
    metrics.problems.reset();
    for (const kind of ['refused', 'clash'] as const)
      metrics.problems.set({ kind }, problems[kind]);
  }
}
