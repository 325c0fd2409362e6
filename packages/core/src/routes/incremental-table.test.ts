import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PARSEABLE_CA } from '../backends/testing/ca.ts';
import type { EndpointSliceInfo, ServiceInfo } from '../backends/types.ts';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import type { Pipeline, PipelineCompiler } from '../pipeline/types.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
import type { ClusterState, PodInfo, SecretInfo } from '../pods/types.ts';
import { buildRouteTable, type TableOptions } from './build-table.ts';
import { IncrementalTable } from './incremental-table.ts';
import type { Route, RouteTable } from './types.ts';

const HOSTS = 'publicHosts';
const PATHS = 'publicPaths';

const baseOptions = (aliasDomain?: string): TableOptions => ({
  hostsAnnotation: HOSTS,
  pathsAnnotation: PATHS,
  selector: parseLabelSelector('routable=true'),
  health: new EndpointHealth({ ejectionMs: 1000, now: () => 0 }),
  backendTls: { tls: 'publicBackendTls', serverName: 'publicBackendServerName' },
  ...(aliasDomain !== undefined ? { aliasDomain } : {}),
});

/** A pipeline that says which Secret of its namespace it was compiled with; the key `boom`
 * makes the compiler throw (the route is closed, with a rejection on its Pods). */
interface Marker extends Pipeline {
  readonly mark: string;
}

function compilerFor(state: ClusterState): PipelineCompiler {
  const keys = new Map(
    state.secrets
      .filter((secret) => secret.name === 'routing')
      .map((secret) => [secret.namespace, secret.data.key]),
  );
  return (route) => {
    const key = keys.get(route.namespace)?.toString();
    if (key === undefined) return null;
    if (key === 'boom') throw new Error(`appliesTo of ${route.namespace} exploded`);
    const marker: Marker = { mark: `${route.namespace}:${key}`, run: () => undefined };
    return marker;
  };
}

const routeView = (route: Route) => ({
  host: route.host,
  path: route.path,
  namespace: route.namespace,
  claimedAt: route.claimedAt,
  endpoints: route.balancer.endpoints,
  pipeline: route.pipeline === null ? null : ((route.pipeline as Marker).mark ?? 'closed'),
});

/** Everything a table says, as plain data (`hosts` is for lookups: its order is no part). */
function view(table: RouteTable) {
  return {
    hosts: [...table.hosts]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([host, paths]) => [host, [...paths].map(([path, route]) => [path, routeView(route)])]),
    routes: table.routes.map(routeView),
    pods: table.pods,
    rejectedEntries: table.rejectedEntries,
    aliases: table.aliases && {
      clusterDomain: table.aliases.clusterDomain,
      namespacesByService: [...table.aliases.namespacesByService],
      namespaceByPodIp: [...table.aliases.namespaceByPodIp],
    },
  };
}

// A small world, so that random changes collide: shared hosts, paths, IPs and ages.
const NAMESPACES = ['a', 'b', 'c'];
const hostEntry = fc.constantFrom(
  'one.example',
  'two.example',
  'svc.a',
  'svc.b.svc',
  'svc.b.svc.cluster.local',
  'other.c',
  'BAD_host',
  '10.0.0.1',
);
const pathEntry = fc.constantFrom('80:/', '80:/api', '8080:/api/v1', '9999:/x', 'nope', '80:/a//b');

const podArbitrary = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom('p0', 'p1', 'p2', 'p3'),
  createdAt: fc.integer({ min: 0, max: 3 }),
  routable: fc.boolean(),
  hosts: fc.option(fc.array(hostEntry, { maxLength: 3 }).map((list) => list.join(' '))),
  paths: fc.option(fc.array(pathEntry, { maxLength: 3 }).map((list) => list.join(' '))),
  phase: fc.constantFrom('Running', 'Running', 'Pending', 'Succeeded'),
  podIP: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::3', ''),
  ready: fc.boolean(),
  terminating: fc.boolean(),
});

// Services (EndpointSlice and ExternalName backends, TLS with a CA Secret) claim the same
// hosts and paths as the Pods: `80:/` is the Service port 80, `web:/api` and `https:/x` names.
const servicePath = fc.constantFrom('web:/', '80:/api', 'https:/x', 'web:/api/v1', 'nope:/y');
const serviceArbitrary = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom('s0', 's1'),
  createdAt: fc.integer({ min: 0, max: 3 }),
  routable: fc.boolean(),
  hosts: fc.option(fc.array(hostEntry, { maxLength: 2 }).map((list) => list.join(' '))),
  paths: fc.option(fc.array(servicePath, { maxLength: 2 }).map((list) => list.join(' '))),
  external: fc.boolean(),
  tls: fc.constantFrom(null, 'system', 'ca', 'bad/name'),
  terminating: fc.boolean(),
});
const sliceArbitrary = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  service: fc.constantFrom('s0', 's1'),
  name: fc.constantFrom('x', 'y'),
  ips: fc.array(fc.constantFrom('192.0.2.1', '192.0.2.2', '10.0.0.1'), { maxLength: 2 }),
  ready: fc.option(fc.boolean()),
});

