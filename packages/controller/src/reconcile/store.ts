import type { PodInfo } from '@podrouter/core';
import type { ActualObjects, ObjectRef } from '../alias/diff.ts';
import {
  type KubeObject,
  type Lookup,
  type NamespaceInfo,
  type RouterTarget,
  SERVICE_NAME_LABEL,
} from '../alias/types.ts';
import type { ControllerConfig } from '../config.ts';
import { routerEndpointsFromSlices } from '../endpoints/slices.ts';
import { type Caches, forget, remember } from '../kube/caches.ts';
import type { ClaimsIndex } from './claims-index.ts';

/** What reconciling one alias reads and writes back: the caches, as the reconciler sees them. */
export interface AliasStore {
  claimants(key: string): readonly { readonly pod: PodInfo; readonly host: string }[];
  readonly namespaces: Lookup<NamespaceInfo>;
  readonly actual: ActualObjects;
  router(): RouterTarget | undefined;
  /** The result of a write, seen at once (before its watch event). */
  written(object: KubeObject | undefined, ref: ObjectRef | undefined): void;
}

/** The alias (`namespace/service`) an alias object belongs to. */
export const aliasKeyOf = (object: KubeObject): string =>
  `${object.metadata.namespace}/${
    object.kind === 'EndpointSlice'
      ? (object.metadata.labels?.[SERVICE_NAME_LABEL] ?? '')
      : object.metadata.name
  }`;

/** The AliasStore over the controller's informers. */
export function cacheStore(
  caches: Caches,
  claims: ClaimsIndex,
  config: Pick<ControllerConfig, 'routerService'>,
): AliasStore {
  const services = caches.services.store;
  return {
    claimants: (key) => claims.claimants(key),
    namespaces: { get: (name) => caches.namespaces.store.get(`/${name}`) },
    actual: {
      services,
      endpoints: caches.endpoints.store,
      slices: {
        get(key) {
          const [namespace] = key.split('/');
          const found: KubeObject[] = [];
          for (const slice of caches.aliasSlices.store.values()) {
            if (slice.metadata.namespace === namespace && aliasKeyOf(slice) === key)
              found.push(slice);
          }
          return found.length > 0 ? found : undefined;
        },
      },
    },
    router() {
      const { namespace, name } = config.routerService;
      const service = services.get(`${namespace}/${name}`);
      if (service === undefined) return undefined;
      const spec = (service.spec ?? {}) as {
        clusterIP?: string;
        ports?: { name?: string; port?: number; targetPort?: number | string }[];
      };
      const ports = spec.ports ?? [];
      const port = ports.find((candidate) => candidate.name === 'http') ?? ports[0];
      if (port?.port === undefined) return undefined;
      const { endpoints, targetPort } = routerEndpointsFromSlices(
        [...caches.routerSlices.store.values()],
        port.name ?? '',
      );
      return {
        namespace,
        name,
        clusterIP: spec.clusterIP === 'None' ? '' : (spec.clusterIP ?? ''),
        servicePort: port.port,
        targetPort: targetPort || (typeof port.targetPort === 'number' ? port.targetPort : 0),
        endpoints,
      };
    },
    written(object, ref) {
      const store = (kind: string) =>
        kind === 'Service'
          ? caches.services.store
          : kind === 'EndpointSlice'
            ? caches.aliasSlices.store
            : caches.endpoints.store;
      if (object !== undefined) remember(store(object.kind), object);
      else if (ref !== undefined) forget(store(ref.kind), `${ref.namespace}/${ref.name}`, ref.uid);
    },
  };
}
