import type { ObjectRef } from '../alias/diff.ts';
import {
  type KubeObject,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ROUTER_ANNOTATION,
  SERVICE_NAME_LABEL,
  SLICE_MANAGED_BY_LABEL,
  SLICE_MANAGED_BY_VALUE,
} from '../alias/types.ts';

/** The alias objects of the cluster, as listed by the label podrouter puts on all of them. */
export interface ManagedObjects {
  readonly services: readonly KubeObject[];
  readonly slices: readonly KubeObject[];
  readonly endpoints: readonly KubeObject[];
}

export interface CleanupPlan {
  /**
   * Deletes in order: each alias's EndpointSlices and Endpoints, then its Service, so that a
   * run cut short still finds the rest on the next run through the Service that names them.
   */
  readonly deletes: readonly ObjectRef[];
  /** Managed objects left alone: another router's aliases, or objects whose Service is gone. */
  readonly kept: number;
}

const managed = (object: KubeObject) =>
  object.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;

const ref = (object: KubeObject): ObjectRef => ({
  apiVersion: object.apiVersion,
  kind: object.kind as ObjectRef['kind'],
  namespace: object.metadata.namespace,
  name: object.metadata.name,
  uid: object.metadata.uid ?? '',
});

const byKey = (a: KubeObject, b: KubeObject) => {
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/**
 * Which alias objects one installation of podrouter leaves behind: the Services the
 * controller made for the router Service `routerService` (`NAMESPACE/NAME`, which it writes on
 * each alias as the annotation podrouter.dev/router-service) with their EndpointSlices and
 * Endpoints. The router Service is what tells two installations apart: one release's cleanup
 * never touches the aliases of another, nor an object without podrouter's label.
 */
export function cleanupPlan(objects: ManagedObjects, routerService: string): CleanupPlan {
  const ours = objects.services
    .filter(
      (service) =>
        managed(service) && service.metadata.annotations?.[ROUTER_ANNOTATION] === routerService,
    )
    .sort(byKey);
  const names = new Set(ours.map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
  const owner = {
    slice: (slice: KubeObject) =>
      `${slice.metadata.namespace}/${slice.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''}`,
    endpoints: (endpoints: KubeObject) =>
      `${endpoints.metadata.namespace}/${endpoints.metadata.name}`,
  };
  // Kubernetes mirrors the v1 Endpoints of cluster-ip mode into EndpointSlices that copy
  // podrouter's label; those are its endpointslice-mirroring controller's, which removes them
  // with the Endpoints.
  const slices = objects.slices.filter(
    (s) =>
      managed(s) &&
      s.metadata.labels?.[SLICE_MANAGED_BY_LABEL] === SLICE_MANAGED_BY_VALUE &&
      names.has(owner.slice(s)),
  );
  const endpoints = objects.endpoints.filter((e) => managed(e) && names.has(owner.endpoints(e)));
  const deletes: ObjectRef[] = [];
  for (const service of ours) {
    const key = `${service.metadata.namespace}/${service.metadata.name}`;
    for (const slice of slices.filter((s) => owner.slice(s) === key).sort(byKey)) {
      deletes.push(ref(slice));
    }
    for (const e of endpoints.filter((e) => owner.endpoints(e) === key)) deletes.push(ref(e));
    deletes.push(ref(service));
  }
  const total = [objects.services, objects.slices, objects.endpoints].flat().filter(managed).length;
  return { deletes, kept: total - deletes.length };
}
