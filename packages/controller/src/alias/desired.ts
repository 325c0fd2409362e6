import { matchesSelector, type PodInfo, parseAliasHost, parseHosts } from '@podrouter/core';
import type { AliasMode, AllowRule } from '../config.ts';
import { ALIAS_MODES } from '../config.ts';
import { chunkEndpoints } from '../endpoints/slices.ts';
import {
  ALLOW_FROM_ANNOTATION,
  type AliasInputs,
  type AliasLookups,
  type AliasOptions,
  CLAIMED_BY_ANNOTATION,
  type ClaimProblem,
  type DesiredAlias,
  type DesiredState,
  type KubeObject,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MODE_ANNOTATION,
  type NamespaceInfo,
  ROUTER_ANNOTATION,
  type RouterTarget,
  SERVICE_NAME_LABEL,
  SLICE_MANAGED_BY_LABEL,
  SLICE_MANAGED_BY_VALUE,
  UNCLAIMED_SINCE_ANNOTATION,
} from './types.ts';

/** The annotation naming claiming Pods stays readable (and small) for big Deployments. */
const MAX_NAMED_CLAIMANTS = 10;

interface NamespaceClaim {
  readonly namespace: string;
  claimedAt: number;
  readonly pods: PodInfo[];
}

/** Same rule as the router's route table: a stopped or stopping Pod claims nothing. */
const holdsClaims = (pod: PodInfo) =>
  !pod.terminating && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';

export const isManaged = (object: KubeObject | undefined): boolean =>
  object?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;

/** Whether Pods of `from` may claim aliases in namespace `to`: closed unless allowed. */
export function mayClaim(from: string, to: NamespaceInfo, rules: readonly AllowRule[]): boolean {
  if (from === to.name) return true;
  if (
    rules.some(
      (rule) =>
        (rule.from === '*' || rule.from === from) && (rule.to === '*' || rule.to === to.name),
    )
  )
    return true;
  const allowed = (to.annotations[ALLOW_FROM_ANNOTATION] ?? '').split(/[\s,]+/);
  return allowed.includes('*') || allowed.includes(from);
}

export function modeOf(namespace: NamespaceInfo | undefined, fallback: AliasMode): AliasMode {
  const override = namespace?.annotations[MODE_ANNOTATION];
  return (ALIAS_MODES as readonly string[]).includes(override ?? '')
    ? (override as AliasMode)
    : fallback;
}

const podRef = (pod: PodInfo) => ({ namespace: pod.namespace, name: pod.name, uid: pod.uid });

function claimedByValue(claimants: readonly string[]): string {
  const named = claimants.slice(0, MAX_NAMED_CLAIMANTS).join(' ');
  const more = claimants.length - MAX_NAMED_CLAIMANTS;
  return more > 0 ? `${named} (+${more} more)` : named;
}

/** One alias host of a Pod: the alias key (`namespace/service`) it claims. */
export interface AliasClaim {
  readonly key: string;
  readonly host: string;
}

/**
 * The aliases a Pod's hosts claim, and the problems of hosts that are no alias at all
 * (invalid entries, names not of the `<service>.<namespace>[.svc[.<domain>]]` form). Whether
 * the namespace exists and accepts the claim is the alias's business (`desiredAlias`).
 * Nothing for a Pod that is not selected or holds no claims.
 */
export function podAliasClaims(
  pod: PodInfo,
  options: AliasOptions,
): { claims: AliasClaim[]; problems: ClaimProblem[] } {
  const claims: AliasClaim[] = [];
  const problems: ClaimProblem[] = [];
  if (!holdsClaims(pod) || !matchesSelector(options.selector, pod.labels)) {
    return { claims, problems };
  }
  const value = pod.annotations[options.hostsAnnotation];
  if (value === undefined) return { claims, problems };
  const parsed = parseHosts(options.hostsAnnotation, value);
  for (const rejection of parsed.rejections) {
    problems.push({
      pod: podRef(pod),
      host: rejection.entry,
      kind: 'refused',
      reason: rejection.reason,
    });
  }
  for (const host of parsed.hosts) {
    const result = parseAliasHost(host, options.clusterDomain);
    if ('reason' in result) {
      problems.push({ pod: podRef(pod), host, kind: 'refused', reason: result.reason });
      continue;
    }
    claims.push({ key: `${result.alias.namespace}/${result.alias.service}`, host });
  }
  return { claims, problems };
}

