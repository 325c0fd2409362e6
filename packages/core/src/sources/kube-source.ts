import { hostname } from 'node:os';
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import { ErrorCodes, PodrouterError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { podFromObject, secretFromObject } from '../pods/from-object.ts';
import type { PodInfo, SecretInfo } from '../pods/types.ts';
import { parseSecretName } from '../tls/secret-name.ts';
import { backoffDelay } from './backoff.ts';
import { accessNeeds, checkAccess } from './kube-access.ts';
import { PodEventRecorder } from './kube-events.ts';
import { shareDispatcher } from './shared-dispatcher.ts';
import { slimPod } from './slim-pod.ts';
import type { Source, SourceListener } from './types.ts';

export interface KubeSourceOptions {
  readonly kubeconfig: string;
  /** Empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly labelSelector: string;
  /** Only Secrets of this name are watched (field selector), never all Secrets. */
  readonly secretName: string;
  /** With TLS on: the Pod annotation naming a TLS Secret. Each Secret named (in the Pod's
   * namespace) is watched by name, so RBAC can restrict the grant with resourceNames. */
  readonly tlsSecretAnnotation?: string;
  /** DEFAULT_TLS_SECRET, watched by name as well. */
  readonly defaultTlsSecret?: { readonly namespace: string; readonly name: string };
  /** Coalesces bursts of watch events into one state. */
  readonly debounceMs?: number;
  readonly backoffBaseMs?: number;
  /** Default 10 s: after an API server outage the routes catch up within seconds, and full
   * jitter spreads the reconnections of many routers. */
  readonly backoffCapMs?: number;
  /** A watch that brings no event and no bookmark for this long is restarted (from its last
   * resourceVersion). The API server sends a bookmark about once a minute. Default 90 s. */
  readonly silenceTimeoutMs?: number;
  readonly delay?: (ms: number) => Promise<void>;
}

/**
 * client-node's Watch, asking for bookmarks so that a quiet but healthy watch still speaks,
 * with its inactivity timeout set to the silence timeout. ListWatch answers that timeout by
 * watching again from the last resourceVersion, at once.
 */
class BookmarkingWatch extends Watch {
  readonly #onActivity: () => void;
  readonly #onSilence: () => void;

  readonly #slim: (object: unknown) => unknown;

  constructor(
    config: KubeConfig,
    silenceMs: number,
    onActivity: () => void,
    onSilence: () => void,
    slim: (object: unknown) => unknown = (object) => object,
  ) {
    super(config);
    this.#slim = slim;
    // Private in the typings, but the only knob for client-node's inactivity timeout
    // (30 s by default, which would restart every quiet watch twice a minute).
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = silenceMs;
    this.#onActivity = onActivity;
    this.#onSilence = onSilence;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, object, raw) => {
        this.#onActivity();
        callback(
          phase,
          phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED'
            ? this.#slim(object)
            : object,
          raw,
        );
      },
      (err: unknown) => {
        if ((err as { name?: unknown } | null)?.name === 'TimeoutError') this.#onSilence();
        done(err);
      },
    );
  }
}

export function loadKubeConfig(path: string): KubeConfig {
  const config = new KubeConfig();
  if (path !== '') config.loadFromFile(path);
  else config.loadFromCluster();
  return shareDispatcher(config);
}

type Lister = () => Promise<KubernetesListObject<KubernetesObject>>;

/**
 * Pods (by label selector) and API-key Secrets (by name) from the API server: one
 * list-then-watch per resource and namespace, re-listing on 410 Gone (done by
 * client-node's ListWatch) and restarting a failed watch after a capped, jittered backoff.
 * The last state keeps being served while the API server is away.
 */
