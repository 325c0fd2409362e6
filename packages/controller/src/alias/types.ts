import type { PodInfo, parseLabelSelector } from '@podrouter/core';
import type { AliasMode, AllowRule } from '../config.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'podrouter';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_MANAGED_BY_VALUE = 'controller.podrouter.dev';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const CLAIMED_BY_ANNOTATION = 'podrouter.dev/claimed-by';
export const ROUTER_ANNOTATION = 'podrouter.dev/router-service';
export const UNCLAIMED_SINCE_ANNOTATION = 'podrouter.dev/unclaimed-since';
export const ALLOW_FROM_ANNOTATION = 'podrouter.dev/allow-aliases-from';
export const MODE_ANNOTATION = 'podrouter.dev/alias-mode';
export const FIELD_MANAGER = 'podrouter-controller';

/** A Kubernetes object as sent to and read from the API server. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export type ObjectKind = 'Service' | 'EndpointSlice' | 'Endpoints';

export interface NamespaceInfo {
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** One ready endpoint of the private router, from its Service's EndpointSlices. */
export interface RouterEndpoint {
  readonly ip: string;
  readonly addressType: 'IPv4' | 'IPv6';
  readonly nodeName?: string;
}

/** Where aliases lead: the private router Service as the caches see it. */
export interface RouterTarget {
  readonly namespace: string;
  readonly name: string;
  /** Empty for a headless router Service. */
  readonly clusterIP: string;
  /** The router Service port aliases use (named `http`, else the first). */
  readonly servicePort: number;
  /** Container port behind it, read from the router's EndpointSlices (0 = none seen yet). */
  readonly targetPort: number;
  readonly endpoints: readonly RouterEndpoint[];
}

/** A keyed read of a cache (a Map, or a view over an informer's store). */
export interface Lookup<V> {
  get(key: string): V | undefined;
}

/** What one alias is computed from, besides the Pods claiming it. */
export interface AliasLookups {
  readonly namespaces: Lookup<NamespaceInfo>;
  /** Every Service of the cluster by `namespace/name` (user-owned ones decide clashes). */
  readonly services: Lookup<KubeObject>;
  readonly router: RouterTarget | undefined;
  readonly now: number;
}

/** Everything desired state is computed from: the caches at one moment. */
export interface AliasInputs {
  readonly pods: readonly PodInfo[];
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  /** Every Service of the cluster by `namespace/name` (user-owned ones decide clashes). */
  readonly services: ReadonlyMap<string, KubeObject>;
  readonly router: RouterTarget | undefined;
  readonly now: number;
}

export interface AliasOptions {
  readonly hostsAnnotation: string;
  readonly selector: ReturnType<typeof parseLabelSelector>;
  readonly clusterDomain: string;
  readonly routerService: { readonly namespace: string; readonly name: string };
  readonly mode: AliasMode;
  readonly graceMs: number;
  readonly allow: readonly AllowRule[];
}

export type ProblemKind = 'refused' | 'clash';

/** Why a Pod's host claims no alias; becomes a Warning Event on the Pod. */
export interface ClaimProblem {
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly host: string;
  readonly kind: ProblemKind;
  readonly reason: string;
}

export interface DesiredAlias {
  readonly namespace: string;
  readonly name: string;
  readonly mode: AliasMode;
  /** `namespace/pod` of every claiming Pod, sorted; empty while in its grace period. */
  readonly claimedBy: readonly string[];
  readonly objects: readonly KubeObject[];
}

export interface DesiredState {
  /** By `namespace/name`. */
  readonly aliases: ReadonlyMap<string, DesiredAlias>;
  readonly problems: readonly ClaimProblem[];
  /** Keys of aliases that cannot be computed yet (the router Service is not known). */
  readonly pending: readonly string[];
  /** When the next unclaimed alias expires (ms since the epoch), to schedule a recheck. */
  readonly nextExpiry: number | undefined;
}
