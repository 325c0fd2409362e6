import { hostname } from 'node:os';
import { SYSTEM_ROOTS } from '../backends/backend-tls.ts';
import { endpointSliceFromObject, serviceFromObject } from '../backends/from-object.ts';
import type { EndpointSliceInfo, ServiceInfo } from '../backends/types.ts';
import { ErrorCodes, type KubeApiError, PodrouterError } from '../errors.ts';
import { type Clock, realClock } from '../kube/clock.ts';
import type { KubeConnection } from '../kube/connection.ts';
import type { EventRecorderOptions } from '../kube/event-recorder.ts';
import { Informer, type RawObject } from '../kube/informer.ts';
import { ObjectStore } from '../kube/store.ts';
import type { Logger } from '../observability/log.ts';
import { podFromObject, secretFromObject } from '../pods/from-object.ts';
import type { PodInfo, SecretInfo } from '../pods/types.ts';
import { parseSecretName } from '../tls/secret-name.ts';
import { type AccessNeed, type AccessResult, accessNeeds, checkAccess } from './kube-access.ts';
import { PodEventRecorder } from './kube-events.ts';
import type { Source, SourceListener } from './types.ts';

export interface KubeSourceOptions {
  /** Empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly labelSelector: string;
  /** Only Secrets of this name are watched (field selector), never all Secrets. */
  readonly secretName: string;
  /** With TLS on: the Pod annotation naming a TLS Secret. Each Secret named (in the Pod's
   * namespace) is watched by name, so RBAC can restrict the grant with resourceNames. */
  readonly tlsSecretAnnotation?: string;
  /** The Service annotation naming a CA Secret for TLS to its backends (BACKEND_TLS_ANNOTATION):
   * each Secret named (in the Service's namespace) is watched by name, like TLS Secrets. */
  readonly backendTlsAnnotation?: string;
  /** DEFAULT_TLS_SECRET, watched by name as well. */
  readonly defaultTlsSecret?: { readonly namespace: string; readonly name: string };
  /** Coalesces bursts of watch events into one state. */
  readonly debounceMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** See InformerOptions.silenceMs (default 90 s). */
  readonly silenceTimeoutMs?: number;
  readonly clock?: Clock;
}

/** A TLS Secret's first list (or failure) is awaited at most this long before a state. */
const TLS_HOLD_MS = 5000;
/** A forbidden or missing TLS Secret may stay so for long: it is retried less often. */
const TLS_BACKOFF_CAP_MS = 60_000;

interface TlsWatch {
  readonly informer: Informer<SecretInfo>;
  /** Lets the state go out without this Secret (first list, first failure, or timeout). */
  readonly release: () => void;
  stopped: boolean;
}

/**
 * Pods (by label selector) and API-key Secrets (by name) from the API server: one informer
 * per resource and namespace (kube/informer.ts), whose caches hold the router's own records
 * (PodInfo, SecretInfo) and nothing else of the objects. Each state says which Pods and
 * which namespaces' Secrets changed since the one before, so the route table can be patched
 * instead of rebuilt. The last state keeps being served while the API server is away.
 *
 * With TLS on, each TLS Secret a Pod names (in its own namespace) and DEFAULT_TLS_SECRET get
 * an informer of their own, by name, so RBAC can grant them with resourceNames; a Secret that
 * cannot be read is that Secret's error (`ClusterState.secretErrors`), not the source's.
 */
