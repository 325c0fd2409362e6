import { AnnotationMemo } from '../annotations/memo.ts';
import type { PathSpec, Rejection } from '../annotations/parse.ts';
import type { BackendTlsAnnotations } from '../backends/backend-tls.ts';
import { serviceClaimants } from '../backends/service-claimant.ts';
import type { EndpointHealth } from '../balancer/endpoint-health.ts';
import { RoundRobin } from '../balancer/round-robin.ts';
import type { Pipeline, PipelineCompiler } from '../pipeline/types.ts';
import { ineligibility } from '../pods/eligibility.ts';
import { type LabelSelector, matchesSelector } from '../pods/label-selector.ts';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import {
  type AccessAnnotations,
  combineAccess,
  type PodAccess,
  readAccess,
} from './access-rules.ts';
import { canonicalAliasHost } from './alias-hosts.ts';
import type { AliasIndex, Endpoint, PodReport, Route, RouteTable } from './types.ts';

export interface TableOptions {
  /** Service annotations asking for TLS to its backends; unset = plaintext only. */
  readonly backendTls?: BackendTlsAnnotations;
  readonly hostsAnnotation: string;
  readonly pathsAnnotation: string;
  readonly selector: LabelSelector;
  readonly health: EndpointHealth;
  readonly compilePipeline?: PipelineCompiler;
  readonly version?: number;
  readonly now?: number;
  /** Cluster domain; set to read Service alias hosts (`svc.ns`, `.svc`, `.svc.<domain>`) as one. */
  readonly aliasDomain?: string;
  /** Parsed annotation values kept across builds (a fresh one when absent). */
  readonly memo?: AnnotationMemo;
  /** Annotations with the CIDRs allowed to / denied from calling a Pod's routes. */
  readonly access?: AccessAnnotations;
}

export interface RouteClaims {
  readonly host: string;
  readonly path: string;
  readonly byNamespace: Map<string, NamespaceClaims>;
}

interface Claim {
  readonly pod: PodInfo;
  readonly port: number;
  readonly serving: boolean;
  readonly access: PodAccess | undefined;
}

