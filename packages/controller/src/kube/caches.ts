import {
  type Clock,
  Informer,
  type InformerHandlers,
  type KubeConnection,
  METADATA_SHAPE,
  ObjectStore,
  type PodInfo,
  podFromObject,
  project,
  type RawObject,
  type Shape,
} from '@podrouter/core';
import {
  type KubeObject,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type NamespaceInfo,
  SERVICE_NAME_LABEL,
  SLICE_MANAGED_BY_LABEL,
  SLICE_MANAGED_BY_VALUE,
} from '../alias/types.ts';
import type { ControllerConfig } from '../config.ts';

/**
 * The fields of each resource the controller reads (alias/desired.ts, alias/diff.ts,
 * endpoints/slices.ts): its caches hold these and nothing else. Every field podrouter writes
 * on an alias object is here, so a diff against the cache sees every difference it can make.
 */
const SHAPES = {
  Service: {
    metadata: METADATA_SHAPE,
    spec: { type: true, selector: true, clusterIP: true, externalName: true, ports: true },
  },
  EndpointSlice: { metadata: METADATA_SHAPE, addressType: true, ports: true, endpoints: true },
  Endpoints: { metadata: METADATA_SHAPE, subsets: true },
} as const satisfies Record<string, Shape>;

export type ObjectKind = keyof typeof SHAPES;

const API_VERSIONS: Record<ObjectKind, string> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Endpoints: 'v1',
};

/** The declared fields of an object of `kind`, stamped with its kind (list items have none). */
export function slim(kind: ObjectKind, object: RawObject | KubeObject): KubeObject {
  return {
    ...(project(object, SHAPES[kind]) as object),
    apiVersion: API_VERSIONS[kind],
    kind,
  } as KubeObject;
}

export interface Caches {
  readonly pods: readonly Informer<PodInfo>[];
  readonly namespaces: Informer<NamespaceInfo>;
  /** Every Service (a user's Service of an alias name blocks the alias). */
  readonly services: Informer<KubeObject>;
  /** podrouter's alias EndpointSlices. */
  readonly aliasSlices: Informer<KubeObject>;
  /** The private router Service's own EndpointSlices. */
  readonly routerSlices: Informer<KubeObject>;
  /** podrouter's v1 Endpoints (cluster-ip mode). */
  readonly endpoints: Informer<KubeObject>;
  readonly all: readonly Informer<unknown>[];
}

export type CacheName =
  | 'pods'
  | 'namespaces'
  | 'services'
  | 'aliasSlices'
  | 'routerSlices'
  | 'endpoints';

/** The controller's informers, on the core's informer layer; `handlers(name)` per cache. */
export function createCaches(
  connection: KubeConnection,
  config: ControllerConfig,
  handlers: <T>(name: CacheName) => InformerHandlers<T>,
  clock?: Clock,
): Caches {
  const common = { connection, ...(clock ? { clock } : {}) };
  const objects = (
    name: CacheName,
    kind: ObjectKind,
    path: string,
    labelSelector?: string,
  ): Informer<KubeObject> =>
    new Informer<KubeObject>(
      {
        ...common,
        path,
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        decode: (object) => slim(kind, object),
      },
      handlers<KubeObject>(name),
    );
  const scopes = config.watchNamespaces.length === 0 ? [undefined] : config.watchNamespaces;
  const pods = scopes.map(
    (namespace) =>
      new Informer<PodInfo>(
        {
          ...common,
          path: namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods',
          labelSelector: config.routableLabelSelector,
          decode: podFromObject,
        },
        handlers<PodInfo>('pods'),
      ),
  );
  const namespaces = new Informer<NamespaceInfo>(
    {
      ...common,
      path: '/api/v1/namespaces',
      decode: (object) => {
        const metadata = object.metadata as { name?: string; annotations?: Record<string, string> };
        return metadata?.name
          ? { name: metadata.name, annotations: metadata.annotations ?? {} }
          : undefined;
      },
    },
    handlers<NamespaceInfo>('namespaces'),
  );
  const router = config.routerService;
  const caches = {
    pods,
    namespaces,
    services: objects('services', 'Service', '/api/v1/services'),
    aliasSlices: objects(
      'aliasSlices',
      'EndpointSlice',
      '/apis/discovery.k8s.io/v1/endpointslices',
      `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY_VALUE}`,
    ),
    routerSlices: objects(
      'routerSlices',
      'EndpointSlice',
      `/apis/discovery.k8s.io/v1/namespaces/${router.namespace}/endpointslices`,
      `${SERVICE_NAME_LABEL}=${router.name}`,
    ),
    endpoints: objects(
      'endpoints',
      'Endpoints',
      '/api/v1/endpoints',
      `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    ),
  };
  return {
    ...caches,
    all: [
      ...pods,
      namespaces,
      caches.services,
      caches.aliasSlices,
      caches.routerSlices,
      caches.endpoints,
    ] as Informer<unknown>[],
  };
}

/** Puts the result of the controller's own write into the cache at once. */
export function remember(store: ObjectStore<KubeObject>, object: KubeObject): void {
  const version = (object.metadata as { resourceVersion?: string }).resourceVersion ?? '';
  store.set(ObjectStore.key(object), slim(object.kind as ObjectKind, object), version);
}

/** Forgets a deleted object, unless the cache already holds a newer one of that name. */
export function forget(store: ObjectStore<KubeObject>, key: string, uid: string): void {
  store.delete(key, (current) => uid === '' || current.metadata.uid === uid);
}
