import type { ObjectRef } from '../alias/diff.ts';
import { type CleanupPlan, cleanupPlan, type ManagedObjects } from './plan.ts';

/** What cleanup reads and deletes; the API server in production, a fake in unit tests. */
export interface CleanupApi {
  /** Names of the Pods matching `selector` in `namespace` that have not stopped. */
  pods(namespace: string, selector: string): Promise<readonly string[]>;
  /** Every object labelled app.kubernetes.io/managed-by=podrouter, in all namespaces. */
  managed(): Promise<ManagedObjects>;
  /** Deletes one object if it still has `ref.uid`; an object already gone is fine. */
  delete(ref: ObjectRef): Promise<void>;
  /** Deletes the Lease; false when there was none. */
  deleteLease(namespace: string, name: string): Promise<boolean>;
}

export interface CleanupOptions {
  /** `NAMESPACE/NAME` of the private router Service whose aliases go. */
  readonly routerService: string;
  /** The controller's Pods: cleanup starts only once none is left, so none can write again. */
  readonly controllerPods: { readonly namespace: string; readonly selector: string } | undefined;
  readonly waitTimeoutMs: number;
  readonly pollMs: number;
  /** The controller's leader-election Lease, which the controller never deletes itself. */
  readonly lease: { readonly namespace: string; readonly name: string } | undefined;
}

export interface CleanupDeps {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
}

export interface CleanupResult {
  readonly deleted: readonly ObjectRef[];
  /** Managed objects of other routers (or without their Service), left alone. */
  readonly kept: number;
  readonly leaseDeleted: boolean;
}

export const CleanupErrorCodes = {
  CONTROLLER_RUNNING: 'PR_CLEANUP_CONTROLLER_RUNNING',
  ALIASES_REAPPEAR: 'PR_CLEANUP_ALIASES_REAPPEAR',
} as const;

export class CleanupError extends Error {
  readonly code: (typeof CleanupErrorCodes)[keyof typeof CleanupErrorCodes];
  constructor(code: CleanupError['code'], message: string) {
    super(message);
    this.name = 'CleanupError';
    this.code = code;
  }
}

/** A pass deletes what the listing showed; more than this many passes means a writer is live. */
const MAX_PASSES = 3;

/**
 * Removes what a podrouter installation's controller made and nothing else: the aliases
 * leading to `routerService` (see cleanupPlan) and the controller's Lease. It first waits
 * until no controller Pod is left, because a live controller would recreate every alias it
 * still sees claimed; then deletes, and lists again until nothing of this router is left.
 */
export async function runCleanup(
  api: CleanupApi,
  options: CleanupOptions,
  deps: CleanupDeps,
): Promise<CleanupResult> {
  if (options.controllerPods !== undefined) {
    const { namespace, selector } = options.controllerPods;
    const start = deps.now();
    for (;;) {
      const left = await api.pods(namespace, selector);
      if (left.length === 0) break;
      if (deps.now() - start >= options.waitTimeoutMs) {
        throw new CleanupError(
          CleanupErrorCodes.CONTROLLER_RUNNING,
          `controller Pods ${left.map((pod) => `${namespace}/${pod}`).join(', ')} (${selector}) still exist after ${options.waitTimeoutMs / 1000}s; a running controller recreates the aliases it still sees claimed: delete its Deployment first, then run cleanup again`,
        );
      }
      deps.log('waiting for the controller Pods to be gone', { pods: left });
      await deps.sleep(options.pollMs);
    }
  }
  const deleted: ObjectRef[] = [];
  let plan: CleanupPlan = { deletes: [], kept: 0 };
  for (let pass = 1; ; pass++) {
    plan = cleanupPlan(await api.managed(), options.routerService);
    if (plan.deletes.length === 0) break;
    if (pass > MAX_PASSES) {
      throw new CleanupError(
        CleanupErrorCodes.ALIASES_REAPPEAR,
        `aliases of ${options.routerService} came back after ${MAX_PASSES} rounds of deletes (${plan.deletes.map((r) => `${r.kind} ${r.namespace}/${r.name}`).join(', ')}): another controller writes them; stop it and run cleanup again`,
      );
    }
    for (const ref of plan.deletes) {
      await api.delete(ref);
      deps.log('deleted', { kind: ref.kind, namespace: ref.namespace, name: ref.name });
      deleted.push(ref);
    }
  }
  let leaseDeleted = false;
  if (options.lease !== undefined) {
    leaseDeleted = await api.deleteLease(options.lease.namespace, options.lease.name);
    if (leaseDeleted) deps.log('deleted', { kind: 'Lease', ...options.lease });
  }
  return { deleted, kept: plan.kept, leaseDeleted };
}
