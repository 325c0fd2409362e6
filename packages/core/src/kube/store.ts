/**
 * An informer's cache: the decoded (slim) value of each object by `namespace/name`, and its
 * resourceVersion. Fed by the informer and, in the controller, by its own writes (so the
 * next reconcile does not act on the state before them). An object older than the stored
 * one is ignored: resourceVersions are opaque in general, but within one resource of one API
 * server they grow, and only numeric ones are compared.
 */
export class ObjectStore<T> {
  #values = new Map<string, T>();
  #versions = new Map<string, string>();

  static key(object: { metadata?: { namespace?: unknown; name?: unknown } }): string {
    const namespace = object.metadata?.namespace;
    return `${typeof namespace === 'string' ? namespace : ''}/${String(object.metadata?.name ?? '')}`;
  }

  get size(): number {
    return this.#values.size;
  }

  get(key: string): T | undefined {
    return this.#values.get(key);
  }

  version(key: string): string | undefined {
    return this.#versions.get(key);
  }

  values(): IterableIterator<T> {
    return this.#values.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.#values.entries();
  }

  /** Returns false (and keeps the stored value) when `version` is older than the stored one. */
  set(key: string, value: T, version: string): boolean {
    if (isOlder(version, this.#versions.get(key))) return false;
    this.#values.set(key, value);
    this.#versions.set(key, version);
    return true;
  }

  /** Removes `key`, unless `accept` refuses the stored value (another object of that name). */
  delete(key: string, accept?: (current: T) => boolean): T | undefined {
    const current = this.#values.get(key);
    if (current === undefined || (accept !== undefined && !accept(current))) return undefined;
    this.#values.delete(key);
    this.#versions.delete(key);
    return current;
  }

  /**
   * Swaps in the result of a list; returns the keys whose version changed, appeared or
   * disappeared, with their previous values.
   */
  replace(
    values: Map<string, T>,
    versions: Map<string, string>,
  ): { key: string; previous: T | undefined }[] {
    const changed: { key: string; previous: T | undefined }[] = [];
    for (const [key, version] of versions) {
      if (this.#versions.get(key) !== version)
        changed.push({ key, previous: this.#values.get(key) });
    }
    for (const [key, previous] of this.#values) {
      if (!values.has(key)) changed.push({ key, previous });
    }
    this.#values = values;
    this.#versions = versions;
    return changed;
  }
}

const NUMERIC = /^[0-9]{1,15}$/;

export function isOlder(version: string, than: string | undefined): boolean {
  if (than === undefined || !NUMERIC.test(version) || !NUMERIC.test(than)) return false;
  return Number(version) < Number(than);
}
