import { createHash } from 'node:crypto';
import type { Logger } from '../observability/log.ts';
import { type Clock, realClock } from './clock.ts';
import type { KubeConnection } from './connection.ts';
import { type KubeResponse, kubeRequest, statusMessage } from './request.ts';

/**
 * Kubernetes Events (events.k8s.io/v1), written the same way by the routers (rejected
 * annotation entries) and the controller (refused or clashing alias claims):
 *
 * - An Event's name is derived from its `key` (the object's uid and what happened), so every
 *   replica computes the same name: the first create wins and the others get 409 and write
 *   nothing. An occurrence of a key already written bumps the Event's `series.count`, at most
 *   once per `minIntervalMs` per Event (occurrences in between are added up), and a replica
 *   that finds the series updated within `dedupeWindowMs` leaves it alone.
 * - All writes go through one queue drained at `qps` (burst `burst`): a flapping object, or
 *   thousands of bad ones at once, cannot flood the API server.
 * Failed writes are reported to `onError` (logged by default) and dropped; callers never wait.
 */
export interface EventRecorderOptions {
  readonly connection: KubeConnection;
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
  readonly clock?: Clock;
  readonly request?: typeof kubeRequest;
  readonly onError?: (error: unknown, event: EventSpec) => void;
  /** Called after each Event created (not after series updates). */
  readonly onCreated?: (event: EventSpec) => void;
}

export interface EventRegarding {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface EventSpec {
  /** What makes two occurrences the same Event (includes the object's uid). */
  readonly key: string;
  readonly regarding: EventRegarding;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

interface Tracked {
  readonly name: string;
  readonly spec: EventSpec;
  /** This process knows the Event exists (it created it, or a create answered 409). */
  written: boolean;
  lastWriteAt: number;
  lastSeenAt: number;
  /** Occurrences not yet written. */
  pending: number;
  cancelTimer: (() => void) | undefined;
}

interface EventBody {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly eventTime?: string;
  readonly series?: { readonly count?: number; readonly lastObservedTime?: string };
}

const HOUR = 3_600_000;

/** RFC 3339 with microseconds: MicroTime rejects fewer digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Deterministic, valid Event name for one key of one object. */
export function eventName(objectName: string, key: string): string {
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${objectName.slice(0, 200)}.${digest}`;
}

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #request: typeof kubeRequest;
  readonly #tracked = new Map<string, Tracked>();
  /** Keys waiting to be written, in arrival order. */
  readonly #queue = new Set<string>();
  #tokens: number;
  #refilledAt: number;
  #draining: Promise<void> | undefined;
  #closed = false;
  #dropped = 0;
  #wake: (() => void) | undefined;
  #forgotAt = 0;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#request = options.request ?? kubeRequest;
    this.#tokens = options.burst ?? 25;
    this.#refilledAt = this.#clock.now();
  }

  /** One occurrence of `event`; written in the background. */
  record(event: EventSpec): void {
    if (this.#closed) return;
    let tracked = this.#tracked.get(event.key);
    if (tracked === undefined) {
      tracked = {
        name: eventName(event.regarding.name, event.key),
        spec: { ...event, note: event.note.slice(0, 1024) },
        written: false,
        lastWriteAt: 0,
        lastSeenAt: 0,
        pending: 0,
        cancelTimer: undefined,
      };
      this.#tracked.set(event.key, tracked);
    }
    tracked.pending++;
    tracked.lastSeenAt = this.#clock.now();
    this.#enqueue(event.key);
    this.#forgetOld();
  }

  #enqueue(key: string): void {
    if (this.#queue.has(key)) return;
    if (this.#queue.size >= (this.#options.maxQueue ?? 1000)) {
      if (this.#dropped++ % 100 === 0) {
        this.#options.logger.warn(
          { dropped: this.#dropped },
          'too many events waiting; dropping some',
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
      const now = this.#clock.now();
      if (now < due) {
        // Occurrences add up until the Event may be written again.
        tracked.cancelTimer ??= this.#clock.after(due - now, () => {
          tracked.cancelTimer = undefined;
          this.#enqueue(key);
        });
        continue;
      }
      await this.#takeToken();
      if (this.#closed) return;
      try {
        await this.#write(tracked);
      } catch (error) {
        if (this.#options.onError) this.#options.onError(error, tracked.spec);
        else {
          this.#options.logger.warn(
            {
              err: error,
              namespace: tracked.spec.regarding.namespace,
              name: tracked.spec.regarding.name,
            },
            'writing an event failed; dropped',
          );
        }
      }
      tracked.pending = 0;
      tracked.lastWriteAt = this.#clock.now();
    }
  }

  async #takeToken(): Promise<void> {
    const qps = this.#options.qps ?? 5;
    const burst = this.#options.burst ?? 25;
    while (!this.#closed) {
      const now = this.#clock.now();
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) * qps) / 1000);
      this.#refilledAt = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await new Promise<void>((resolve) => {
        const cancel = this.#clock.after(((1 - this.#tokens) * 1000) / qps, resolve);
        this.#wake = () => {
          cancel();
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async #write(tracked: Tracked): Promise<void> {
    const { spec } = tracked;
    const path = `/apis/events.k8s.io/v1/namespaces/${spec.regarding.namespace}/events`;
    const connection = this.#options.connection;
    if (tracked.written) {
      const current = await this.#request(connection, 'GET', `${path}/${tracked.name}`);
      if (current.status === 200) {
        await this.#bumpSeries(tracked, `${path}/${tracked.name}`, current.body as EventBody);
        return;
      }
      // Expired (the API server keeps Events for an hour by default): start a new one.
      if (current.status !== 404) throw failure('reading', tracked, current);
    }
    const created = await this.#request(connection, 'POST', path, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: tracked.name, namespace: spec.regarding.namespace },
      eventTime: microTime(this.#clock.now()),
      reportingController: this.#options.controller,
      reportingInstance: this.#options.instance.slice(0, 128),
      action: spec.action,
      reason: spec.reason,
      type: spec.type,
      note: spec.note,
      regarding: spec.regarding,
    });
    // 409: another replica (or this process before a restart) has recorded it already.
    if (created.status !== 201 && created.status !== 409) {
      throw failure('creating', tracked, created);
    }
    tracked.written = true;
    if (created.status === 201) this.#options.onCreated?.(spec);
  }

  async #bumpSeries(tracked: Tracked, path: string, current: EventBody): Promise<void> {
    const last = Date.parse(current.series?.lastObservedTime ?? current.eventTime ?? '');
    const now = this.#clock.now();
    if (Number.isFinite(last) && now - last < (this.#options.dedupeWindowMs ?? 10_000)) return;
    const patched = await this.#request(
      this.#options.connection,
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

  /** Keys not seen for longer than an Event lives need no series any more. */
  #forgetOld(): void {
    const now = this.#clock.now();
    if (now - this.#forgotAt < 60_000) return;
    this.#forgotAt = now;
    const cutoff = now - HOUR;
    for (const [key, tracked] of this.#tracked) {
      if (
        tracked.lastSeenAt < cutoff &&
        !this.#queue.has(key) &&
        tracked.cancelTimer === undefined &&
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
    for (const tracked of this.#tracked.values()) tracked.cancelTimer?.();
    this.#wake?.();
    await this.#draining;
  }
}

function failure(doing: string, tracked: Tracked, response: KubeResponse): Error {
  return new Error(
    `${doing} Event ${tracked.spec.regarding.namespace}/${tracked.name}: HTTP ${response.status} ${statusMessage(response.body)}`,
  );
}
