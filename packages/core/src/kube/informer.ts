import { fetch } from 'undici';
import { KubeApiError } from '../errors.ts';
import { backoffDelay } from '../sources/backoff.ts';
import { type Clock, realClock } from './clock.ts';
import type { KubeConnection } from './connection.ts';
import { apiError, kubeRequest, unreachable } from './request.ts';
import { ObjectStore } from './store.ts';

/** An object as the API server sends it, before the consumer keeps what it declared. */
export interface RawObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
  };
  readonly [field: string]: unknown;
}

export interface InformerOptions<T> {
  readonly connection: KubeConnection;
  /** The collection, e.g. `/api/v1/pods` or `/api/v1/namespaces/ns/secrets`. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /**
   * What the cache keeps of each object: the consumer's own record (e.g. PodInfo) or a
   * projection of the fields it reads (`project()`); `undefined` = not kept. Everything else
   * of the object is garbage as soon as this returns.
   */
  readonly decode: (object: RawObject) => T | undefined;
  /** Objects per list page (default 100): bounds the memory a list needs at once. With real
   * Pods (managedFields, statuses: ~4 KB of JSON each) pages of 500 left a 10 000-Pod router
   * ~45 MB larger after its first sync than pages of 100 (docs/benchmarks.md). */
  readonly pageSize?: number;
  readonly backoffBaseMs?: number;
  /** Default 10 s: after an outage the cache catches up within seconds, and full jitter
   * spreads the reconnections of many replicas. */
  readonly backoffCapMs?: number;
  /** A watch that brings nothing (no event, no bookmark, no byte) for this long is restarted
   * from its last resourceVersion. The API server sends a bookmark about once a minute.
   * Default 90 s. */
  readonly silenceMs?: number;
  /** Server-side end of each watch (it then restarts from its resourceVersion); default 5 min
   * plus jitter, as client-go does, so watches of many replicas do not end together. */
  readonly watchTimeoutSeconds?: number;
  readonly clock?: Clock;
}

export interface InformerHandlers<T> {
  /**
   * One object changed; `current` undefined = deleted. After every list, called once for
   * each object that differs from the cache before it (on the first list: every object).
   */
  readonly onChange?: (key: string, current: T | undefined, previous: T | undefined) => void;
  /** A list finished (its changes were reported just before); `first` = the cache is synced. */
  readonly onList?: (first: boolean) => void;
  /**
   * Something failed; the cache keeps its content. `retryInMs`: when the informer tries
   * again (0: at once, e.g. a silent watch restarted from its resourceVersion).
   */
  readonly onError?: (error: KubeApiError, retryInMs: number) => void;
}

/** `empty`: the stream ended at once without a byte (a proxy closing it?): backs off, or
 * the informer would spin re-watching. */
type WatchEnd = 'ended' | 'empty' | 'silent' | 'stopped';

interface WatchEvent {
  readonly type?: string;
  readonly object?: RawObject & { code?: number };
}

/**
 * One list-then-watch into an `ObjectStore`, in client-go's reflector shape: list (in pages),
 * watch from the list's resourceVersion with bookmarks, keep the resourceVersion of every
 * event and bookmark, re-list on 410 Gone, restart a watch that falls silent, and retry
 * failures after a capped, jittered backoff. Only data from the API server resets the
 * backoff, so it grows while the API server stays away.
 */
