import type { RouterEndpoint } from '../alias/types.ts';

/** Kubernetes' own limit per EndpointSlice (kube-controller-manager's default is 100). */
export const MAX_ENDPOINTS_PER_SLICE = 100;

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The ready endpoints of the router, read from the EndpointSlices of its Service, and the
 * container port behind `portName`. Deduplicated by address and sorted, so the same set
 * always yields the same alias slices whatever order the slices and endpoints came in.
 */
export function routerEndpointsFromSlices(
  slices: readonly unknown[],
  portName: string,
): { endpoints: RouterEndpoint[]; targetPort: number } {
  const byIp = new Map<string, RouterEndpoint>();
  let targetPort = 0;
  for (const slice of slices) {
    if (!isObj(slice)) continue;
    const addressType = slice.addressType;
    if (addressType !== 'IPv4' && addressType !== 'IPv6') continue;
    const ports = Array.isArray(slice.ports) ? slice.ports.filter(isObj) : [];
    const port = ports.find((candidate) => (candidate.name ?? '') === portName);
    if (port === undefined || typeof port.port !== 'number') continue;
    targetPort = targetPort === 0 ? port.port : Math.min(targetPort, port.port);
    for (const endpoint of Array.isArray(slice.endpoints) ? slice.endpoints : []) {
      if (!isObj(endpoint)) continue;
      const conditions = isObj(endpoint.conditions) ? endpoint.conditions : {};
      // Absent `ready` means ready (EndpointConditions API docs).
      if (conditions.ready === false) continue;
      const address = Array.isArray(endpoint.addresses) ? endpoint.addresses[0] : undefined;
      if (typeof address !== 'string') continue;
      byIp.set(address, {
        ip: address,
        addressType,
        ...(typeof endpoint.nodeName === 'string' ? { nodeName: endpoint.nodeName } : {}),
      });
    }
  }
  const endpoints = [...byIp.values()].sort((a, b) => compareIps(a.ip, b.ip));
  return { endpoints, targetPort };
}

function compareIps(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Splits endpoints into chunks of at most `max`, by address family; at least one (empty) slice. */
export function chunkEndpoints(
  endpoints: readonly RouterEndpoint[],
  max = MAX_ENDPOINTS_PER_SLICE,
): { addressType: 'IPv4' | 'IPv6'; endpoints: RouterEndpoint[] }[] {
  const chunks: { addressType: 'IPv4' | 'IPv6'; endpoints: RouterEndpoint[] }[] = [];
  for (const addressType of ['IPv4', 'IPv6'] as const) {
    const family = endpoints.filter((endpoint) => endpoint.addressType === addressType);
    for (let i = 0; i < family.length; i += max) {
      chunks.push({ addressType, endpoints: family.slice(i, i + max) });
    }
  }
  if (chunks.length === 0) chunks.push({ addressType: 'IPv4', endpoints: [] });
  return chunks;
}