export class KubeSource implements Source {
  readonly kind = 'kube';
  readonly #options: KubeSourceOptions;
  readonly #connection: KubeConnection;
  readonly #clock: Clock;
  readonly #pods: Informer<PodInfo>[] = [];
  readonly #secrets: Informer<SecretInfo>[] = [];
  readonly #services: Informer<ServiceInfo>[] = [];
  readonly #slices: Informer<EndpointSliceInfo>[] = [];
  /** The Service each EndpointSlice belonged to when last seen, by slice key. */
  readonly #sliceService = new Map<string, string>();
  #changedServices = new Set<string>();
  #externalBackends = true;
  /** Named TLS Secret informers, by `namespace/name`. */
  readonly #tls = new Map<string, TlsWatch>();
  /** The TLS Secret each Pod (or CA Secret each Service, `service:` key) names, and how
   * many name each Secret. */
  readonly #secretOf = new Map<string, string>();
  readonly #secretUsers = new Map<string, number>();
  #tlsDirty = true;
  /** TLS informers whose first list (or failure) the next state waits for. */
  #tlsPending = 0;
  readonly #secretErrors = new Map<string, string>();
  #changedPods = new Map<string, PodInfo | undefined>();
  #changedSecrets = new Set<string>();
  #sequence = 0;
  #synced = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: KubeSourceOptions, connection: KubeConnection) {
    this.#options = options;
    this.#connection = connection;
    this.#clock = options.clock ?? realClock;
  }

  /** What this source needs of RBAC (and, with `events`, what Pod Events need). */
  accessNeeds(events: boolean): AccessNeed[] {
    const { namespaces, secretName, defaultTlsSecret } = this.#options;
    return accessNeeds({
      namespaces,
      secretName,
      events,
      ...(defaultTlsSecret ? { defaultTlsSecret } : {}),
    });
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

  #common() {
    return {
      connection: this.#connection,
      ...(this.#options.backoffBaseMs !== undefined
        ? { backoffBaseMs: this.#options.backoffBaseMs }
        : {}),
      backoffCapMs: this.#options.backoffCapMs ?? 10_000,
      silenceMs: this.#options.silenceTimeoutMs ?? 90_000,
      clock: this.#clock,
    };
  }

  /** Services and EndpointSlices are not watched (the identity may not read them). */
  disableExternalBackends(): void {
    this.#externalBackends = false;
  }

  start(listener: SourceListener): void {
    const { labelSelector, secretName } = this.#options;
    const scopes = this.#options.namespaces.length === 0 ? [undefined] : this.#options.namespaces;
    const common = this.#common();
    const handlers = <T>(path: string, changed: (key: string, current: T | undefined) => void) => ({
      onChange: (key: string, current: T | undefined) => {
        changed(key, current);
        this.#schedule(listener);
      },
      onList: (first: boolean) => {
        if (first && !this.#synced && this.#all().every((informer) => informer.synced)) {
          this.#synced = true;
          this.#emit(listener);
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
          handlers<PodInfo>(`${prefix}/pods`, (key, pod) => {
            this.#changedPods.set(key, pod);
            this.#trackTls(key, pod);
          }),
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
      if (this.#externalBackends) this.#watchBackends(namespace, handlers);
    }
    for (const informer of this.#all()) informer.start();
  }

  /**
   * Services by the routing label selector, and every EndpointSlice in scope (a slice's
   * Service is known only from its label, so they cannot be narrowed by the selector); a
   * change of either marks its Service changed (`StateChanges.services`).
   */
  #watchBackends(
    namespace: string | undefined,
    handlers: <T>(
      path: string,
      changed: (key: string, current: T | undefined) => void,
    ) => ConstructorParameters<typeof Informer<T>>[1],
  ): void {
    const common = this.#common();
    const core = namespace ? `/api/v1/namespaces/${namespace}` : '/api/v1';
    const discovery = namespace
      ? `/apis/discovery.k8s.io/v1/namespaces/${namespace}`
      : '/apis/discovery.k8s.io/v1';
    this.#services.push(
      new Informer<ServiceInfo>(
        {
          ...common,
          path: `${core}/services`,
          labelSelector: this.#options.labelSelector,
          decode: serviceFromObject,
        },
        handlers<ServiceInfo>(`${core}/services`, (key, service) => {
          this.#changedServices.add(key);
          this.#trackCa(key, service);
        }),
      ),
    );
    this.#slices.push(
      new Informer<EndpointSliceInfo>(
        { ...common, path: `${discovery}/endpointslices`, decode: endpointSliceFromObject },
        handlers<EndpointSliceInfo>(`${discovery}/endpointslices`, (key, slice) => {
          const before = this.#sliceService.get(key);
          if (before !== undefined) this.#changedServices.add(before);
          if (slice === undefined || slice.serviceName === '') this.#sliceService.delete(key);
          else {
            const service = `${slice.namespace}/${slice.serviceName}`;
            this.#sliceService.set(key, service);
            this.#changedServices.add(service);
          }
        }),
      ),
    );
  }

  #all(): Informer<unknown>[] {
    return [
      ...this.#pods,
      ...this.#secrets,
      ...this.#services,
      ...this.#slices,
    ] as Informer<unknown>[];
  }

  /** Keeps count of the TLS Secrets the Pods name (a Pod's own namespace only). */
  #trackTls(podKey: string, pod: PodInfo | undefined): void {
    this.#trackNamed(podKey, pod, this.#options.tlsSecretAnnotation);
  }

  /** The same for the CA Secrets Services name for TLS to their backends. */
  #trackCa(serviceKey: string, service: ServiceInfo | undefined): void {
    const annotation = this.#options.backendTlsAnnotation;
    const value = annotation === undefined ? undefined : service?.annotations[annotation];
    // `system` names the system roots, not a Secret.
    const named = value === undefined || value.trim() === SYSTEM_ROOTS ? undefined : service;
    this.#trackNamed(`service:${serviceKey}`, named, annotation);
  }

  #trackNamed(
    ownerKey: string,
    owner:
      | { readonly namespace: string; readonly annotations: Readonly<Record<string, string>> }
      | undefined,
    annotation: string | undefined,
  ): void {
    if (annotation === undefined) return;
    const value = owner?.annotations[annotation];
    const parsed = value === undefined ? undefined : parseSecretName(value);
    const next =
      owner !== undefined && parsed !== undefined && 'name' in parsed
        ? `${owner.namespace}/${parsed.name}`
        : undefined;
    const before = this.#secretOf.get(ownerKey);
    if (before === next) return;
    if (before !== undefined) {
      const count = (this.#secretUsers.get(before) ?? 1) - 1;
      if (count > 0) this.#secretUsers.set(before, count);
      else this.#secretUsers.delete(before);
    }
    if (next !== undefined) {
      this.#secretOf.set(ownerKey, next);
      this.#secretUsers.set(next, (this.#secretUsers.get(next) ?? 0) + 1);
    } else this.#secretOf.delete(ownerKey);
    this.#tlsDirty = true;
  }

  /**
   * Watches the TLS Secrets the Pods name, the CA Secrets the Services name and the default
   * TLS Secret, by name, and stops watching those nobody names any more. A newly watched
   * Secret holds the next state until its first list (or failure, or TLS_HOLD_MS), so a new
   * Secret is not reported missing while it is being fetched.
   */
  #syncTlsWatches(listener: SourceListener): void {
    if (!this.#tlsDirty) return;
    this.#tlsDirty = false;
    const { defaultTlsSecret, secretName, namespaces } = this.#options;
    const wanted = new Set(this.#secretUsers.keys());
    if (defaultTlsSecret) wanted.add(`${defaultTlsSecret.namespace}/${defaultTlsSecret.name}`);
    for (const key of wanted) {
      // The API-key Secret of a watched namespace is watched already, under the same key.
      const [namespace = '', name = ''] = key.split('/');
      if (name === secretName && (namespaces.length === 0 || namespaces.includes(namespace))) {
        wanted.delete(key);
      }
    }
    for (const [key, watch] of this.#tls) {
      if (wanted.has(key)) continue;
      watch.stopped = true;
      watch.release();
      this.#tls.delete(key);
      this.#secretErrors.delete(key);
      this.#changedSecrets.add(key.slice(0, key.indexOf('/')));
      void watch.informer.stop();
    }
    for (const key of wanted) {
      if (!this.#tls.has(key)) this.#watchTls(listener, key);
    }
  }

  #watchTls(listener: SourceListener, key: string): void {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const path = `/api/v1/namespaces/${namespace}/secrets`;
    let cancelHold: () => void = () => undefined;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      cancelHold();
      if (--this.#tlsPending === 0) this.#schedule(listener);
    };
    this.#tlsPending++;
    cancelHold = this.#clock.after(TLS_HOLD_MS, release);
    const watch: TlsWatch = {
      stopped: false,
      release,
      informer: new Informer<SecretInfo>(
        {
          ...this.#common(),
          backoffCapMs: TLS_BACKOFF_CAP_MS,
          path,
          fieldSelector: `metadata.name=${name}`,
          decode: (object: RawObject) =>
            ObjectStore.key(object) === key ? secretFromObject(object) : undefined,
        },
        {
          onChange: () => {
            if (watch.stopped) return;
            this.#changedSecrets.add(namespace);
            this.#schedule(listener);
          },
          onList: () => {
            if (watch.stopped) return;
            if (this.#secretErrors.delete(key)) {
              this.#changedSecrets.add(namespace);
              this.#schedule(listener);
            }
            release();
          },
          onError: (error: KubeApiError) => {
            if (this.#stopped || watch.stopped) return;
            if (error.reason === 'Silent' || watch.informer.synced) {
              // Read once: the cache (the Secret, or its absence) stands while the informer
              // retries, as it does for Pods. A silent watch is the source's to report.
              if (error.reason === 'Silent') {
                listener.onError(new PodrouterError(ErrorCodes.SOURCE_KUBE_FAILED, error.message));
              }
              return;
            }
            const reason = `${briefly(error)}${forbiddenHint(error, path, name)}`;
            if (this.#secretErrors.get(key) !== reason) {
              this.#secretErrors.set(key, reason);
              this.#changedSecrets.add(namespace);
              this.#schedule(listener);
            }
            release();
          },
        },
      ),
    };
    this.#tls.set(key, watch);
    watch.informer.start();
  }

  #schedule(listener: SourceListener): void {
    if (!this.#synced || this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#emit(listener);
    }, this.#options.debounceMs ?? 10);
  }

  /** Sends the state, whole the first time, then with what changed since the last one sent. */
  #emit(listener: SourceListener): void {
    if (this.#stopped) return;
    this.#syncTlsWatches(listener);
    if (this.#tlsPending > 0) return;
    const pods: PodInfo[] = [];
    for (const informer of this.#pods) for (const pod of informer.store.values()) pods.push(pod);
    const secrets: SecretInfo[] = [];
    for (const informer of this.#secrets) {
      for (const secret of informer.store.values()) secrets.push(secret);
    }
    for (const { informer } of this.#tls.values()) {
      for (const secret of informer.store.values()) secrets.push(secret);
    }
    const backends: { services?: ServiceInfo[]; endpointSlices?: EndpointSliceInfo[] } = {};
    if (this.#services.length > 0) {
      backends.services = this.#services.flatMap((informer) => [...informer.store.values()]);
      backends.endpointSlices = this.#slices.flatMap((informer) => [...informer.store.values()]);
    }
    const incremental = this.#sequence > 0;
    const since = this.#sequence++;
    const changes = {
      since,
      pods: this.#changedPods,
      secretNamespaces: this.#changedSecrets,
      services: this.#changedServices,
    };
    this.#changedPods = new Map();
    this.#changedSecrets = new Set();
    this.#changedServices = new Set();
    const sequence = this.#sequence;
    const secretErrors =
      this.#secretErrors.size > 0 ? { secretErrors: new Map(this.#secretErrors) } : {};
    listener.onState(
      incremental
        ? { pods, secrets, ...backends, ...secretErrors, sequence, changes }
        : { pods, secrets, ...backends, ...secretErrors, sequence },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const tls = [...this.#tls.values()].map((watch) => watch.informer);
    await Promise.all([...this.#all(), ...tls].map((informer) => informer.stop()));
  }
}

/** A 403 names what to grant; the start-up access check normally catches it first. */
function forbiddenHint(error: KubeApiError, path: string, secretName?: string): string {
  if (!error.forbidden) return '';
  const named = secretName !== undefined ? ` named ${secretName}` : '';
  const resource = path.endsWith('/secrets') ? `secrets${named}` : path.split('/').at(-1);
  const namespace = /\/namespaces\/([^/]+)\//.exec(path)?.[1];
  const scope = namespace !== undefined ? `in namespace ${namespace}` : 'at cluster scope';
  return `: forbidden — grant list and watch on ${resource} ${scope} (docs/rbac.md)`;
}

/** One line for a failed request: `HTTP 403: <the API server's message>`, or the failure. */
function briefly(error: KubeApiError): string {
  const answered = / HTTP ([0-9]{3}) (.*)$/s.exec(error.message);
  return answered ? `HTTP ${answered[1]}: ${answered[2]}` : error.message;
}
