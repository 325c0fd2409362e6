import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../observability/log.ts';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import type { RouteTable } from '../routes/types.ts';
import { type KubeResponse, kubeRequest, statusMessage } from './kube-http.ts';

/**
 * Kubernetes Events (events.k8s.io/v1) on Pods whose annotation entries are rejected, so the
 * people who wrote the annotation see why with `kubectl describe pod`.
 *
 * - An Event is written when a rejection appears, not on every table: a rejection that stays
 *   is one Event, however many tables are built while it lasts.
 * - Its name is derived from (Pod uid, annotation, entry, reason), so every replica of the
 *   router computes the same name: the first create wins and the others get 409 and write
 *   nothing. A rejection that goes and comes back bumps the Event's `series.count`, at most
 *   once per `minIntervalMs` per Event (occurrences in between are added up), and a replica
 *   that finds the series updated within `dedupeWindowMs` leaves it alone.
 * - All writes go through one queue drained at `qps` (burst `burst`): a flapping Pod, or
 *   thousands of bad Pods at once, cannot flood the API server.
 * Failed writes are logged and dropped; routing never waits for them.
 */
export interface PodEventRecorderOptions {
  readonly config: KubeConfig;
  /** `reportingController`, e.g. podrouter.dev/podrouter-public. */
  readonly controller: string;
  /** `reportingInstance`: this replica (the Pod name in a cluster). */
  readonly instance: string;
  readonly logger: Logger;
  readonly qps?: number;
  readonly burst?: number;
  readonly minIntervalMs?: number;
  readonly dedupeWindowMs?: number;
  /** Occurrences waiting beyond this are dropped (and logged). */
  readonly maxQueue?: number;
  readonly now?: () => number;
  readonly request?: typeof kubeRequest;
}

interface Tracked {
  readonly name: string;
  readonly namespace: string;
  readonly pod: PodInfo;
  readonly note: string;
  /** This process knows the Event exists (it created it, or a create answered 409). */
  written: boolean;
  lastWriteAt: number;
  /** Occurrences not yet written. */
  pending: number;
  timer: NodeJS.Timeout | undefined;
}

interface EventBody {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly eventTime?: string;
  readonly series?: { readonly count?: number; readonly lastObservedTime?: string };
}

const REASON = 'RouteRejected';
const HOUR = 3_600_000;