interface NamespaceClaims {
  readonly namespace: string;
  claimedAt: number;
  readonly claims: Claim[];
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `claimed`: the Pod or Service port the route names (a Service's TLS is per port). */
function endpointAt(pod: PodInfo, ip: string, port: number, claimed = port): Endpoint {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const tls = pod.service?.tls?.get(claimed);
  return {
    key: `${host}:${port}`,
    // Pools are per origin: a TLS origin carries its server name and CA, so a rotated CA
    // gets new connections and the old pool is closed when no route uses it any more.
    origin: tls === undefined ? `http://${host}:${port}` : `https://${host}:${port}#${tls.id}`,
    ip,
    port,
    namespace: pod.namespace,
    podName: pod.name,
    protocol: pod.h2cPorts?.includes(port) ? 'h2c' : 'http1',
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** A Pod's endpoint is its IP; a Service claimant's are the backends of the claimed port. */
const endpointsOf = ({ pod, port }: Claim): Endpoint[] =>
  pod.service === undefined
    ? [endpointAt(pod, pod.podIP, port)]
    : (pod.service.backends.get(port) ?? []).map((backend) =>
        endpointAt(pod, backend.ip, backend.port, port),
      );

/** A Pod that has stopped (or is going) still holds no claim; a starting one does. */
const holdsClaims = (pod: PodInfo) =>
  !pod.terminating && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';

const CLOSED_PIPELINE: Pipeline = {
  run: () => ({
    status: 503,
    title: 'Route disabled',
    detail: 'The policy of this route could not be built; the operator has been told.',
  }),
};

/**
 * Cluster state → route table. Pure apart from reading `health` into each balancer:
 * the same state always yields the same routes, whatever order the Pods arrive in.
 *
 * When Pods of several namespaces claim one host+path, the namespace whose oldest claiming
 * Pod is the oldest wins (ties broken by namespace name); the other Pods get a rejection.
 */
export function buildRouteTable(state: ClusterState, options: TableOptions): RouteTable {
  const rejectionsByPod = new Map<string, Rejection[]>();
  const notServingByPod = new Map<string, string>();
  const claimsByHost = new Map<string, Map<string, RouteClaims>>();
  const memo = options.memo ?? new AnnotationMemo();
  memo.nextGeneration();
  const podKey = (pod: PodInfo) => `${pod.namespace}/${pod.name}`;
  const reject = (pod: PodInfo, rejection: Rejection) => {
    const list = rejectionsByPod.get(podKey(pod));
    if (list) list.push(rejection);
    else rejectionsByPod.set(podKey(pod), [rejection]);
  };

  for (const pod of claimantsOf(state, options)) {
    const read = readPod(pod, options, memo);
    if (read === undefined) continue;
    for (const rejection of read.rejections) reject(pod, rejection);
    if (read.notServing !== undefined) notServingByPod.set(podKey(pod), read.notServing);
    for (const host of read.hosts) {
      let byPath = claimsByHost.get(host);
      if (!byPath) {
        byPath = new Map();
        claimsByHost.set(host, byPath);
      }
      addClaims(byPath, host, read);
    }
  }

  const hosts = new Map<string, Map<string, Route>>();
  const routes: Route[] = [];
  const ordered: RouteClaims[] = [];
  for (const host of [...claimsByHost.keys()].sort(compare)) {
    const byPath = claimsByHost.get(host) as Map<string, RouteClaims>;
    for (const path of [...byPath.keys()].sort(compare))
      ordered.push(byPath.get(path) as RouteClaims);
  }
  for (const claims of ordered) {
    const route = resolveRoute(claims, options, reject);
    routes.push(route);
    let paths = hosts.get(claims.host);
    if (!paths) {
      paths = new Map();
      hosts.set(claims.host, paths);
    }
    paths.set(claims.path, route);
  }

  const pods: PodReport[] = [];
  let rejectedEntries = 0;
  const reported = new Set([...rejectionsByPod.keys(), ...notServingByPod.keys()]);
  for (const key of [...reported].sort()) {
    const [namespace = '', name = ''] = key.split('/');
    const rejections = rejectionsByPod.get(key) ?? [];
    rejectedEntries += rejections.length;
    const notServing = notServingByPod.get(key);
    pods.push({ namespace, name, ...(notServing ? { notServing } : {}), rejections });
  }
  return {
    version: options.version ?? 0,
    builtAt: options.now ?? Date.now(),
    hosts,
    routes,
    pods,
    rejectedEntries,
    ...(options.aliasDomain !== undefined
      ? { aliases: aliasIndex(options.aliasDomain, hosts.keys(), state.pods) }
      : {}),
  };
}

/** The Pods of a state, then its Services as claimants (`backends/service-claimant.ts`). */
export function claimantsOf(state: ClusterState, options: TableOptions): readonly PodInfo[] {
  const services = serviceClaimants(state, [options.pathsAnnotation], options.backendTls);
  return services.length === 0 ? state.pods : [...state.pods, ...services];
}

/** `hosts` in sorted order: the namespaces of a service are listed in that order. */
export function aliasIndex(
  clusterDomain: string,
  hosts: Iterable<string>,
  pods: Iterable<PodInfo>,
): AliasIndex {
  const namespacesByService = new Map<string, string[]>();
  for (const host of hosts) {
    if (canonicalAliasHost(host, clusterDomain) !== host) continue;
    const [service = '', namespace = ''] = host.split('.');
    const list = namespacesByService.get(service);
    if (list) list.push(namespace);
    else namespacesByService.set(service, [namespace]);
  }
  const namespaceByPodIp = new Map<string, string>();
  for (const pod of pods) if (pod.podIP !== '') namespaceByPodIp.set(pod.podIP, pod.namespace);
  return { clusterDomain, namespacesByService, namespaceByPodIp };
}

/** What one Pod contributes to a table, read once per Pod version. */
export interface PodClaims {
  readonly pod: PodInfo;
  /** Rejections of its own annotation entries (not the claims it loses to others). */
  readonly rejections: readonly Rejection[];
  /** Why it receives no traffic, when it holds claims but cannot serve. */
  readonly notServing: string | undefined;
  /** Hosts it claims (canonical alias form when aliases are on); empty if it holds none. */
  readonly hosts: readonly string[];
  readonly paths: readonly PathSpec[];
  /** Its allow/deny lists, when it sets any. */
  readonly access: PodAccess | undefined;
}

/** A Pod's claims, or `undefined` when it is not selected or carries neither annotation. */
export function readPod(
  pod: PodInfo,
  options: TableOptions,
  memo: AnnotationMemo,
): PodClaims | undefined {
  if (!matchesSelector(options.selector, pod.labels)) return undefined;
  const hostsValue = pod.annotations[options.hostsAnnotation];
  const pathsValue = pod.annotations[options.pathsAnnotation];
  if (hostsValue === undefined && pathsValue === undefined) return undefined;
  const hosts = memo.hosts(options.hostsAnnotation, hostsValue);
  const paths = memo.paths(options.pathsAnnotation, pathsValue, pod.containerPorts);
  const access = options.access ? readAccess(pod, options.access) : undefined;
  const rejections: Rejection[] = [
    ...hosts.rejections,
    ...paths.rejections,
    ...(access?.rejections ?? []),
    ...(pod.service?.problems ?? []),
  ];
  if (hosts.hosts.length > 0 && paths.paths.length === 0 && paths.rejections.length === 0) {
    rejections.push({
      annotation: options.pathsAnnotation,
      entry: '',
      reason: `${options.hostsAnnotation} is set but there is no PORT:PATH to route`,
    });
  }
  if (paths.paths.length > 0 && hosts.hosts.length === 0 && hosts.rejections.length === 0) {
    rejections.push({
      annotation: options.hostsAnnotation,
      entry: '',
      reason: `${options.pathsAnnotation} is set but there is no host to route`,
    });
  }
  if (!holdsClaims(pod)) {
    return {
      pod,
      rejections,
      notServing: undefined,
      hosts: [],
      paths: paths.paths,
      access: access?.access,
    };
  }
  const claimedHosts =
    options.aliasDomain === undefined
      ? hosts.hosts
      : [
          ...new Set(
            hosts.hosts.map((host) => canonicalAliasHost(host, options.aliasDomain ?? '') ?? host),
          ),
        ];
  return {
    pod,
    rejections,
    notServing: ineligibility(pod),
    hosts: claimedHosts,
    paths: paths.paths,
    access: access?.access,
  };
}

/** Adds a Pod's claims on `host` to that host's claims by path. */
export function addClaims(byPath: Map<string, RouteClaims>, host: string, read: PodClaims): void {
  const { pod } = read;
  for (const { path, port } of read.paths) {
    let entry = byPath.get(path);
    if (!entry) {
      entry = { host, path, byNamespace: new Map() };
      byPath.set(path, entry);
    }
    let claims = entry.byNamespace.get(pod.namespace);
    if (!claims) {
      claims = { namespace: pod.namespace, claimedAt: pod.createdAt, claims: [] };
      entry.byNamespace.set(pod.namespace, claims);
    }
    claims.claimedAt = Math.min(claims.claimedAt, pod.createdAt);
    claims.claims.push({
      pod,
      port,
      serving: read.notServing === undefined,
      access: read.access,
    });
  }
}

/**
 * One host+path: the oldest claiming namespace wins (ties by namespace name), the Pods of the
 * others get a rejection; the winner's serving Pods are the endpoints.
 */
export function resolveRoute(
  { host, path, byNamespace }: RouteClaims,
  options: TableOptions,
  reject: (pod: PodInfo, rejection: Rejection) => void,
): Route {
  const contenders = [...byNamespace.values()].sort(
    (a, b) => a.claimedAt - b.claimedAt || (a.namespace < b.namespace ? -1 : 1),
  );
  const winner = contenders[0] as NamespaceClaims;
  for (const loser of contenders.slice(1)) {
    for (const claim of loser.claims) {
      reject(claim.pod, {
        annotation: options.hostsAnnotation,
        entry: `${host}${path}`,
        reason: `${host}${path} is already claimed by namespace ${winner.namespace} since ${new Date(winner.claimedAt).toISOString()} (the oldest claim wins)`,
      });
    }
  }
  const endpoints = winner.claims
    .filter((claim) => claim.serving)
    .flatMap(endpointsOf)
    // Pod name breaks ties: which Pod a shared ip:port is reported under must not depend
    // on the order the Pods arrived in.
    .sort((a, b) => compare(a.key, b.key) || compare(a.podName, b.podName));
  const unique = endpoints.filter(
    (endpoint, index) => index === 0 || endpoints[index - 1]?.key !== endpoint.key,
  );
  const draft = {
    host,
    path,
    namespace: winner.namespace,
    claimedAt: winner.claimedAt,
    balancer: new RoundRobin(unique, options.health),
    access: combineAccess(winner.claims.map((claim) => claim.access)),
  };
  let pipeline: Route['pipeline'] = null;
  try {
    pipeline = options.compilePipeline?.(draft) ?? null;
  } catch (error) {
    // A policy that cannot be built (a hook whose appliesTo throws) closes its own route
    // alone, reported on the Pods that claim it; every other route ships.
    pipeline = CLOSED_PIPELINE;
    const reason = `the policy of ${host}${path} could not be built (${(error as Error)?.message ?? String(error)}); the route answers 503 until it is fixed`;
    for (const claim of winner.claims)
      reject(claim.pod, { annotation: options.hostsAnnotation, entry: `${host}${path}`, reason });
  }
  return { ...draft, pipeline };
}
