import type { EndpointSliceInfo, ServiceInfo, ServicePort, SliceEndpoint } from './types.ts';

/**
 * Converts Service and `discovery.k8s.io/v1` EndpointSlice objects (from YAML or the API)
 * into the router's records. Returns `undefined` for an object that is not usable.
 */

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

const bool = (value: unknown): boolean | undefined =>
  typeof value === 'boolean' ? value : undefined;

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(value)) return out;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string') out[key] = entry;
    else if (typeof entry === 'number' || typeof entry === 'boolean') out[key] = String(entry);
  }
  return out;
}

function timestamp(value: unknown): number {
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : 0;
  return Number.isNaN(ms) ? 0 : ms;
}

const isPort = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;

export function serviceFromObject(object: unknown): ServiceInfo | undefined {
  if (!isObj(object) || !isObj(object.metadata)) return undefined;
  const metadata = object.metadata;
  const name = str(metadata.name);
  if (name === '') return undefined;
  const namespace = str(metadata.namespace) || 'default';
  const spec = isObj(object.spec) ? object.spec : {};
  const ports: ServicePort[] = [];
  if (Array.isArray(spec.ports)) {
    for (const port of spec.ports) {
      if (!isObj(port) || !isPort(port.port)) continue;
      const appProtocol = str(port.appProtocol).toLowerCase();
      ports.push({
        name: str(port.name),
        port: port.port,
        protocol: str(port.protocol) || 'TCP',
        ...(appProtocol !== '' ? { appProtocol } : {}),
      });
    }
  }
  return {
    namespace,
    name,
    uid: str(metadata.uid) || `${namespace}/${name}`,
    createdAt: timestamp(metadata.creationTimestamp),
    labels: stringMap(metadata.labels),
    annotations: stringMap(metadata.annotations),
    type: str(spec.type) || 'ClusterIP',
    externalName: str(spec.externalName),
    ports,
    terminating: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
  };
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function endpointSliceFromObject(object: unknown): EndpointSliceInfo | undefined {
  if (!isObj(object) || !isObj(object.metadata)) return undefined;
  const metadata = object.metadata;
  const name = str(metadata.name);
  if (name === '') return undefined;
  const labels = stringMap(metadata.labels);
  const ports = new Map<string, number>();
  if (Array.isArray(object.ports)) {
    for (const port of object.ports) {
      if (!isObj(port) || !isPort(port.port)) continue;
      if ((str(port.protocol) || 'TCP') !== 'TCP') continue;
      ports.set(str(port.name), port.port);
    }
  }
  const endpoints: SliceEndpoint[] = [];
  if (Array.isArray(object.endpoints)) {
    for (const endpoint of object.endpoints) {
      if (!isObj(endpoint) || !Array.isArray(endpoint.addresses)) continue;
      const conditions = isObj(endpoint.conditions) ? endpoint.conditions : {};
      endpoints.push({
        addresses: endpoint.addresses.filter((a): a is string => typeof a === 'string'),
        ready: bool(conditions.ready),
        serving: bool(conditions.serving),
        terminating: bool(conditions.terminating),
      });
    }
  }
  return {
    namespace: str(metadata.namespace) || 'default',
    name,
    serviceName: labels[SERVICE_NAME_LABEL] ?? '',
    addressType: str(object.addressType),
    ports,
    endpoints,
  };
}