/** RFC 3339 with microseconds: MicroTime rejects fewer digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Deterministic, valid Event name for one rejection of one Pod. */
export function eventName(podName: string, key: string): string {
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${podName.slice(0, 200)}.${digest}`;
}

export class PodEventRecorder {
  readonly #options: PodEventRecorderOptions;
  readonly #now: () => number;
  readonly #request: typeof kubeRequest;
  readonly #tracked = new Map<string, Tracked>();
  /** Keys of the rejections present in the last table. */
  #active = new Set<string>();
  /** Keys waiting to be written, in arrival order. */
  readonly #queue = new Set<string>();
  #tokens: number;
  #refilledAt: number;
  #draining: Promise<void> | undefined;
  #closed = false;
  #dropped = 0;

  constructor(options: PodEventRecorderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#request = options.request ?? kubeRequest;
    this.#tokens = options.burst ?? 25;
    this.#refilledAt = this.#now();
  }

  /** Called with every table the router applies (and the state it was built from). */
  observe(table: RouteTable, state: ClusterState): void {
    if (this.#closed) return;
    const pods = new Map(state.pods.map((pod) => [`${pod.namespace}/${pod.name}`, pod]));
    const active = new Set<string>();
    for (const report of table.pods) {
      const pod = pods.get(`${report.namespace}/${report.name}`);
      if (pod === undefined) continue;
      for (const rejection of report.rejections) {
        const key = [pod.uid, rejection.annotation, rejection.entry, rejection.reason].join('\0');
        active.add(key);
        if (this.#active.has(key)) continue;
        const entry = rejection.entry === '' ? '' : ` entry "${rejection.entry}"`;
        this.#occurred(key, pod, `${rejection.annotation}${entry}: ${rejection.reason}`);
      }
    }
    this.#active = active;
    this.#forgetOld();
  }

  #occurred(key: string, pod: PodInfo, note: string): void {
    let tracked = this.#tracked.get(key);
    if (tracked === undefined) {
      tracked = {
        name: eventName(pod.name, key),
        namespace: pod.namespace,
        pod,
        note: note.slice(0, 1024),
        written: false,
        lastWriteAt: 0,
        pending: 0,
        timer: undefined,
      };
      this.#tracked.set(key, tracked);
    }
    tracked.pending++;
    this.#enqueue(key);
  }

  #enqueue(key: string): void {
    if (this.#queue.has(key)) return;
    if (this.#queue.size >= (this.#options.maxQueue ?? 1000)) {
      if (this.#dropped++ % 100 === 0) {
        this.#options.logger.warn(
          { dropped: this.#dropped },
          'too many Pod events waiting; dropping some',
        );
      }
      return;
    }
    this.#queue.add(key);
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (!this.#closed) {
      const key = this.#queue.values().next().value;
      if (key === undefined) return;
      this.#queue.delete(key);
      const tracked = this.#tracked.get(key);
      if (tracked === undefined || tracked.pending === 0) continue;
      const due = tracked.written
        ? tracked.lastWriteAt + (this.#options.minIntervalMs ?? 60_000)
        : 0;
      const now = this.#now();
      if (now < due) {
        // Occurrences add up until the Event may be written again.
        tracked.timer ??= setTimeout(() => {
          tracked.timer = undefined;
          this.#enqueue(key);
        }, due - now);
        tracked.timer.unref();
        continue;
      }
      await this.#takeToken();
      if (this.#closed) return;
      try {
        await this.#write(tracked);
      } catch (error) {
        this.#options.logger.warn(
          { err: error, namespace: tracked.namespace, pod: tracked.pod.name },
          'writing a Pod event failed; dropped',
        );
      }
      tracked.pending = 0;
      tracked.lastWriteAt = this.#now();
    }
  }

  async #takeToken(): Promise<void> {
    const qps = this.#options.qps ?? 5;
    const burst = this.#options.burst ?? 25;
    for (;;) {
      const now = this.#now();
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) * qps) / 1000);
      this.#refilledAt = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, ((1 - this.#tokens) * 1000) / qps));
    }
  }

  async #write(tracked: Tracked): Promise<void> {
    const path = `/apis/events.k8s.io/v1/namespaces/${tracked.namespace}/events`;
    if (tracked.written) {
      const current = await this.#request(this.#options.config, 'GET', `${path}/${tracked.name}`);
      if (current.status === 200) {
        await this.#bumpSeries(tracked, `${path}/${tracked.name}`, current.body as EventBody);
        return;
      }
      // Expired (the API server keeps Events for an hour by default): start a new one.
      if (current.status !== 404) throw failure('reading', tracked, current);
    }
    const now = this.#now();
    const created = await this.#request(this.#options.config, 'POST', path, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: tracked.name, namespace: tracked.namespace },
      eventTime: microTime(now),
      reportingController: this.#options.controller,
      reportingInstance: this.#options.instance.slice(0, 128),
      action: 'Route',
      reason: REASON,
      type: 'Warning',
      note: tracked.note,
      regarding: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: tracked.pod.namespace,
        name: tracked.pod.name,
        uid: tracked.pod.uid,
      },
    });
    // 409: another replica (or this router before a restart) has recorded it already.
    if (created.status !== 201 && created.status !== 409) {
      throw failure('creating', tracked, created);
    }
    tracked.written = true;
  }

  async #bumpSeries(tracked: Tracked, path: string, current: EventBody): Promise<void> {
    const last = Date.parse(current.series?.lastObservedTime ?? current.eventTime ?? '');
    const now = this.#now();
    if (Number.isFinite(last) && now - last < (this.#options.dedupeWindowMs ?? 10_000)) return;
    const patched = await this.#request(
      this.#options.config,
      'PATCH',
      path,
      {
        // The resourceVersion makes this a compare-and-swap: when two replicas race, one
        // gets 409 and its occurrences are the ones just counted.
        metadata: { resourceVersion: current.metadata?.resourceVersion },
        series: {
          count: (current.series?.count ?? 1) + tracked.pending,
          lastObservedTime: microTime(now),
        },
      },
      'application/merge-patch+json',
    );
    if (patched.status !== 200 && patched.status !== 409) {
      throw failure('updating', tracked, patched);
    }
  }

  /** Rejections gone for longer than an Event lives need no series any more. */
  #forgetOld(): void {
    const cutoff = this.#now() - HOUR;
    for (const [key, tracked] of this.#tracked) {
      if (
        !this.#active.has(key) &&
        !this.#queue.has(key) &&
        tracked.timer === undefined &&
        tracked.lastWriteAt < cutoff
      ) {
        this.#tracked.delete(key);
      }
    }
  }

  /** Resolves when nothing is being written (tests). */
  async settled(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stops writing; waits for a write in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const tracked of this.#tracked.values()) clearTimeout(tracked.timer);
    await this.#draining;
  }
}

function failure(doing: string, tracked: Tracked, response: KubeResponse): Error {
  return new Error(
    `${doing} Event ${tracked.namespace}/${tracked.name}: HTTP ${response.status} ${statusMessage(response.body)}`,
  );
}
