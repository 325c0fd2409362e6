import {
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type Watch,
} from '@kubernetes/client-node';
import type { KubeObject } from '../alias/types.ts';
import { ObjectStore } from './store.ts';

export interface InformerOptions {
  readonly path: string;
  /** Stamped on every object: list items come without them. */
  readonly apiVersion: string;
  readonly kind: string;
  readonly list: () => Promise<KubernetesListObject<KubernetesObject>>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** After a (re-)list without an object; after a watch event with it. */
  readonly onChange: (object?: KubeObject) => void;
  readonly onError: (error: unknown, path: string) => void;
  readonly retryDelayMs?: (attempt: number) => number;
}

/**
 * One list-then-watch into an `ObjectStore` (client-node's ListWatch: re-list on 410 Gone),
 * restarted after a delay when the watch fails. `synced` resolves after the first list.
 */
export class Informer {
  readonly store = new ObjectStore();
  readonly synced: Promise<void>;
  readonly #informer: ListWatch<KubernetesObject>;
  #stopped = false;

  constructor(watch: Watch, options: InformerOptions) {
    let markSynced: () => void = () => undefined;
    this.synced = new Promise((resolve) => {
      markSynced = resolve;
    });
    const stamp = (object: KubernetesObject): KubeObject =>
      ({ ...object, apiVersion: options.apiVersion, kind: options.kind }) as unknown as KubeObject;
    const list = async () => {
      const result = await options.list();
      this.store.replaceAll(result.items.map(stamp));
      setImmediate(() => {
        markSynced();
        options.onChange();
      });
      return result;
    };
    this.#informer = new ListWatch(
      options.path,
      watch,
      list,
      false,
      options.labelSelector,
      options.fieldSelector,
    );
    const upsert = (object: KubernetesObject) => {
      const stamped = stamp(object);
      if (this.store.upsert(stamped)) options.onChange(stamped);
    };
    this.#informer.on('add', upsert);
    this.#informer.on('update', upsert);
    this.#informer.on('delete', (object) => {
      const stamped = stamp(object);
      this.store.delete(ObjectStore.key(stamped), stamped.metadata.uid);
      options.onChange(stamped);
    });
    let failures = 0;
    this.#informer.on('connect', () => {
      failures = 0;
    });
    this.#informer.on('error', (error) => {
      if (this.#stopped) return;
      options.onError(error, options.path);
      const delay = options.retryDelayMs?.(failures++) ?? Math.min(30_000, 500 * 2 ** failures++);
      setTimeout(() => {
        if (!this.#stopped) this.#informer.start().catch(() => undefined);
      }, delay).unref();
    });
  }

  start(): void {
    this.#informer.start().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
  }
}
