import type { Rejection } from '../annotations/parse.ts';
import type { BackendTls } from '../backends/types.ts';
import type { RoundRobin } from '../balancer/round-robin.ts';
import type { Pipeline } from '../pipeline/types.ts';
import type { AccessRules } from './access-rules.ts';

export interface Endpoint {
  /** `ip:port` (IPv6 in brackets), also the key of its connection pool and health. */
  readonly key: string;
  readonly origin: string;
  readonly ip: string;
  readonly port: number;
  readonly namespace: string;
  readonly podName: string;
  /** How the Pod port is spoken to: HTTP/1.1, or HTTP/2 cleartext (gRPC, from its name). */
  readonly protocol: 'http1' | 'h2c';
  /** Set when the backend is spoken to over verified TLS (Service backends only). */
  readonly tls?: BackendTls;
}

export interface Route {
  readonly host: string;
  readonly path: string;
  /** The namespace that owns this host+path (the oldest claim). */
  readonly namespace: string;
  /** Creation time of the oldest Pod claiming it, ms since the epoch. */
  readonly claimedAt: number;
  readonly balancer: RoundRobin<Endpoint>;
  /** Client addresses allowed / denied by the claiming Pods' annotations; null = anyone. */
  readonly access: AccessRules | null;
  readonly pipeline: Pipeline | null;
}

export interface PodReport {
  readonly namespace: string;
  readonly name: string;
  /** Why the Pod receives no traffic at the moment, if it does not. */
  readonly notServing?: string;
  readonly rejections: readonly Rejection[];
}

/** An immutable snapshot; a new one is built and swapped in on every change. */
export interface RouteTable {
  readonly version: number;
  readonly builtAt: number;
  /** host → path → route. Lookup cost depends on the path depth, not on the table size.
   * For lookups only: the order of hosts is unspecified (`routes` is the ordered list). */
  readonly hosts: ReadonlyMap<string, ReadonlyMap<string, Route>>;
  readonly routes: readonly Route[];
  readonly pods: readonly PodReport[];
  readonly rejectedEntries: number;
  /** Set when Service alias hosts are on (private build): see `routes/alias-hosts.ts`. */
  readonly aliases?: AliasIndex;
}

/** What resolving the other host forms of Service aliases needs, built with the table. */
export interface AliasIndex {
  readonly clusterDomain: string;
  /** Service name → namespaces with a `svc.ns` route of that name. */
  readonly namespacesByService: ReadonlyMap<string, readonly string[]>;
  /** Pod IP → namespace, for the Pods the router sees (callers of bare `svc` hosts). */
  readonly namespaceByPodIp: ReadonlyMap<string, string>;
}
