import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import { buildRouteTable, type TableOptions } from '../routes/build-table.ts';
import { IncrementalTable } from '../routes/incremental-table.ts';
import { endpointSliceFromObject, serviceFromObject } from './from-object.ts';
import { numberPortNames, serviceBackends } from './service-claimant.ts';
import type { EndpointSliceInfo, ServiceInfo } from './types.ts';

const T0 = Date.UTC(2025, 0, 1);

function service(overrides: Partial<ServiceInfo> = {}): ServiceInfo {
  return {
    namespace: 'ext',
    name: 'billing',
    uid: 'uid-billing',
    createdAt: T0,
    labels: { routable: 'true' },
    annotations: { publicHosts: 'billing.example', publicPaths: 'http:/' },
    type: 'ClusterIP',
    externalName: '',
    ports: [
      { name: 'http', port: 80, protocol: 'TCP' },
      { name: 'admin', port: 9000, protocol: 'TCP' },
    ],
    terminating: false,
    ...overrides,
  };
}

function slice(
  name: string,
  endpoints: EndpointSliceInfo['endpoints'],
  ports: [string, number][] = [['http', 8080]],
  overrides: Partial<EndpointSliceInfo> = {},
): EndpointSliceInfo {
  return {
    namespace: 'ext',
    name,
    serviceName: 'billing',
    addressType: 'IPv4',
    ports: new Map(ports),
    endpoints,
    ...overrides,
  };
}

const up = (...addresses: string[]) => ({
  addresses,
  ready: true,
  serving: true,
  terminating: false,
});

function options(): TableOptions {
  return {
    hostsAnnotation: 'publicHosts',
    pathsAnnotation: 'publicPaths',
    selector: parseLabelSelector('routable=true'),
    health: new EndpointHealth({ ejectionMs: 1000, now: () => 0 }),
    now: T0,
  };
}

const keys = (table: ReturnType<typeof buildRouteTable>, host: string, path = '/') =>
  table.hosts
    .get(host)
    ?.get(path)
    ?.balancer.endpoints.map((endpoint) => endpoint.key);

describe('numberPortNames', () => {
  it('turns known Service port names into their numbers and leaves the rest', () => {
    assert.equal(
      numberPortNames(' http:/a  9000:/b nope:/c bad ', service()),
      '80:/a 9000:/b nope:/c bad',
    );
  });
});

describe('serviceBackends', () => {
  it('maps each Service port to the endpoint port of the same name in every slice', () => {
    const backends = serviceBackends(service(), [
      slice('a', [up('192.0.2.2', '192.0.2.1')], [['http', 8080]]),
      slice(
        'b',
        [up('192.0.2.3')],
        [
          ['http', 8081],
          ['admin', 9100],
        ],
      ),
    ]);
    assert.deepEqual(backends.get(80), [
      { ip: '192.0.2.1', port: 8080 },
      { ip: '192.0.2.2', port: 8080 },
      { ip: '192.0.2.3', port: 8081 },
    ]);
    assert.deepEqual(backends.get(9000), [{ ip: '192.0.2.3', port: 9100 }]);
  });

  it('honours conditions: not-ready out, serving+terminating only when nothing is ready', () => {
    const draining = { addresses: ['192.0.2.9'], ready: false, serving: true, terminating: true };
    const down = { addresses: ['192.0.2.8'], ready: false, serving: false, terminating: false };
    const unknown = {
      addresses: ['192.0.2.7'],
      ready: undefined,
      serving: undefined,
      terminating: undefined,
    };
    assert.deepEqual(serviceBackends(service(), [slice('a', [draining, down, unknown])]).get(80), [
      { ip: '192.0.2.7', port: 8080 },
    ]);
    assert.deepEqual(serviceBackends(service(), [slice('a', [draining, down])]).get(80), [
      { ip: '192.0.2.9', port: 8080 },
    ]);
  });

  it('skips FQDN slices and slices without the port', () => {
    const backends = serviceBackends(service(), [
      slice('a', [up('db.example')], [['http', 80]], { addressType: 'FQDN' }),
      slice('b', [up('192.0.2.1')], [['other', 80]]),
    ]);
    assert.deepEqual(backends.get(80), []);
  });

  it('does not depend on the order of slices or endpoints', () => {
    const address = fc.ipV4();
    const endpoint = fc.record({
      addresses: fc.array(address, { maxLength: 3 }),
      ready: fc.option(fc.boolean(), { nil: undefined }),
      serving: fc.option(fc.boolean(), { nil: undefined }),
      terminating: fc.option(fc.boolean(), { nil: undefined }),
    });
    const slices = fc.array(
      fc.record({
        endpoints: fc.array(endpoint, { maxLength: 4 }),
        port: fc.integer({ min: 1, max: 3 }),
      }),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(slices, fc.integer(), (list, seed) => {
        const built = list.map((s, i) => slice(`s${i}`, s.endpoints, [['http', s.port]]));
        const shuffled = [...built]
          .map((s, i) => ({ s, k: (i * 7919 + seed) % 13 }))
          .sort((a, b) => a.k - b.k)
          .map(({ s }) => ({ ...s, endpoints: [...s.endpoints].reverse() }));
        assert.deepEqual(
          serviceBackends(service(), shuffled).get(80),
          serviceBackends(service(), built).get(80),
        );
      }),
    );
  });
});