export class Informer<T> {
  readonly store = new ObjectStore<T>();
  readonly #options: InformerOptions<T>;
  readonly #handlers: InformerHandlers<T>;
  readonly #clock: Clock;
  #resourceVersion = '';
  #failures = 0;
  #listed = false;
  #stopped = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(options: InformerOptions<T>, handlers: InformerHandlers<T> = {}) {
    this.#options = options;
    this.#handlers = handlers;
    this.#clock = options.clock ?? realClock;
  }

  get path(): string {
    return this.#options.path;
  }

  /** The resourceVersion the next watch starts from ('' before the first list). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get synced(): boolean {
    return this.#listed;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    let mustList = true;
    while (!this.#stopped) {
      try {
        if (mustList) {
          await this.#list();
          mustList = false;
        }
        // stop() during the list: a watch begun now would have no one to abort it.
        if (this.#stopped) return;
        const end = await this.#watch();
        if (end === 'empty') {
          throw new KubeApiError(
            0,
            'EmptyWatch',
            `watch ${this.#options.path} ended at once without an event`,
          );
        }
        if (end === 'silent') {
          this.#handlers.onError?.(
            new KubeApiError(
              0,
              'Silent',
              `watch ${this.#options.path} brought no event or bookmark for ${this.#silenceMs} ms; restarted it from its last resourceVersion`,
            ),
            0,
          );
        }
      } catch (error) {
        if (this.#stopped) return;
        const failure =
          error instanceof KubeApiError ? error : unreachable(error, this.#options.path);
        if (failure.gone) {
          // The resourceVersion is compacted away: only a new list can resume.
          mustList = true;
          if (!this.#wasListing(failure)) continue;
        }
        const wait = backoffDelay(
          this.#failures++,
          this.#options.backoffBaseMs ?? 500,
          this.#options.backoffCapMs ?? 10_000,
          () => this.#clock.random(),
        );
        this.#handlers.onError?.(failure, wait);
        await this.#sleep(wait);
      }
    }
  }

  /** A 410 from a list itself (a paged list whose continue token expired) still backs off. */
  #wasListing(error: KubeApiError): boolean {
    return error.reason === 'ListGone';
  }

  get #silenceMs(): number {
    return this.#options.silenceMs ?? 90_000;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = this.#clock.after(ms, () => {
        this.#wake = undefined;
        resolve();
      });
      this.#wake = () => {
        cancel();
        resolve();
      };
    });
  }

  #query(extra: Record<string, string>): string {
    const params = new URLSearchParams();
    if (this.#options.labelSelector) params.set('labelSelector', this.#options.labelSelector);
    if (this.#options.fieldSelector) params.set('fieldSelector', this.#options.fieldSelector);
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return `${this.#options.path}?${params.toString()}`;
  }

  async #list(): Promise<void> {
    const values = new Map<string, T>();
    const versions = new Map<string, string>();
    const limit = String(this.#options.pageSize ?? 100);
    let next: string | undefined;
    let resourceVersion = '';
    let restarts = 0;
    for (;;) {
      const path = this.#query(next ? { limit, continue: next } : { limit });
      let response: Awaited<ReturnType<typeof kubeRequest>>;
      const abort = new AbortController();
      this.#abort = abort;
      try {
        response = await kubeRequest(this.#options.connection, 'GET', path, undefined, undefined, {
          timeoutMs: 60_000,
          signal: abort.signal,
        });
      } catch (error) {
        if (this.#stopped) return;
        throw unreachable(error, `list ${this.#options.path}`);
      } finally {
        this.#abort = undefined;
      }
      if (this.#stopped) return;
      if (response.status === 410 && next !== undefined && restarts++ < 3) {
        // The continue token expired between pages: the list starts over.
        values.clear();
        versions.clear();
        next = undefined;
        continue;
      }
      if (response.status !== 200) {
        const error = apiError(response.status, response.body, `list ${this.#options.path}`);
        throw response.status === 410 ? new KubeApiError(410, 'ListGone', error.message) : error;
      }
      const body = response.body as {
        metadata?: { resourceVersion?: string; continue?: string };
        items?: RawObject[];
      };
      for (const item of body.items ?? []) {
        const value = this.#options.decode(item);
        if (value === undefined) continue;
        const key = ObjectStore.key(item);
        values.set(key, value);
        versions.set(key, item.metadata?.resourceVersion ?? '');
      }
      resourceVersion = body.metadata?.resourceVersion ?? '';
      next = body.metadata?.continue || undefined;
      if (next === undefined) break;
    }
    this.#failures = 0;
    this.#resourceVersion = resourceVersion;
    const changed = this.store.replace(values, versions);
    for (const { key, previous } of changed) {
      this.#handlers.onChange?.(key, this.store.get(key), previous);
    }
    const first = !this.#listed;
    this.#listed = true;
    this.#handlers.onList?.(first);
  }

  async #watch(): Promise<WatchEnd> {
    const timeout =
      this.#options.watchTimeoutSeconds ?? Math.round(300 * (1 + this.#clock.random()));
    const path = this.#query({
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: this.#resourceVersion,
      timeoutSeconds: String(timeout),
    });
    const abort = new AbortController();
    this.#abort = abort;
    let silent = false;
    let cancelSilence: () => void = () => undefined;
    const arm = () => {
      cancelSilence();
      cancelSilence = this.#clock.after(this.#silenceMs, () => {
        silent = true;
        abort.abort();
      });
    };
    const ended = (): WatchEnd | undefined =>
      this.#stopped ? 'stopped' : silent ? 'silent' : undefined;
    const startedAt = this.#clock.now();
    const quick = () => this.#clock.now() - startedAt < 1000;
    arm();
    try {
      const { headers, dispatcher } = await this.#options.connection.authorize();
      let response: Awaited<ReturnType<typeof fetch>>;
      try {
        response = await fetch(`${this.#options.connection.server}${path}`, {
          headers: { ...headers, accept: 'application/json' },
          dispatcher,
          signal: abort.signal,
        });
      } catch (error) {
        const end = ended();
        if (end) return end;
        throw unreachable(error, `watch ${this.#options.path}`);
      }
      if (response.status !== 200) {
        const text = await response.text().catch(() => '');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        throw apiError(response.status, body, `watch ${this.#options.path}`);
      }
      if (response.body === null) return quick() ? 'empty' : 'ended';
      const decoder = new TextDecoder();
      let buffered = '';
      let received = false;
      try {
        for await (const chunk of response.body) {
          arm();
          received = true;
          buffered += decoder.decode(chunk as Uint8Array, { stream: true });
          let start = 0;
          for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n', start)) {
            const line = buffered.slice(start, nl);
            start = nl + 1;
            if (line.trim() !== '') this.#event(JSON.parse(line) as WatchEvent);
          }
          buffered = buffered.slice(start);
        }
      } catch (error) {
        const end = ended();
        if (end) return end;
        if (error instanceof KubeApiError) throw error;
        throw unreachable(error, `watch ${this.#options.path}`);
      }
      return ended() ?? (received || !quick() ? 'ended' : 'empty');
    } finally {
      cancelSilence();
      abort.abort();
      this.#abort = undefined;
    }
  }

  #event(event: WatchEvent): void {
    const object = event.object;
    if (event.type === 'ERROR') {
      const status = typeof object?.code === 'number' ? object.code : 500;
      throw apiError(status, object, `watch ${this.#options.path}`);
    }
    const version = object?.metadata?.resourceVersion;
    if (object === undefined || version === undefined) return;
    this.#failures = 0;
    this.#resourceVersion = version;
    if (event.type === 'BOOKMARK') return;
    const key = ObjectStore.key(object);
    const previous = this.store.get(key);
    if (event.type === 'DELETED') {
      if (this.store.delete(key) !== undefined) this.#handlers.onChange?.(key, undefined, previous);
      return;
    }
    if (event.type !== 'ADDED' && event.type !== 'MODIFIED') return;
    const value = this.#options.decode(object);
    if (value === undefined) {
      if (this.store.delete(key) !== undefined) this.#handlers.onChange?.(key, undefined, previous);
      return;
    }
    if (this.store.set(key, value, version)) this.#handlers.onChange?.(key, value, previous);
  }
}
