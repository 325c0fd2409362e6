// Shared inputs of the alias unit tests.
import { type PodInfo, parseLabelSelector } from '@podrouter/core';
import type { AliasInputs, AliasOptions, NamespaceInfo, RouterTarget } from '../types.ts';

export const T0 = Date.parse('2025-01-01T00:00:00Z');

export function pod(
  namespace: string,
  name: string,
  hosts: string,
  over: Partial<PodInfo> = {},
): PodInfo {
  return {
    namespace,
    name,
    uid: `uid-${namespace}-${name}`,
    createdAt: T0,
    labels: { routable: 'true' },
    annotations: { privateHosts: hosts, privatePaths: '8080:/' },
    containerPorts: [8080],
    phase: 'Running',
    podIP: '10.244.1.1',
    ready: true,
    terminating: false,
    ...over,
  };
}

export const ns = (
  name: string,
  annotations: Record<string, string> = {},
): [string, NamespaceInfo] => [name, { name, annotations }];

export const router: RouterTarget = {
  namespace: 'podrouter',
  name: 'podrouter-private',
  clusterIP: '10.96.0.50',
  servicePort: 80,
  targetPort: 81,
  endpoints: [
    { ip: '10.244.9.2', addressType: 'IPv4' },
    { ip: '10.244.9.1', addressType: 'IPv4' },
  ].sort((a, b) => (a.ip < b.ip ? -1 : 1)) as RouterTarget['endpoints'],
};

export const options: AliasOptions = {
  hostsAnnotation: 'privateHosts',
  selector: parseLabelSelector('routable=true'),
  clusterDomain: 'cluster.local',
  routerService: { namespace: 'podrouter', name: 'podrouter-private' },
  mode: 'endpointslice',
  graceMs: 300_000,
  allow: [],
};

export function inputs(over: Partial<AliasInputs> = {}): AliasInputs {
  return {
    pods: [],
    namespaces: new Map([
      ns('my-ns'),
      ns('other'),
      ns('shared', { 'podrouter.dev/allow-aliases-from': 'other' }),
      ns('podrouter'),
    ]),
    services: new Map(),
    router,
    now: T0 + 1000,
    ...over,
  };
}
