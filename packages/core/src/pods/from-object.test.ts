import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { podFromObject, secretFromObject } from './from-object.ts';

const running = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-1',
    namespace: 'team-a',
    uid: 'uid-1',
    creationTimestamp: '2025-01-01T00:00:00Z',
    labels: { routable: 'true', replicas: 3, canary: false, nested: { no: 'pe' } },
    annotations: { publicHosts: 'a.example', publicPaths: '8080:/api' },
  },
  spec: {
    containers: [
      { name: 'app', ports: [{ containerPort: 8080 }, { containerPort: 3000, protocol: 'TCP' }] },
      { name: 'metrics', ports: [{ containerPort: 9090 }, { containerPort: 8080 }] },
    ],
  },
  status: {
    phase: 'Running',
    podIP: '10.0.0.1',
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Ready', status: 'True' },
    ],
  },
};

describe('podFromObject', () => {
  it('reads a running Pod', () => {
    assert.deepEqual(podFromObject(running), {
      namespace: 'team-a',
      name: 'web-1',
      uid: 'uid-1',
      createdAt: Date.UTC(2025, 0, 1),
      labels: { routable: 'true', replicas: '3', canary: 'false' },
      annotations: { publicHosts: 'a.example', publicPaths: '8080:/api' },
      containerPorts: [3000, 8080, 9090],
      phase: 'Running',
      podIP: '10.0.0.1',
      ready: true,
      terminating: false,
    });
  });

  it('marks the ports named grpc, grpc-*, h2c or http2-* as HTTP/2 cleartext', () => {
    const named = (name: unknown, containerPort: number) => ({ name, containerPort });
    const spec = {
      containers: [
        {
          name: 'app',
          ports: [
            named('grpc', 1),
            named('grpc-api', 2),
            named('h2c', 3),
            named('http2-internal', 4),
            named('http', 5),
            named('grpcweb', 6),
            named('http2', 7),
            named(42, 8),
            named('h2c-x', 9),
          ],
        },
      ],
    };
    const info = podFromObject({ ...running, spec });
    assert.deepEqual(info?.h2cPorts, [1, 2, 3, 4]);
    assert.deepEqual(info?.containerPorts, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(podFromObject(running)?.h2cPorts, undefined);
  });

  it('reads the Date timestamps of @kubernetes/client-node', () => {
    const metadata = { ...running.metadata, creationTimestamp: new Date(Date.UTC(2025, 0, 2)) };
    assert.equal(podFromObject({ ...running, metadata })?.createdAt, Date.UTC(2025, 0, 2));
  });

  const cases: Array<{
    name: string;
    object: unknown;
    expect: Record<string, unknown> | undefined;
  }> = [
    { name: 'null', object: null, expect: undefined },
    { name: 'an array', object: [running], expect: undefined },
    { name: 'a string', object: 'pod', expect: undefined },
    { name: 'no metadata', object: { spec: {} }, expect: undefined },
    { name: 'no name', object: { metadata: { namespace: 'a' } }, expect: undefined },
    { name: 'a numeric name', object: { metadata: { name: 7 } }, expect: undefined },
    {
      name: 'only a name',
      object: { metadata: { name: 'p' } },
      expect: {
        namespace: 'default',
        uid: 'default/p',
        createdAt: 0,
        labels: {},
        annotations: {},
        containerPorts: [],
        phase: '',
        podIP: '',
        ready: false,
        terminating: false,
      },
    },
    {
      name: 'a bad timestamp string',
      object: { metadata: { name: 'p', creationTimestamp: 'yesterday' } },
      expect: { createdAt: 0 },
    },
    {
      name: 'an invalid Date',
      object: { metadata: { name: 'p', creationTimestamp: new Date('nope') } },
      expect: { createdAt: 0 },
    },
    {
      name: 'a deletion timestamp',
      object: {
        ...running,
        metadata: { ...running.metadata, deletionTimestamp: '2025-01-01T00:01:00Z' },
      },
      expect: { terminating: true },
    },
    {
      name: 'a null deletion timestamp',
      object: { ...running, metadata: { ...running.metadata, deletionTimestamp: null } },
      expect: { terminating: false },
    },
    {
      name: 'Ready False',
      object: {
        ...running,
        status: { ...running.status, conditions: [{ type: 'Ready', status: 'False' }] },
      },
      expect: { ready: false },
    },
    {
      name: 'conditions not a list',
      object: {
        ...running,
        status: { ...running.status, conditions: { type: 'Ready', status: 'True' } },
      },
      expect: { ready: false },
    },
    {
      name: 'ports of restartable sidecars only',
      object: {
        metadata: { name: 'p' },
        spec: {
          initContainers: [
            { name: 'setup', ports: [{ containerPort: 1111 }] },
            { name: 'sidecar', restartPolicy: 'Always', ports: [{ containerPort: 2222 }] },
          ],
          containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }],
        },
      },
      expect: { containerPorts: [2222, 8080] },
    },
    {
      name: 'junk ports',
      object: {
        metadata: { name: 'p' },
        spec: {
          containers: [
            {
              ports: [
                { containerPort: '8080' },
                { containerPort: 80.5 },
                null,
                { containerPort: 81 },
              ],
            },
            { ports: 'nope' },
            null,
          ],
        },
      },
      expect: { containerPorts: [81] },
    },
  ];
  for (const { name, object, expect } of cases) {
    it(name, () => {
      const pod = podFromObject(object);
      if (expect === undefined) assert.equal(pod, undefined);
      else {
        assert.ok(pod);
        assert.deepEqual(
          Object.fromEntries(Object.keys(expect).map((key) => [key, pod[key as keyof typeof pod]])),
          expect,
        );
      }
    });
  }

  it('never throws and always yields well-formed records', () => {
    fc.assert(
      fc.property(
        fc.anything({ withDate: true, withNullPrototype: true, maxDepth: 4 }),
        (object) => {
          const pod = podFromObject(object);
          if (pod === undefined) return;
          assert.notEqual(pod.name, '');
          assert.ok(Number.isFinite(pod.createdAt));
          assert.ok(pod.containerPorts.every(Number.isInteger));
          assert.ok(Object.values(pod.labels).every((value) => typeof value === 'string'));
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          metadata: fc.record({
            name: fc.string({ minLength: 1 }),
            creationTimestamp: fc.oneof(fc.string(), fc.date({ noInvalidDate: false })),
          }),
          spec: fc.anything(),
          status: fc.anything(),
        }),
        (object) => {
          const pod = podFromObject(object);
          assert.ok(pod);
          assert.ok(Number.isFinite(pod.createdAt));
        },
      ),
    );
  });
});

describe('secretFromObject', () => {
  it('decodes data and stringData, stringData winning', () => {
    const secret = secretFromObject({
      metadata: { name: 'keys', namespace: 'team-a' },
      data: {
        a: Buffer.from('alpha').toString('base64'),
        b: Buffer.from('old').toString('base64'),
        n: 1,
      },
      stringData: { b: 'bravo' },
    });
    assert.ok(secret);
    assert.equal(secret.namespace, 'team-a');
    assert.equal(secret.name, 'keys');
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(secret.data).map(([key, value]) => [key, value.toString()]),
      ),
      { a: 'alpha', b: 'bravo' },
    );
  });

  for (const [name, object] of [
    ['null', null],
    ['no metadata', { data: {} }],
    ['no name', { metadata: {} }],
  ] as const) {
    it(`ignores ${name}`, () => {
      assert.equal(secretFromObject(object), undefined);
    });
  }

  it('defaults the namespace', () => {
    assert.deepEqual(secretFromObject({ metadata: { name: 's' } }), {
      namespace: 'default',
      name: 's',
      data: {},
    });
  });
});
