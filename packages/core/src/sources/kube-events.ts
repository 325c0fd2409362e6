import { serviceClaimantKey } from '../backends/service-claimant.ts';
import { EventRecorder, type EventRecorderOptions } from '../kube/event-recorder.ts';
import type { ClusterState } from '../pods/types.ts';
import type { RouteTable } from '../routes/types.ts';

export { eventName, microTime } from '../kube/event-recorder.ts';

const REASON = 'RouteRejected';

/**
 * Warning Events on Pods (and Services) whose annotation entries are rejected, so the people who wrote the
 * annotation see why with `kubectl describe pod`. An Event is recorded when a rejection
 * appears, not on every table: a rejection that stays is one Event, however many tables are
 * built while it lasts. Writing (names, series, rate limit) is the shared EventRecorder's.
 */
export class PodEventRecorder {
  readonly #recorder: EventRecorder;
  /** Keys of the rejections present in the last table. */
  #active = new Set<string>();

  constructor(options: EventRecorderOptions) {
    this.#recorder = new EventRecorder(options);
  }

  /** Called with every table the router applies (and the state it was built from). */
  observe(table: Pick<RouteTable, 'pods'>, state: ClusterState): void {
    const rejected = new Set(
      table.pods
        .filter((report) => report.rejections.length > 0)
        .map((report) => `${report.namespace}/${report.name}`),
    );
    if (rejected.size === 0 && this.#active.size === 0) return;
    type Regarding = { kind: string; namespace: string; name: string; uid: string };
    const pods = new Map<string, Regarding>(
      state.pods
        .filter((pod) => rejected.has(`${pod.namespace}/${pod.name}`))
        .map((pod) => [`${pod.namespace}/${pod.name}`, { ...pod, kind: 'Pod' }]),
    );
    // A Service's rejections are reported under its claimant name; the Event goes on it.
    for (const service of state.services ?? []) {
      const key = serviceClaimantKey(service.namespace, service.name);
      if (rejected.has(key)) pods.set(key, { ...service, kind: 'Service' });
    }
    const active = new Set<string>();
    for (const report of table.pods) {
      const pod = pods.get(`${report.namespace}/${report.name}`);
      if (pod === undefined) continue;
      for (const rejection of report.rejections) {
        const key = [pod.uid, rejection.annotation, rejection.entry, rejection.reason].join('\0');
        active.add(key);
        if (this.#active.has(key)) continue;
        const entry = rejection.entry === '' ? '' : ` entry "${rejection.entry}"`;
        this.#recorder.record({
          key,
          regarding: {
            apiVersion: 'v1',
            kind: pod.kind,
            namespace: pod.namespace,
            name: pod.name,
            uid: pod.uid,
          },
          type: 'Warning',
          reason: REASON,
          action: 'Route',
          note: `${rejection.annotation}${entry}: ${rejection.reason}`,
        });
      }
    }
    this.#active = active;
  }

  /** Resolves when nothing is being written (tests). */
  settled(): Promise<void> {
    return this.#recorder.settled();
  }

  /** Stops writing; waits for a write in flight. */
  close(): Promise<void> {
    return this.#recorder.close();
  }
}
