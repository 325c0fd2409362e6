import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkEndpoints, routerEndpointsFromSlices } from './slices.ts';

const slice = (addressType: string, port: number, endpoints: unknown[], name = 'http') => ({
  addressType,
  ports: [{ name, port, protocol: 'TCP' }],
  endpoints,
});

test('only ready router endpoints are copied, deduplicated and sorted, with their port', () => {
  const result = routerEndpointsFromSlices(
    [
      slice('IPv4', 81, [
        { addresses: ['10.244.1.3'], conditions: { ready: true }, nodeName: 'node-1' },
        { addresses: ['10.244.1.1'], conditions: {} },
        {
          addresses: ['10.244.1.2'],
          conditions: { ready: false, serving: true, terminating: true },
        },
      ]),
      slice('IPv4', 81, [
        { addresses: ['10.244.1.3'], conditions: { ready: true }, nodeName: 'node-1' },
      ]),
      slice('IPv4', 9999, [{ addresses: ['10.244.7.7'] }], 'metrics'),
      { addressType: 'FQDN', ports: [], endpoints: [] },
    ],
    'http',
  );
  assert.equal(result.targetPort, 81);
  assert.deepEqual(result.endpoints, [
    { ip: '10.244.1.1', addressType: 'IPv4' },
    { ip: '10.244.1.3', addressType: 'IPv4', nodeName: 'node-1' },
  ]);
});

test('no slices → no endpoints and no port', () => {
  assert.deepEqual(routerEndpointsFromSlices([], 'http'), { endpoints: [], targetPort: 0 });
});

test('chunks of at most 100 per address family, and one empty slice for none', () => {
  const v4 = Array.from({ length: 201 }, (_, i) => ({
    ip: `10.0.${i >> 8}.${i & 255}`,
    addressType: 'IPv4' as const,
  }));
  const v6 = [{ ip: 'fd00::1', addressType: 'IPv6' as const }];
  assert.deepEqual(
    chunkEndpoints([...v4, ...v6]).map((c) => [c.addressType, c.endpoints.length]),
    [
      ['IPv4', 100],
      ['IPv4', 100],
      ['IPv4', 1],
      ['IPv6', 1],
    ],
  );
  assert.deepEqual(chunkEndpoints([]), [{ addressType: 'IPv4', endpoints: [] }]);
});