const change = fc.oneof(
  { weight: 6, arbitrary: podArbitrary.map((pod) => ({ kind: 'pod' as const, pod })) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      namespace: fc.constantFrom(...NAMESPACES),
      name: fc.constantFrom('p0', 'p1', 'p2', 'p3'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('secret' as const),
      namespace: fc.constantFrom(...NAMESPACES),
      key: fc.option(fc.constantFrom('k1', 'k2', 'boom')),
    }),
  },
  {
    weight: 3,
    arbitrary: serviceArbitrary.map((service) => ({ kind: 'service' as const, service })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('delete-service' as const),
      namespace: fc.constantFrom(...NAMESPACES),
      name: fc.constantFrom('s0', 's1'),
    }),
  },
  { weight: 3, arbitrary: sliceArbitrary.map((slice) => ({ kind: 'slice' as const, slice })) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('ca' as const),
      namespace: fc.constantFrom(...NAMESPACES),
      pem: fc.constantFrom(null, 'valid', 'junk'),
    }),
  },
);

type Change = typeof change extends fc.Arbitrary<infer T> ? T : never;

function serviceOf(spec: Extract<Change, { kind: 'service' }>['service']): ServiceInfo {
  const annotations: Record<string, string> = {};
  if (spec.hosts !== null) annotations[HOSTS] = spec.hosts;
  if (spec.paths !== null) annotations[PATHS] = spec.paths;
  if (spec.tls !== null) annotations.publicBackendTls = spec.tls;
  return {
    namespace: spec.namespace,
    name: spec.name,
    uid: `svc-${spec.namespace}/${spec.name}`,
    createdAt: spec.createdAt,
    labels: spec.routable ? { routable: 'true' } : {},
    annotations,
    type: spec.external ? 'ExternalName' : 'ClusterIP',
    externalName: spec.external ? 'ext.example' : '',
    ports: [
      { name: 'web', port: 80, protocol: 'TCP' },
      { name: 'https', port: 443, protocol: 'TCP' },
    ],
    terminating: spec.terminating,
  };
}

function sliceOf(spec: Extract<Change, { kind: 'slice' }>['slice']): EndpointSliceInfo {
  return {
    namespace: spec.namespace,
    name: `${spec.service}-${spec.name}`,
    serviceName: spec.service,
    addressType: 'IPv4',
    ports: new Map([
      ['web', 8080],
      ['https', 8443],
    ]),
    endpoints: spec.ips.map((ip) => ({
      addresses: [ip],
      ready: spec.ready ?? undefined,
      serving: undefined,
      terminating: undefined,
    })),
  };
}

const EXTERNAL_NAMES = new Map([['ext.example', { addresses: ['198.51.100.1'] }]]);

function podOf(spec: Extract<Change, { kind: 'pod' }>['pod']): PodInfo {
  const annotations: Record<string, string> = {};
  if (spec.hosts !== null) annotations[HOSTS] = spec.hosts;
  if (spec.paths !== null) annotations[PATHS] = spec.paths;
  return {
    namespace: spec.namespace,
    name: spec.name,
    uid: `${spec.namespace}/${spec.name}`,
    createdAt: spec.createdAt,
    labels: spec.routable ? { routable: 'true' } : {},
    annotations,
    containerPorts: [80, 8080],
    phase: spec.phase,
    podIP: spec.podIP,
    ready: spec.ready,
    terminating: spec.terminating,
  };
}

