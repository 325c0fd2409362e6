import { matchesSelector, type PodInfo, parseAliasHost, parseHosts } from '@podrouter/core';
import type { AliasMode, AllowRule } from '../config.ts';
import { ALIAS_MODES } from '../config.ts';
import { chunkEndpoints } from '../endpoints/slices.ts';
import {
  ALLOW_FROM_ANNOTATION,
  type AliasInputs,
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

/**
 * Caches → the alias objects that should exist. Pure: the same inputs give the same
 * objects, in the same order, whatever order the Pods arrived in.
 *
 * - Each `<service>.<namespace>[.svc[.<domain>]]` host of a routable Pod claims the alias
 *   Service `<service>` in `<namespace>`; other hosts, invalid names, missing namespaces and
 *   cross-namespace claims nobody allowed are reported as problems.
 * - Several namespaces claiming one alias: the one whose oldest claiming Pod is oldest wins
 *   (ties by namespace name); a Service of that name not managed by podrouter wins always.
 * - An alias nobody claims keeps its objects, marked with the time it lost its last claim,
 *   until the grace period is over; then it is no longer desired.
 */
export function desiredAliases(inputs: AliasInputs, options: AliasOptions): DesiredState {
  const problems: ClaimProblem[] = [];
  const claims = new Map<string, Map<string, NamespaceClaim>>();
  const pods = [...inputs.pods].sort((a, b) =>
    a.namespace < b.namespace
      ? -1
      : a.namespace > b.namespace
        ? 1
        : a.name < b.name
          ? -1
          : a.name > b.name
            ? 1
            : 0,
  );
  for (const pod of pods) {
    if (!holdsClaims(pod) || !matchesSelector(options.selector, pod.labels)) continue;
    const value = pod.annotations[options.hostsAnnotation];
    if (value === undefined) continue;
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
      const { service, namespace } = result.alias;
      const target = inputs.namespaces.get(namespace);
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
      const key = `${namespace}/${service}`;
      let byNamespace = claims.get(key);
      if (byNamespace === undefined) {
        byNamespace = new Map();
        claims.set(key, byNamespace);
      }
      let claim = byNamespace.get(pod.namespace);
      if (claim === undefined) {
        claim = { namespace: pod.namespace, claimedAt: pod.createdAt, pods: [] };
        byNamespace.set(pod.namespace, claim);
      }
      claim.claimedAt = Math.min(claim.claimedAt, pod.createdAt);
      if (!claim.pods.includes(pod)) claim.pods.push(pod);
    }
  }

  const aliases = new Map<string, DesiredAlias>();
  const pending: string[] = [];
  for (const key of [...claims.keys()].sort()) {
    const [namespace = '', name = ''] = key.split('/');
    const contenders = [...(claims.get(key)?.values() ?? [])].sort(
      (a, b) => a.claimedAt - b.claimedAt || (a.namespace < b.namespace ? -1 : 1),
    );
    const existing = inputs.services.get(key);
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
      continue;
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
    if (alias === undefined) pending.push(key);
    else aliases.set(key, alias);
  }

  let nextExpiry: number | undefined;
  for (const [key, service] of [...inputs.services.entries()].sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    if (!isManaged(service) || aliases.has(key) || pending.includes(key)) continue;
    const marked = Date.parse(service.metadata.annotations?.[UNCLAIMED_SINCE_ANNOTATION] ?? '');
    const since = Number.isNaN(marked) ? inputs.now : marked;
    const expiry = since + options.graceMs;
    if (inputs.now >= expiry) continue;
    nextExpiry = nextExpiry === undefined ? expiry : Math.min(nextExpiry, expiry);
    const alias = buildAlias(
      service.metadata.namespace,
      service.metadata.name,
      [],
      since,
      inputs,
      options,
    );
    if (alias === undefined) pending.push(key);
    else aliases.set(key, alias);
  }
  return { aliases, problems, pending, nextExpiry };
}

function buildAlias(
  namespace: string,
  name: string,
  claimedBy: readonly string[],
  unclaimedSince: number | undefined,
  inputs: AliasInputs,
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