describe('Services in the route table', () => {
  const state = (extra: Partial<ClusterState> = {}): ClusterState => ({
    pods: [],
    secrets: [],
    services: [service()],
    endpointSlices: [slice('billing-1', [up('192.0.2.1', '192.0.2.2')])],
    ...extra,
  });

  it('routes a selected, annotated Service to its EndpointSlice addresses', () => {
    const table = buildRouteTable(state(), options());
    assert.deepEqual(keys(table, 'billing.example'), ['192.0.2.1:8080', '192.0.2.2:8080']);
    assert.equal(table.pods.length, 0);
  });

  it('reports an unknown port name and a Service without ready endpoints', () => {
    const table = buildRouteTable(
      state({
        services: [service({ annotations: { publicHosts: 'b.example', publicPaths: 'grpc:/' } })],
        endpointSlices: [],
      }),
      options(),
    );
    assert.equal(table.routes.length, 0);
    const [report] = table.pods;
    assert.equal(report?.name, 'service:billing');
    assert.match(report?.rejections[0]?.reason ?? '', /"grpc" is not a port number/);
    assert.equal(report?.notServing, 'no ready endpoint in its EndpointSlices');
  });

  it('loses to an older Pod claiming the same host+path in another namespace', () => {
    const pod: PodInfo = {
      namespace: 'apps',
      name: 'web-1',
      uid: 'p',
      createdAt: T0 - 1000,
      labels: { routable: 'true' },
      annotations: { publicHosts: 'billing.example', publicPaths: '3000:/' },
      containerPorts: [3000],
      phase: 'Running',
      podIP: '10.0.0.5',
      ready: true,
      terminating: false,
    };
    const table = buildRouteTable(state({ pods: [pod] }), options());
    assert.deepEqual(keys(table, 'billing.example'), ['10.0.0.5:3000']);
    const report = table.pods.find((r) => r.name === 'service:billing');
    assert.match(report?.rejections[0]?.reason ?? '', /already claimed by namespace apps/);
  });

  it('patches the incremental table when a Service or its slices change', () => {
    const table = new IncrementalTable(options());
    const first = state({ sequence: 1 });
    const t1 = table.apply(first, { version: 1, now: T0 });
    assert.deepEqual(keys(t1, 'billing.example'), ['192.0.2.1:8080', '192.0.2.2:8080']);
    const second: ClusterState = {
      ...first,
      endpointSlices: [slice('billing-1', [up('192.0.2.3')])],
      sequence: 2,
      changes: {
        since: 1,
        pods: new Map(),
        secretNamespaces: new Set(),
        services: new Set(['ext/billing']),
      },
    };
    const t2 = table.apply(second, { version: 2, now: T0 });
    assert.deepEqual(keys(t2, 'billing.example'), ['192.0.2.3:8080']);
    const reference = buildRouteTable(second, options());
    assert.deepEqual(keys(reference, 'billing.example'), keys(t2, 'billing.example'));
    const third: ClusterState = {
      ...second,
      services: [],
      sequence: 3,
      changes: {
        since: 2,
        pods: new Map(),
        secretNamespaces: new Set(),
        services: new Set(['ext/billing']),
      },
    };
    assert.equal(table.apply(third, { version: 3, now: T0 }).hosts.has('billing.example'), false);
  });
});

describe('ExternalName Services', () => {
  const external = service({
    type: 'ExternalName',
    externalName: 'db.example',
    ports: [{ name: 'http', port: 8443, protocol: 'TCP' }],
  });

  it('load-balances every resolved address on the Service port', () => {
    const table = buildRouteTable(
      {
        pods: [],
        secrets: [],
        services: [external],
        externalNames: new Map([['db.example', { addresses: ['192.0.2.2', '192.0.2.1'] }]]),
      },
      options(),
    );
    assert.deepEqual(keys(table, 'billing.example'), ['192.0.2.1:8443', '192.0.2.2:8443']);
  });

  it('reports a name that stopped resolving, and one not resolved yet', () => {
    const failing = buildRouteTable(
      {
        pods: [],
        secrets: [],
        services: [external],
        externalNames: new Map([['db.example', { addresses: ['192.0.2.1'], error: 'ENOTFOUND' }]]),
      },
      options(),
    );
    assert.deepEqual(keys(failing, 'billing.example'), ['192.0.2.1:8443']);
    assert.match(
      failing.pods[0]?.rejections[0]?.reason ?? '',
      /db\.example does not resolve \(ENOTFOUND\); keeping the last addresses \(192\.0\.2\.1\)/,
    );
    const pending = buildRouteTable({ pods: [], secrets: [], services: [external] }, options());
    assert.equal(pending.pods[0]?.notServing, 'its ExternalName db.example has no address yet');
  });
});

describe('from objects', () => {
  it('reads a Service and an EndpointSlice as the API gives them', () => {
    const svc = serviceFromObject({
      metadata: { name: 'b', namespace: 'ext', creationTimestamp: '2025-01-01T00:00:00Z' },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { port: 'x' }] },
    });
    assert.deepEqual(svc?.ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
    assert.equal(svc?.createdAt, T0);
    const es = endpointSliceFromObject({
      metadata: { name: 'b-1', namespace: 'ext', labels: { 'kubernetes.io/service-name': 'b' } },
      addressType: 'IPv4',
      ports: [
        { name: 'http', port: 8080 },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
      endpoints: [{ addresses: ['192.0.2.1', 7], conditions: { ready: false } }],
    });
    assert.equal(es?.serviceName, 'b');
    assert.deepEqual([...(es?.ports ?? [])], [['http', 8080]]);
    assert.deepEqual(es?.endpoints, [
      { addresses: ['192.0.2.1'], ready: false, serving: undefined, terminating: undefined },
    ]);
  });
});
