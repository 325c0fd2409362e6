import { hostname } from 'node:os';
import { ErrorCodes, type KubeApiError, PodrouterError } from '../errors.ts';
import type { Clock } from '../kube/clock.ts';
import type { KubeConnection } from '../kube/connection.ts';
import type { EventRecorderOptions } from '../kube/event-recorder.ts';
import { Informer, type RawObject } from '../kube/informer.ts';
import type { Logger } from '../observability/log.ts';
import { podFromObject, secretFromObject } from '../pods/from-object.ts';
import type { PodInfo, SecretInfo } from '../pods/types.ts';
import { type AccessNeed, type AccessResult, accessNeeds, checkAccess } from './kube-access.ts';
import { PodEventRecorder } from './kube-events.ts';
import type { Source, SourceListener } from './types.ts';

export interface KubeSourceOptions {
  /** Empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly labelSelector: string;
  /** Only Secrets of this name are watched (field selector), never all Secrets. */
  readonly secretName: string;
  /** Coalesces bursts of watch events into one state. */
  readonly debounceMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** See InformerOptions.silenceMs (default 90 s). */
  readonly silenceTimeoutMs?: number;
  readonly clock?: Clock;
}

/**
 * Pods (by label selector) and API-key Secrets (by name) from the API server: one informer
 * per resource and namespace (kube/informer.ts), whose caches hold the router's own records
 * (PodInfo, SecretInfo) and nothing else of the objects. Each state says which Pods and
 * which namespaces' Secrets changed since the one before, so the route table can be patched
 * instead of rebuilt. The last state keeps being served while the API server is away.
 */
export class KubeSource implements Source {
  readonly kind = 'kube';
  readonly #options: KubeSourceOptions;
  readonly #connection: KubeConnection;
  readonly #pods: Informer<PodInfo>[] = [];
  readonly #secrets: Informer<SecretInfo>[] = [];
  #changedPods = new Map<string, PodInfo | undefined>();
  #changedSecrets = new Set<string>();
  #sequence = 0;
  #synced = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: KubeSourceOptions, connection: KubeConnection) {
    this.#options = options;
    this.#connection = connection;
  }

  /** What this source needs of RBAC (and, with `events`, what Pod Events need). */
  accessNeeds(events: boolean): AccessNeed[] {
    const { namespaces, secretName } = this.#options;
    return accessNeeds({ namespaces, secretName, events });
  }

  /**
   * Fails with the missing verbs and resources named when this identity lacks what the
   * router needs, and names the optional features it lacks permissions for; see
   * kube-access.ts. Passes when the API server cannot answer: the informers retry and report.
   */
  checkAccess(events: boolean): Promise<AccessResult> {
    return checkAccess(this.#connection, this.accessNeeds(events));
  }

  /** The recorder of Events on Pods with rejected entries, with this source's credentials. */
  eventRecorder(
    build: string,
    logger: Logger,
    extra: Partial<EventRecorderOptions> = {},
  ): PodEventRecorder {
    return new PodEventRecorder({
      connection: this.#connection,
      controller: `podrouter.dev/${build}`,
      instance: process.env.POD_NAME ?? hostname(),
      logger,
      ...extra,
    });
  }

  start(listener: SourceListener): void {
    const { labelSelector, secretName } = this.#options;
    const scopes = this.#options.namespaces.length === 0 ? [undefined] : this.#options.namespaces;
    const common = {
      connection: this.#connection,
      ...(this.#options.backoffBaseMs !== undefined
        ? { backoffBaseMs: this.#options.backoffBaseMs }
        : {}),
      backoffCapMs: this.#options.backoffCapMs ?? 10_000,
      silenceMs: this.#options.silenceTimeoutMs ?? 90_000,
      ...(this.#options.clock ? { clock: this.#options.clock } : {}),
    };
    const handlers = <T>(path: string, changed: (key: string, current: T | undefined) => void) => ({
      onChange: (key: string, current: T | undefined) => {
        changed(key, current);
        this.#schedule(listener);
      },
      onList: (first: boolean) => {
        if (first && !this.#synced && this.#all().every((informer) => informer.synced)) {
          this.#synced = true;
          this.#emit(listener, false);
        }
      },
      onError: (error: KubeApiError, retryInMs: number) => {
        if (this.#stopped) return;
        listener.onError(
          new PodrouterError(
            ErrorCodes.SOURCE_KUBE_FAILED,
            error.reason === 'Silent'
              ? error.message
              : `${error.message}${forbiddenHint(error, path)}; retrying in ${retryInMs} ms, serving the last good routes`,
            { cause: error },
          ),
        );
      },
    });
    for (const namespace of scopes) {
      const prefix = namespace ? `/api/v1/namespaces/${namespace}` : '/api/v1';
      this.#pods.push(
        new Informer<PodInfo>(
          { ...common, path: `${prefix}/pods`, labelSelector, decode: podFromObject },
          handlers<PodInfo>(`${prefix}/pods`, (key, pod) => this.#changedPods.set(key, pod)),
        ),
      );
      this.#secrets.push(
        new Informer<SecretInfo>(
          {
            ...common,
            path: `${prefix}/secrets`,
            fieldSelector: `metadata.name=${secretName}`,
            decode: (object: RawObject) => secretFromObject(object),
          },
          handlers<SecretInfo>(`${prefix}/secrets`, (key) =>
            this.#changedSecrets.add(key.slice(0, key.indexOf('/'))),
          ),
        ),
      );
    }
    for (const informer of this.#all()) informer.start();
  }

  #all(): Informer<unknown>[] {
    return [...this.#pods, ...this.#secrets] as Informer<unknown>[];
  }

  #schedule(listener: SourceListener): void {
    if (!this.#synced || this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#emit(listener, true);
    }, this.#options.debounceMs ?? 10);
  }

  #emit(listener: SourceListener, incremental: boolean): void {
    const pods: PodInfo[] = [];
    for (const informer of this.#pods) for (const pod of informer.store.values()) pods.push(pod);
    const secrets: SecretInfo[] = [];
    for (const informer of this.#secrets) {
      for (const secret of informer.store.values()) secrets.push(secret);
    }
    const since = this.#sequence++;
    const changes = { since, pods: this.#changedPods, secretNamespaces: this.#changedSecrets };
    this.#changedPods = new Map();
    this.#changedSecrets = new Set();
    const sequence = this.#sequence;
    listener.onState(
      incremental ? { pods, secrets, sequence, changes } : { pods, secrets, sequence },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all(this.#all().map((informer) => informer.stop()));
  }
}

/** A 403 names what to grant; the start-up access check normally catches it first. */
function forbiddenHint(error: KubeApiError, path: string): string {
  if (!error.forbidden) return '';
  const resource = path.endsWith('/secrets') ? 'secrets' : 'pods';
  const scope = path.includes('/namespaces/')
    ? `in namespace ${path.split('/')[4]}`
    : 'at cluster scope';
  return `: forbidden — grant list and watch on ${resource} ${scope} (docs/rbac.md)`;
}