describe('IncrementalTable', () => {
  it('patches to the same table a full build gives, for random sequences of changes (Pods, Services, slices, Secrets)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(change, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }),
        fc.boolean(),
        (batches, aliases) => {
          const options = baseOptions(aliases ? 'cluster.local' : undefined);
          const table = new IncrementalTable(options);
          const pods = new Map<string, PodInfo>();
          const secrets = new Map<string, SecretInfo>();
          const services = new Map<string, ServiceInfo>();
          const slices = new Map<string, EndpointSliceInfo>();
          let sequence = 0;
          for (const [index, batch] of batches.entries()) {
            const changedPods = new Map<string, PodInfo | undefined>();
            const secretNamespaces = new Set<string>();
            const changedServices = new Set<string>();
            for (const item of batch) {
              if (item.kind === 'pod') {
                const pod = podOf(item.pod);
                pods.set(`${pod.namespace}/${pod.name}`, pod);
                changedPods.set(`${pod.namespace}/${pod.name}`, pod);
              } else if (item.kind === 'delete') {
                const key = `${item.namespace}/${item.name}`;
                pods.delete(key);
                changedPods.set(key, undefined);
              } else if (item.kind === 'service') {
                const service = serviceOf(item.service);
                services.set(`${service.namespace}/${service.name}`, service);
                changedServices.add(`${service.namespace}/${service.name}`);
              } else if (item.kind === 'delete-service') {
                services.delete(`${item.namespace}/${item.name}`);
                changedServices.add(`${item.namespace}/${item.name}`);
              } else if (item.kind === 'slice') {
                const slice = sliceOf(item.slice);
                slices.set(`${slice.namespace}/${slice.name}`, slice);
                changedServices.add(`${slice.namespace}/${slice.serviceName}`);
              } else if (item.kind === 'ca') {
                const key = `${item.namespace}/ca`;
                if (item.pem === null) secrets.delete(key);
                else {
                  const pem = item.pem === 'valid' ? PARSEABLE_CA : 'junk';
                  secrets.set(key, {
                    namespace: item.namespace,
                    name: 'ca',
                    data: { 'ca.crt': Buffer.from(pem) },
                  });
                }
                secretNamespaces.add(item.namespace);
              } else {
                if (item.key === null) secrets.delete(item.namespace);
                else {
                  secrets.set(item.namespace, {
                    namespace: item.namespace,
                    name: 'routing',
                    data: { key: Buffer.from(item.key) },
                  });
                }
                secretNamespaces.add(item.namespace);
              }
            }
            const since = sequence++;
            const state: ClusterState = {
              pods: [...pods.values()],
              secrets: [...secrets.values()],
              services: [...services.values()],
              endpointSlices: [...slices.values()],
              externalNames: EXTERNAL_NAMES,
              sequence,
              // The first state is whole, as a source's first state is.
              ...(index === 0
                ? {}
                : {
                    changes: {
                      since,
                      pods: changedPods,
                      secretNamespaces,
                      services: changedServices,
                    },
                  }),
            };
            const compilePipeline = compilerFor(state);
            const patched = table.apply(state, { version: sequence, now: 0, compilePipeline });
            const full = buildRouteTable(state, {
              ...options,
              compilePipeline,
              version: sequence,
              now: 0,
            });
            assert.deepEqual(view(patched), view(full));
            const origins = full.routes.flatMap((route) =>
              route.balancer.endpoints.map((e) => e.origin),
            );
            assert.deepEqual([...table.origins].sort(), [...new Set(origins)].sort());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  const pod = (name: string, host: string, namespace = 'a'): PodInfo => ({
    namespace,
    name,
    uid: name,
    createdAt: 0,
    labels: { routable: 'true' },
    annotations: { [HOSTS]: host, [PATHS]: '80:/' },
    containerPorts: [80],
    phase: 'Running',
    podIP: '10.0.0.1',
    ready: true,
    terminating: false,
  });

  it('keeps the routes of untouched hosts (the same objects) and builds a new table', () => {
    const table = new IncrementalTable(baseOptions());
    const one = pod('one', 'one.example');
    const two = pod('two', 'two.example');
    const first = table.apply(
      { pods: [one, two], secrets: [], sequence: 1 },
      { version: 1, now: 0 },
    );
    const moved = { ...two, podIP: '10.0.0.9' };
    const second = table.apply(
      {
        pods: [one, moved],
        secrets: [],
        sequence: 2,
        changes: { since: 1, pods: new Map([['a/two', moved]]), secretNamespaces: new Set() },
      },
      { version: 2, now: 0 },
    );
    assert.notEqual(second, first);
    assert.equal(second.hosts.get('one.example'), first.hosts.get('one.example'));
    assert.notEqual(second.hosts.get('two.example'), first.hosts.get('two.example'));
    assert.equal(second.hosts.get('two.example')?.get('/')?.balancer.endpoints[0]?.ip, '10.0.0.9');
    assert.equal(first.hosts.get('two.example')?.get('/')?.balancer.endpoints[0]?.ip, '10.0.0.1');
  });

  it('reads the whole state again when a state does not follow the last one', () => {
    const table = new IncrementalTable(baseOptions());
    const one = pod('one', 'one.example');
    table.apply({ pods: [one], secrets: [], sequence: 1 }, { version: 1, now: 0 });
    const two = pod('two', 'two.example');
    // States 2 and 3 were never applied (their build failed): changes since 3 cannot be
    // patched onto state 1.
    const table4 = table.apply(
      {
        pods: [one, two],
        secrets: [],
        sequence: 4,
        changes: { since: 3, pods: new Map(), secretNamespaces: new Set() },
      },
      { version: 2, now: 0 },
    );
    assert.deepEqual([...table4.hosts.keys()], ['one.example', 'two.example']);
  });
});
