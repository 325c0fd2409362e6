import type { Rejection } from '../annotations/parse.ts';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import {
  type BackendTlsAnnotations,
  type BackendTlsContext,
  backendTlsContext,
  serviceTls,
} from './backend-tls.ts';
import type { Backend, EndpointSliceInfo, ResolvedName, ServiceInfo } from './types.ts';

/** Claimant names of Services carry this prefix: a Pod name cannot contain `:`. */
export const SERVICE_CLAIMANT_PREFIX = 'service:';

export const serviceClaimantKey = (namespace: string, name: string) =>
  `${namespace}/${SERVICE_CLAIMANT_PREFIX}${name}`;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `PORT:PATH` entries name a Service port by name or number; the table reads numbers, so a
 * known name becomes its port number here. Other entries are left for the parser to judge.
 */
export function numberPortNames(value: string, service: ServiceInfo): string {
  return value
    .split(/\s+/)
    .filter((entry) => entry !== '')
    .map((entry) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) return entry;
      const name = entry.slice(0, colon);
      if (/^[0-9]+$/.test(name)) return entry;
      const port = service.ports.find((p) => p.name === name && p.protocol === 'TCP');
      return port === undefined ? entry : `${port.port}${entry.slice(colon)}`;
    })
    .join(' ');
}

/**
 * The addresses a Service port's traffic goes to, read as kube-proxy reads them: endpoints
 * whose `ready` is not false; when none is, the ones still `serving` while `terminating`
 * (so connections drain rather than fail during a rollout). FQDN slices are not routed.
 */
export function serviceBackends(
  service: ServiceInfo,
  slices: readonly EndpointSliceInfo[],
): Map<number, Backend[]> {
  const out = new Map<number, Backend[]>();
  for (const servicePort of service.ports) {
    if (servicePort.protocol !== 'TCP') continue;
    const ready: Backend[] = [];
    const draining: Backend[] = [];
    for (const slice of slices) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      const port = slice.ports.get(servicePort.name);
      if (port === undefined) continue;
      for (const endpoint of slice.endpoints) {
        const list =
          endpoint.ready !== false
            ? ready
            : endpoint.serving === true && endpoint.terminating === true
              ? draining
              : undefined;
        if (list === undefined) continue;
        for (const ip of endpoint.addresses) list.push({ ip, port });
      }
    }
    const chosen = ready.length > 0 ? ready : draining;
    const unique = new Map(chosen.map((backend) => [`${backend.ip}|${backend.port}`, backend]));
    out.set(
      servicePort.port,
      [...unique.values()].sort((a, b) => compare(a.ip, b.ip) || a.port - b.port),
    );
  }
  return out;
}

/**
 * A Service as the route table sees it: a claimant shaped like a Pod (same claim rules, same
 * reports), whose endpoints are its backends. Port names in the paths annotations become
 * numbers; the table skips it like a Pod when it is not selected or not annotated.
 */
export function serviceClaimant(
  service: ServiceInfo,
  slices: readonly EndpointSliceInfo[],
  pathsAnnotations: readonly string[],
  externalNames: ReadonlyMap<string, ResolvedName> = new Map(),
  tlsContext?: BackendTlsContext,
): PodInfo {
  const annotations: Record<string, string> = { ...service.annotations };
  for (const name of pathsAnnotations) {
    const value = annotations[name];
    if (value !== undefined) annotations[name] = numberPortNames(value, service);
  }
  const external = service.type === 'ExternalName';
  const resolved = external ? externalNames.get(service.externalName) : undefined;
  const tls = serviceTls(service, tlsContext);
  const backends = external
    ? externalBackends(service, resolved)
    : serviceBackends(service, slices);
  // A TLS port whose CA cannot be used gets no backend: never plaintext, never unverified.
  for (const port of tls.disabled) backends.set(port, []);
  const problems: Rejection[] = [...tls.problems];
  if (resolved?.error !== undefined)
    problems.push({
      annotation: 'spec.externalName',
      entry: service.externalName,
      reason: `${service.externalName} does not resolve (${resolved.error}); ${resolved.addresses.length > 0 ? `keeping the last addresses (${resolved.addresses.join(', ')})` : 'no address to route to'}`,
    });
  return {
    namespace: service.namespace,
    name: `${SERVICE_CLAIMANT_PREFIX}${service.name}`,
    uid: service.uid,
    createdAt: service.createdAt,
    labels: service.labels,
    annotations,
    containerPorts: service.ports
      .filter((port) => port.protocol === 'TCP')
      .map((port) => port.port)
      .sort((a, b) => a - b),
    phase: 'Running',
    podIP: '',
    ready: true,
    terminating: service.terminating,
    service: {
      name: service.name,
      backends,
      idle:
        tls.reason ??
        (external
          ? `its ExternalName ${service.externalName || '(empty)'} has no address${resolved === undefined ? ' yet' : ''}`
          : 'no ready endpoint in its EndpointSlices'),
      problems,
      ...(tls.ports.size > 0 ? { tls: tls.ports } : {}),
    },
  };
}

/**
 * An ExternalName Service's backends: every address its name resolved to, on each Service
 * port (there is no targetPort: clients of the name connect to the port itself).
 */
export function externalBackends(
  service: ServiceInfo,
  resolved: ResolvedName | undefined,
): Map<number, Backend[]> {
  const out = new Map<number, Backend[]>();
  const addresses = [...new Set(resolved?.addresses ?? [])].sort(compare);
  for (const { port, protocol } of service.ports) {
    if (protocol === 'TCP')
      out.set(
        port,
        addresses.map((ip) => ({ ip, port })),
      );
  }
  return out;
}

/** EndpointSlices by the `namespace/name` of the Service they belong to. */
export function slicesByService(
  slices: readonly EndpointSliceInfo[],
): Map<string, EndpointSliceInfo[]> {
  const out = new Map<string, EndpointSliceInfo[]>();
  for (const slice of slices) {
    if (slice.serviceName === '') continue;
    const key = `${slice.namespace}/${slice.serviceName}`;
    const list = out.get(key);
    if (list) list.push(slice);
    else out.set(key, [slice]);
  }
  return out;
}

/** Every Service of the state as a claimant (empty when the source reads no Services). */
export function serviceClaimants(
  state: ClusterState,
  pathsAnnotations: readonly string[],
  tlsAnnotations?: BackendTlsAnnotations,
): PodInfo[] {
  if (state.services === undefined || state.services.length === 0) return [];
  const slices = slicesByService(state.endpointSlices ?? []);
  const tls = backendTlsContext(state, tlsAnnotations);
  return state.services.map((service) =>
    serviceClaimant(
      service,
      slices.get(`${service.namespace}/${service.name}`) ?? [],
      pathsAnnotations,
      state.externalNames,
      tls,
    ),
  );
}

/** One Service's claimant by `namespace/name`, or `undefined` when it is gone. */
export function serviceClaimantOf(
  state: ClusterState,
  key: string,
  pathsAnnotations: readonly string[],
  tlsAnnotations?: BackendTlsAnnotations,
): PodInfo | undefined {
  const service = state.services?.find((s) => `${s.namespace}/${s.name}` === key);
  if (service === undefined) return undefined;
  const slices = (state.endpointSlices ?? []).filter(
    (slice) => slice.namespace === service.namespace && slice.serviceName === service.name,
  );
  return serviceClaimant(
    service,
    slices,
    pathsAnnotations,
    state.externalNames,
    backendTlsContext(state, tlsAnnotations),
  );
}