export class KubeSource implements Source {
  readonly kind = 'kube';
  readonly #options: KubeSourceOptions;
  readonly #config: KubeConfig;
  readonly #pods = new Map<string, PodInfo>();
  readonly #secrets = new Map<string, SecretInfo>();
  readonly #watches: ListWatch<KubernetesObject>[] = [];
  /** Named TLS Secret watches, by `namespace/name`. */
  readonly #tlsWatches = new Map<
    string,
    { informer: ListWatch<KubernetesObject>; stop: () => void }
  >();
  readonly #secretErrors = new Map<string, string>();
  #pendingSyncs = 0;
  #synced = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: KubeSourceOptions, config?: KubeConfig) {
    this.#options = options;
    this.#config = config ?? loadKubeConfig(options.kubeconfig);
  }

  /**
   * Fails with the missing verbs and resources named when this identity lacks what the
   * router needs; see kube-access.ts. Logs nothing and passes when the API server cannot
   * answer: the watches retry and report.
   */
  async checkAccess(events: boolean): Promise<{ checked: boolean; user?: string }> {
    const { namespaces, secretName, defaultTlsSecret } = this.#options;
    return checkAccess(
      this.#config,
      accessNeeds({
        namespaces,
        secretName,
        events,
        ...(defaultTlsSecret ? { defaultTlsSecret } : {}),
      }),
    );
  }

  /** The recorder of Events on Pods with rejected entries, with this source's credentials. */
  eventRecorder(build: string, logger: Logger): PodEventRecorder {
    return new PodEventRecorder({
      config: this.#config,
      controller: `podrouter.dev/${build}`,
      instance: process.env.POD_NAME ?? hostname(),
      logger,
    });
  }

  start(listener: SourceListener): void {
    const api = this.#config.makeApiClient(CoreV1Api);
    const { labelSelector, secretName } = this.#options;
    const fieldSelector = `metadata.name=${secretName}`;
    const scopes = this.#options.namespaces.length === 0 ? [undefined] : this.#options.namespaces;
    for (const namespace of scopes) {
      const podPath = namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods';
      const secretPath = namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets';
      const listPods: Lister = () =>
        (namespace
          ? api.listNamespacedPod({ namespace, labelSelector })
          : api.listPodForAllNamespaces({ labelSelector })) as Promise<
          KubernetesListObject<KubernetesObject>
        >;
      const listSecrets: Lister = () =>
        (namespace
          ? api.listNamespacedSecret({ namespace, fieldSelector })
          : api.listSecretForAllNamespaces({ fieldSelector })) as Promise<
          KubernetesListObject<KubernetesObject>
        >;
      this.#watch(
        listener,
        podPath,
        listPods,
        labelSelector,
        undefined,
        (object, deleted) => {
          const pod = podFromObject(object);
          if (!pod) return;
          if (deleted) this.#pods.delete(pod.uid);
          else this.#pods.set(pod.uid, pod);
        },
        { slim: slimPod },
      );
      this.#watch(
        listener,
        secretPath,
        listSecrets,
        undefined,
        fieldSelector,
        (object, deleted) => {
          const secret = secretFromObject(object);
          if (!secret) return;
          const key = `${secret.namespace}/${secret.name}`;
          if (deleted) this.#secrets.delete(key);
          else this.#secrets.set(key, secret);
        },
      );
    }
  }

  /**
   * Watches the TLS Secrets the Pods name (each in its Pod's namespace) and the default one,
   * by name, and stops watching those no Pod names any more. True when it started a watch:
   * the state waits for that watch's first list (or failure), so a new Secret is not
   * reported missing while it is being fetched.
   */
  #syncTlsWatches(listener: SourceListener): boolean {
    const annotation = this.#options.tlsSecretAnnotation;
    if (annotation === undefined) return false;
    const wanted = new Map<string, { namespace: string; name: string }>();
    const { defaultTlsSecret, secretName } = this.#options;
    if (defaultTlsSecret)
      wanted.set(`${defaultTlsSecret.namespace}/${defaultTlsSecret.name}`, defaultTlsSecret);
    for (const pod of this.#pods.values()) {
      const value = pod.annotations[annotation];
      if (value === undefined) continue;
      const parsed = parseSecretName(value);
      if ('name' in parsed) {
        wanted.set(`${pod.namespace}/${parsed.name}`, {
          namespace: pod.namespace,
          name: parsed.name,
        });
      }
    }
    const watchedNamespaces = this.#options.namespaces;
    for (const [key, ref] of wanted) {
      // The API-key Secret of a watched namespace is watched already, under the same key.
      const keyWatch =
        ref.name === secretName &&
        (watchedNamespaces.length === 0 || watchedNamespaces.includes(ref.namespace));
      if (keyWatch) wanted.delete(key);
    }
    for (const [key, watch] of this.#tlsWatches) {
      if (wanted.has(key)) continue;
      watch.stop();
      this.#tlsWatches.delete(key);
      this.#secrets.delete(key);
      this.#secretErrors.delete(key);
    }
    let started = false;
    const api = this.#config.makeApiClient(CoreV1Api);
    for (const [key, { namespace, name }] of wanted) {
      if (this.#tlsWatches.has(key)) continue;
      started = true;
      const fieldSelector = `metadata.name=${name}`;
      this.#watch(
        listener,
        `/api/v1/namespaces/${namespace}/secrets`,
        () =>
          api.listNamespacedSecret({ namespace, fieldSelector }) as Promise<
            KubernetesListObject<KubernetesObject>
          >,
        undefined,
        fieldSelector,
        (object, deleted) => {
          const secret = secretFromObject(object);
          if (!secret || `${secret.namespace}/${secret.name}` !== key) return;
          if (deleted) this.#secrets.delete(key);
          else this.#secrets.set(key, secret);
        },
        { tlsKey: key },
      );
    }
    return started;
  }

  #watch(
    listener: SourceListener,
    path: string,
    list: Lister,
    labelSelector: string | undefined,
    fieldSelector: string | undefined,
    apply: (object: KubernetesObject, deleted: boolean) => void,
    extra: {
      readonly slim?: (object: KubernetesObject) => KubernetesObject;
      /** A TLS Secret's watch: its failures are that Secret's (shown on the hosts that
       * need it), not the source's, and they never hold up the state. */
      readonly tlsKey?: string;
    } = {},
  ): void {
    const { slim, tlsKey } = extra;
    let firstList = true;
    let released = false;
    // The first full state waits for the first list of every watch (a TLS Secret's watch
    // also for its first failure, or 5 s, so one unreadable Secret cannot stall routing).
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(holdTimer);
      // The ListWatch applies the listed items synchronously after the list resolves.
      setImmediate(() => {
        if (--this.#pendingSyncs === 0 && !this.#stopped) {
          this.#synced = true;
          this.#emit(listener);
        }
      });
    };
    const holdTimer = tlsKey !== undefined ? setTimeout(release, 5000) : undefined;
    holdTimer?.unref();
    // Consecutive failures; only data from the API server (a list, an event, a bookmark)
    // resets it, so the backoff grows while the API server stays away.
    let failures = 0;
    this.#pendingSyncs++;
    const silenceMs = this.#options.silenceTimeoutMs ?? 90_000;
    const watch = new BookmarkingWatch(
      this.#config,
      silenceMs,
      () => {
        failures = 0;
      },
      () => {
        if (this.#stopped) return;
        listener.onError(
          new PodrouterError(
            ErrorCodes.SOURCE_KUBE_FAILED,
            `watch ${path} brought no event or bookmark for ${silenceMs} ms; restarted it from its last resourceVersion`,
          ),
        );
      },
      slim as ((object: unknown) => unknown) | undefined,
    );
    const listAndMarkSynced: Lister = async () => {
      const listed = await list();
      const result = slim ? { ...listed, items: listed.items.map(slim) } : listed;
      failures = 0;
      if (tlsKey !== undefined && this.#secretErrors.delete(tlsKey)) this.#schedule(listener);
      if (firstList) {
        firstList = false;
        release();
      }
      return result;
    };
    const informer = new ListWatch(
      path,
      watch,
      listAndMarkSynced,
      false,
      labelSelector,
      fieldSelector,
    );
    this.#watches.push(informer);
    const changed = (deleted: boolean) => (object: KubernetesObject) => {
      apply(object, deleted);
      this.#schedule(listener);
    };
    informer.on('add', changed(false));
    informer.on('update', changed(false));
    informer.on('delete', changed(true));
    let stopped = false;
    informer.on('error', (error: unknown) => {
      if (this.#stopped || stopped) return;
      const wait = backoffDelay(
        failures++,
        this.#options.backoffBaseMs ?? 500,
        // A forbidden or missing TLS Secret may stay so for long: retry it less often.
        tlsKey !== undefined ? 60_000 : (this.#options.backoffCapMs ?? 10_000),
      );
      if (tlsKey !== undefined) {
        this.#secretErrors.set(
          tlsKey,
          `${briefly(error)}${forbiddenHint(error, path, fieldSelector)}`,
        );
        release();
        this.#schedule(listener);
      } else {
        listener.onError(
          new PodrouterError(
            ErrorCodes.SOURCE_KUBE_FAILED,
            `watch ${path} failed (${describe(error)}${forbiddenHint(error, path)}); retrying in ${wait} ms, serving the last good routes`,
          ),
        );
      }
      const delay =
        this.#options.delay ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)));
      delay(wait).then(() => {
        if (!this.#stopped && !stopped) informer.start().catch(() => undefined);
      });
    });
    informer.start().catch(() => undefined);
    if (tlsKey !== undefined) {
      this.#tlsWatches.set(tlsKey, {
        informer,
        stop: () => {
          stopped = true;
          release();
          const index = this.#watches.indexOf(informer);
          if (index !== -1) this.#watches.splice(index, 1);
          informer.stop().catch(() => undefined);
        },
      });
    }
  }

  #schedule(listener: SourceListener): void {
    if (!this.#synced || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#emit(listener);
    }, this.#options.debounceMs ?? 10);
  }

  #emit(listener: SourceListener): void {
    if (this.#pendingSyncs > 0 || this.#syncTlsWatches(listener)) return;
    listener.onState({
      pods: [...this.#pods.values()],
      secrets: [...this.#secrets.values()],
      ...(this.#secretErrors.size > 0 ? { secretErrors: new Map(this.#secretErrors) } : {}),
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all(this.#watches.map((informer) => informer.stop()));
  }
}

/** A 403 names what to grant; the start-up access check normally catches it first. */
function forbiddenHint(error: unknown, path: string, fieldSelector?: string): string {
  const status =
    (error as { statusCode?: unknown; code?: unknown } | null)?.statusCode ??
    (error as { code?: unknown } | null)?.code;
  if (status !== 403) return '';
  const named = fieldSelector?.startsWith('metadata.name=')
    ? ` named ${fieldSelector.slice('metadata.name='.length)}`
    : '';
  const resource = path.endsWith('/secrets') ? `secrets${named}` : 'pods';
  const scope = path.includes('/namespaces/')
    ? `in namespace ${path.split('/')[4]}`
    : 'at cluster scope';
  return `: forbidden — grant list and watch on ${resource} ${scope} (docs/rbac.md)`;
}

/** One line for a failed request: the HTTP status and the API server's message. */
function briefly(error: unknown): string {
  const status =
    (error as { statusCode?: unknown; code?: unknown } | null)?.statusCode ??
    (error as { code?: unknown } | null)?.code;
  let message = '';
  try {
    const body = (error as { body?: unknown } | null)?.body;
    message = String((typeof body === 'string' ? JSON.parse(body) : body)?.message ?? '');
  } catch {
    // Not a Status object: the status alone says enough.
  }
  if (typeof status === 'number') return message ? `HTTP ${status}: ${message}` : `HTTP ${status}`;
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code =
      (error as { code?: unknown; statusCode?: unknown }).statusCode ??
      (error as { code?: unknown }).code;
    return code !== undefined
      ? `${error.name} ${String(code)}: ${error.message}`
      : `${error.name}: ${error.message}`;
  }
  return String(error);
}
