import { isManaged } from './desired.ts';
import type { DesiredAlias, KubeObject, Lookup, ObjectKind } from './types.ts';

/** The alias objects that exist, as the caches see them. */
export interface ActualObjects {
  /** Every Service by `namespace/name`. */
  readonly services: Lookup<KubeObject>;
  /** podrouter's EndpointSlices by `namespace/<service-name label>`. */
  readonly slices: Lookup<readonly KubeObject[]>;
  /** podrouter's v1 Endpoints by `namespace/name`. */
  readonly endpoints: Lookup<KubeObject>;
}

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: ObjectKind;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export type Action =
  | { readonly verb: 'create'; readonly object: KubeObject }
  /** Server-side apply over an object podrouter owns (its uid is the precondition). */
  | { readonly verb: 'apply'; readonly object: KubeObject; readonly uid: string }
  | { readonly verb: 'delete'; readonly ref: ObjectRef };

export type Comparison = 'same' | 'update' | 'replace';

const PODROUTER_ANNOTATION_PREFIX = 'podrouter.dev/';

const isObj = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every field podrouter sets has the same value in `actual` (fields others add are fine). */
function covers(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      actual.length === desired.length &&
      desired.every((item, index) => covers(item, actual[index]))
    );
  }
  if (isObj(desired)) {
    return (
      isObj(actual) && Object.entries(desired).every(([key, value]) => covers(value, actual[key]))
    );
  }
  return desired === actual;
}

/**
 * How `actual` must change to be `desired`: nothing, a server-side apply, or (for changes an
 * apply cannot make: a selector someone added, the Service type, extra ports) delete and
 * create.
 */
export function compareObject(desired: KubeObject, actual: KubeObject): Comparison {
  if (desired.kind === 'Service') {
    const want = (desired.spec ?? {}) as Record<string, unknown>;
    const have = (isObj(actual.spec) ? actual.spec : {}) as Record<string, unknown>;
    if ((have.type ?? 'ClusterIP') !== want.type) return 'replace';
    if (isObj(have.selector) && Object.keys(have.selector).length > 0) return 'replace';
    if (
      Array.isArray(have.ports) &&
      Array.isArray(want.ports) &&
      have.ports.length !== want.ports.length
    )
      return 'replace';
  }
  const { metadata: desiredMeta, ...desiredBody } = desired;
  const { metadata: actualMeta, ...actualBody } = actual;
  if (!covers(desiredMeta.labels ?? {}, actualMeta.labels ?? {})) return 'update';
  const wantAnnotations = desiredMeta.annotations ?? {};
  const haveAnnotations = actualMeta.annotations ?? {};
  if (!covers(wantAnnotations, haveAnnotations)) return 'update';
  for (const key of Object.keys(haveAnnotations)) {
    if (key.startsWith(PODROUTER_ANNOTATION_PREFIX) && !(key in wantAnnotations)) return 'update';
  }
  return covers(desiredBody, actualBody) ? 'same' : 'update';
}

const refOf = (object: KubeObject): ObjectRef => ({
  apiVersion: object.apiVersion,
  kind: object.kind as ObjectKind,
  namespace: object.metadata.namespace,
  name: object.metadata.name,
  uid: object.metadata.uid ?? '',
});

/**
 * The writes that turn the alias `key` (`namespace/name`) from `actual` into `desired`
 * (`undefined` = it should not exist). Objects without podrouter's managed-by label are
 * never written: a user's Service of the alias name blocks the alias (only podrouter's own
 * stray slices or Endpoints for it are removed). No writes when everything matches.
 */
export function diffAlias(
  key: string,
  desired: DesiredAlias | undefined,
  actual: ActualObjects,
): Action[] {
  const service = actual.services.get(key);
  const userOwned = service !== undefined && !isManaged(service);
  const existing: KubeObject[] = [
    ...(service !== undefined && !userOwned ? [service] : []),
    ...(actual.slices.get(key) ?? []).filter(isManaged),
    ...[actual.endpoints.get(key)].filter((object) => object !== undefined && isManaged(object)),
  ] as KubeObject[];
  const wanted = userOwned ? [] : (desired?.objects ?? []);
  const id = (object: KubeObject) => `${object.kind}/${object.metadata.name}`;
  const byId = new Map(existing.map((object) => [id(object), object]));
  const creates: Action[] = [];
  const applies: Action[] = [];
  const deletes: Action[] = [];
  for (const object of wanted) {
    const current = byId.get(id(object));
    byId.delete(id(object));
    if (current === undefined) {
      creates.push({ verb: 'create', object });
      continue;
    }
    const comparison = compareObject(object, current);
    if (comparison === 'update')
      applies.push({ verb: 'apply', object, uid: current.metadata.uid ?? '' });
    else if (comparison === 'replace') {
      deletes.push({ verb: 'delete', ref: refOf(current) });
      creates.push({ verb: 'create', object });
    }
  }
  // Stale slices and Endpoints go before their Service, which goes last.
  const stale = [...byId.values()].sort(
    (a, b) => (a.kind === 'Service' ? 1 : 0) - (b.kind === 'Service' ? 1 : 0),
  );
  const staleDeletes = stale.map((object): Action => ({ verb: 'delete', ref: refOf(object) }));
  // A replaced Service is deleted and re-created before its slices are written.
  return [
    ...deletes,
    ...creates.filter((a) => a.verb === 'create' && a.object.kind === 'Service'),
    ...applies,
    ...creates.filter((a) => a.verb === 'create' && a.object.kind !== 'Service'),
    ...staleDeletes,
  ];
}
