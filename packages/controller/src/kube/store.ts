import type { KubeObject } from '../alias/types.ts';

const rvNumber = (object: KubeObject): number | undefined => {
  const rv = (object.metadata as { resourceVersion?: unknown }).resourceVersion;
  return typeof rv === 'string' && /^[0-9]+$/.test(rv) ? Number(rv) : undefined;
};

/**
 * Objects of one resource by `namespace/name`, fed by a watch and by the controller's own
 * writes (so a pass right after a write does not act on the state before it). An event
 * older than what the store holds is ignored: resourceVersions are opaque in general, but
 * within one resource of one API server they grow, and only numeric ones are compared.
 */
export class ObjectStore {
  readonly #objects = new Map<string, KubeObject>();

  static key(object: KubeObject): string {
    return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  }

  get size(): number {
    return this.#objects.size;
  }

  get(key: string): KubeObject | undefined {
    return this.#objects.get(key);
  }

  values(): IterableIterator<KubeObject> {
    return this.#objects.values();
  }

  /** Returns false when `object` is older than the stored one (nothing changed). */
  upsert(object: KubeObject): boolean {
    const key = ObjectStore.key(object);
    const current = this.#objects.get(key);
    if (current !== undefined) {
      const a = rvNumber(current);
      const b = rvNumber(object);
      if (a !== undefined && b !== undefined && b < a) return false;
    }
    this.#objects.set(key, object);
    return true;
  }

  delete(key: string, uid?: string): void {
    const current = this.#objects.get(key);
    if (current === undefined) return;
    if (uid !== undefined && uid !== '' && current.metadata.uid !== uid) return;
    this.#objects.delete(key);
  }

  replaceAll(objects: readonly KubeObject[]): void {
    this.#objects.clear();
    for (const object of objects) this.#objects.set(ObjectStore.key(object), object);
  }
}