/** What one alias should be, from the Pods that claim it and the caches. */
export interface AliasResult {
  /** Undefined: no alias objects should exist (or they cannot be computed: `pending`). */
  readonly alias: DesiredAlias | undefined;
  /** Refused and clashing claims on this alias. */
  readonly problems: readonly ClaimProblem[];
  /** The router Service is not known yet: leave the alias as it is. */
  readonly pending: boolean;
  /** While unclaimed and in its grace period: when that ends (ms since the epoch). */
  readonly expiresAt: number | undefined;
}

const byPodName = (a: PodInfo, b: PodInfo) =>
  a.namespace < b.namespace
    ? -1
    : a.namespace > b.namespace
      ? 1
      : a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : 0;

/**
 * One alias (`namespace/service`) from the Pods claiming it (`claims`: each Pod with the host
 * it claims it by). Pure: the same inputs give the same objects, in the same order, whatever
 * order the Pods came in.
 *
 * - A claim into a namespace that does not exist, or that does not accept claims from the
 *   Pod's namespace, is refused.
 * - Several namespaces claiming one alias: the one whose oldest claiming Pod is oldest wins
 *   (ties by namespace name); a Service of that name not managed by podrouter wins always.
 * - An alias nobody claims keeps its objects, marked with the time it lost its last claim,
 *   until the grace period is over; then it is no longer desired.
 */
export function desiredAlias(
  key: string,
  claims: readonly { readonly pod: PodInfo; readonly host: string }[],
  inputs: AliasLookups,
  options: AliasOptions,
): AliasResult {
  const [namespace = '', name = ''] = key.split('/');
  const problems: ClaimProblem[] = [];
  const byNamespace = new Map<string, NamespaceClaim>();
  const target = inputs.namespaces.get(namespace);
  for (const { pod, host } of [...claims].sort((a, b) => byPodName(a.pod, b.pod))) {
    if (target === undefined) {
      problems.push({
        pod: podRef(pod),
        host,
        kind: 'refused',
        reason: `namespace ${namespace} does not exist`,
      });
      continue;
    }
    if (!mayClaim(pod.namespace, target, options.allow)) {
      problems.push({
        pod: podRef(pod),
        host,
        kind: 'refused',
        reason: `namespace ${namespace} does not accept aliases claimed from namespace ${pod.namespace} (annotation ${ALLOW_FROM_ANNOTATION} on namespace ${namespace}, or --allow-cross-namespace-aliases)`,
      });
      continue;
    }
    let claim = byNamespace.get(pod.namespace);
    if (claim === undefined) {
      claim = { namespace: pod.namespace, claimedAt: pod.createdAt, pods: [] };
      byNamespace.set(pod.namespace, claim);
    }
    claim.claimedAt = Math.min(claim.claimedAt, pod.createdAt);
    if (!claim.pods.includes(pod)) claim.pods.push(pod);
  }
  const existing = inputs.services.get(key);
  const none = { alias: undefined, problems, pending: false, expiresAt: undefined };
  if (byNamespace.size > 0) {
    const contenders = [...byNamespace.values()].sort(
      (a, b) => a.claimedAt - b.claimedAt || (a.namespace < b.namespace ? -1 : 1),
    );
    if (existing !== undefined && !isManaged(existing)) {
      for (const contender of contenders) {
        for (const pod of contender.pods) {
          problems.push({
            pod: podRef(pod),
            host: `${name}.${namespace}`,
            kind: 'clash',
            reason: `Service ${key} exists and is not managed by podrouter (no label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}); it is left untouched`,
          });
        }
      }
      return none;
    }
    const winner = contenders[0] as NamespaceClaim;
    for (const loser of contenders.slice(1)) {
      for (const pod of loser.pods) {
        problems.push({
          pod: podRef(pod),
          host: `${name}.${namespace}`,
          kind: 'clash',
          reason: `alias ${key} is already claimed from namespace ${winner.namespace} since ${new Date(winner.claimedAt).toISOString()} (the oldest claim wins)`,
        });
      }
    }
    const claimedBy = winner.pods.map((pod) => `${pod.namespace}/${pod.name}`).sort();
    const alias = buildAlias(namespace, name, claimedBy, undefined, inputs, options);
    return { alias, problems, pending: alias === undefined, expiresAt: undefined };
  }
  if (existing === undefined || !isManaged(existing)) return none;
  const marked = Date.parse(existing.metadata.annotations?.[UNCLAIMED_SINCE_ANNOTATION] ?? '');
  const since = Number.isNaN(marked) ? inputs.now : marked;
  const expiresAt = since + options.graceMs;
  if (inputs.now >= expiresAt) return none;
  const alias = buildAlias(namespace, name, [], since, inputs, options);
  return { alias, problems, pending: alias === undefined, expiresAt };
}

