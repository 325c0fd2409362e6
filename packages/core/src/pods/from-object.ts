import type { PodInfo, SecretInfo } from './types.ts';

/**
 * Converts Kubernetes objects, as found in YAML files or returned by
 * `@kubernetes/client-node` (whose timestamps are `Date`s), into the router's records.
 * Returns `undefined` for an object that is not a usable Pod or Secret.
 */

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

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
  // An invalid Date is NaN too, and NaN would make the oldest-claim-wins order arbitrary.
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : 0;
  return Number.isNaN(ms) ? 0 : ms;
}

/** The port-naming convention meshes use for HTTP/2 cleartext (gRPC) ports. */
export const isH2cPortName = (name: string): boolean =>
  name === 'grpc' || name === 'h2c' || name.startsWith('grpc-') || name.startsWith('http2-');

function containerPorts(spec: Obj): { ports: number[]; h2c: number[] } {
  const ports = new Set<number>();
  const h2c = new Set<number>();
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const container of list) {
      if (!isObj(container) || !Array.isArray(container.ports)) continue;
      // Init containers only count when they are restartable sidecars.
      if (list === spec.initContainers && container.restartPolicy !== 'Always') continue;
      for (const port of container.ports) {
        if (!isObj(port) || !Number.isInteger(port.containerPort)) continue;
        ports.add(port.containerPort as number);
        if (isH2cPortName(str(port.name))) h2c.add(port.containerPort as number);
      }
    }
  }
  const ascending = (a: number, b: number) => a - b;
  return { ports: [...ports].sort(ascending), h2c: [...h2c].sort(ascending) };
}

function isReady(status: Obj): boolean {
  if (!Array.isArray(status.conditions)) return false;
  return status.conditions.some(
    (condition) => isObj(condition) && condition.type === 'Ready' && condition.status === 'True',
  );
}

export function podFromObject(object: unknown): PodInfo | undefined {
  if (!isObj(object) || !isObj(object.metadata)) return undefined;
  const metadata = object.metadata;
  const name = str(metadata.name);
  if (name === '') return undefined;
  const spec = isObj(object.spec) ? object.spec : {};
  const status = isObj(object.status) ? object.status : {};
  const ports = containerPorts(spec);
  return {
    namespace: str(metadata.namespace) || 'default',
    name,
    uid: str(metadata.uid) || `${str(metadata.namespace) || 'default'}/${name}`,
    createdAt: timestamp(metadata.creationTimestamp),
    labels: stringMap(metadata.labels),
    annotations: stringMap(metadata.annotations),
    containerPorts: ports.ports,
    ...(ports.h2c.length > 0 ? { h2cPorts: ports.h2c } : {}),
    phase: str(status.phase),
    podIP: str(status.podIP),
    ready: isReady(status),
    terminating: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
  };
}

export function secretFromObject(object: unknown): SecretInfo | undefined {
  if (!isObj(object) || !isObj(object.metadata)) return undefined;
  const name = str(object.metadata.name);
  if (name === '') return undefined;
  const data: Record<string, Buffer> = {};
  if (isObj(object.data)) {
    for (const [key, value] of Object.entries(object.data)) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'base64');
    }
  }
  if (isObj(object.stringData)) {
    for (const [key, value] of Object.entries(object.stringData)) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8');
    }
  }
  const type = str(object.type);
  return {
    namespace: str(object.metadata.namespace) || 'default',
    name,
    ...(type !== '' ? { type } : {}),
    data,
  };
}