/**
 * Caches → every alias that should exist: `podAliasClaims` for each Pod, then
 * `desiredAlias` for every claimed alias and every podrouter Service. The controller
 * reconciles one alias at a time with the same two functions; this whole-state form is
 * what the tests and the admin view read.
 */
export function desiredAliases(inputs: AliasInputs, options: AliasOptions): DesiredState {
  const problems: ClaimProblem[] = [];
  const claimsByKey = new Map<string, { pod: PodInfo; host: string }[]>();
  for (const pod of [...inputs.pods].sort(byPodName)) {
    const read = podAliasClaims(pod, options);
    problems.push(...read.problems);
    for (const { key, host } of read.claims) {
      const list = claimsByKey.get(key);
      if (list) list.push({ pod, host });
      else claimsByKey.set(key, [{ pod, host }]);
    }
  }
  const keys = new Set(claimsByKey.keys());
  for (const [key, service] of inputs.services) if (isManaged(service)) keys.add(key);
  const aliases = new Map<string, DesiredAlias>();
  const pending: string[] = [];
  let nextExpiry: number | undefined;
  for (const key of [...keys].sort()) {
    const result = desiredAlias(key, claimsByKey.get(key) ?? [], inputs, options);
    problems.push(...result.problems);
    if (result.pending) pending.push(key);
    if (result.alias !== undefined) aliases.set(key, result.alias);
    if (result.expiresAt !== undefined) {
      nextExpiry =
        nextExpiry === undefined ? result.expiresAt : Math.min(nextExpiry, result.expiresAt);
    }
  }
  return { aliases, problems, pending, nextExpiry };
}

function buildAlias(
  namespace: string,
  name: string,
  claimedBy: readonly string[],
  unclaimedSince: number | undefined,
  inputs: AliasLookups,
  options: AliasOptions,
): DesiredAlias | undefined {
  const mode = modeOf(inputs.namespaces.get(namespace), options.mode);
  const router = inputs.router;
  const annotations: Record<string, string> = {
    [CLAIMED_BY_ANNOTATION]: claimedByValue(claimedBy),
    [ROUTER_ANNOTATION]: `${options.routerService.namespace}/${options.routerService.name}`,
  };
  if (unclaimedSince !== undefined) {
    annotations[UNCLAIMED_SINCE_ANNOTATION] = new Date(unclaimedSince).toISOString();
  }
  const metadata = {
    name,
    namespace,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations,
  };
  const service = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec,
  });
  switch (mode) {
    case 'externalname':
      return {
        namespace,
        name,
        mode,
        claimedBy,
        objects: [
          service({
            type: 'ExternalName',
            externalName: `${options.routerService.name}.${options.routerService.namespace}.svc.${options.clusterDomain}`,
            ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
          }),
        ],
      };
    case 'cluster-ip':
      if (router === undefined || router.clusterIP === '') return undefined;
      return {
        namespace,
        name,
        mode,
        claimedBy,
        objects: [
          service({
            type: 'ClusterIP',
            ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: router.servicePort }],
          }),
          {
            apiVersion: 'v1',
            kind: 'Endpoints',
            metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
            subsets: [
              {
                addresses: [{ ip: router.clusterIP }],
                ports: [{ name: 'http', port: router.servicePort, protocol: 'TCP' }],
              },
            ],
          },
        ],
      };
    case 'endpointslice':
      if (router === undefined || router.targetPort === 0) return undefined;
      return {
        namespace,
        name,
        mode,
        claimedBy,
        objects: [
          service({
            type: 'ClusterIP',
            ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: router.targetPort }],
          }),
          ...sliceObjects(namespace, name, router),
        ],
      };
  }
}

export function sliceName(service: string, index: number): string {
  return `${service}-podrouter-${index}`;
}

function sliceObjects(namespace: string, service: string, router: RouterTarget): KubeObject[] {
  return chunkEndpoints(router.endpoints).map((chunk, index) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(service, index),
      namespace,
      labels: {
        [SERVICE_NAME_LABEL]: service,
        [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY_VALUE,
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      },
    },
    addressType: chunk.addressType,
    ports: [{ name: 'http', port: router.targetPort, protocol: 'TCP' }],
    endpoints: chunk.endpoints.map((endpoint) => ({
      addresses: [endpoint.ip],
      conditions: { ready: true, serving: true, terminating: false },
      ...(endpoint.nodeName !== undefined ? { nodeName: endpoint.nodeName } : {}),
    })),
  }));
}
