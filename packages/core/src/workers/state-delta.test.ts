import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import { payloadFor, StateMirror } from './state-delta.ts';

const pod = (name: string, ip: string): PodInfo => ({
  namespace: 'default',
  name,
  uid: `uid-${name}`,
  createdAt: 0,
  labels: { routable: 'true' },
  annotations: { publicHosts: `${name}.example.com`, publicPaths: '80:/' },
  containerPorts: [80],
  phase: 'Running',
  podIP: ip,
  ready: true,
  terminating: false,
});

const secret = { namespace: 'default', name: 'routing', data: { key: Buffer.from('k1') } };

/** What a worker receives: the payload after the IPC channel's structured clone. */
const overIpc = <T>(value: T): T => deserialize(serialize(value)) as T;

const names = (state: ClusterState) => state.pods.map((p) => `${p.name}@${p.podIP}`).sort();

describe('worker state payloads', () => {
  it('sends the first state whole, then only the changed Pods, and rebuilds the same state', () => {
    const mirror = new StateMirror();
    const first: ClusterState = {
      pods: [pod('a', '10.0.0.1'), pod('b', '10.0.0.2')],
      secrets: [secret],
      sequence: 1,
    };
    const whole = payloadFor(first, undefined);
    assert.equal(whole.kind, 'whole');
    assert.deepEqual(names(mirror.apply(overIpc(whole)) as ClusterState), names(first));

    const second: ClusterState = {
      pods: [pod('b', '10.0.0.3'), pod('c', '10.0.0.4')],
      secrets: [{ ...secret, data: { key: Buffer.from('k2') } }],
      sequence: 2,
      changes: {
        since: 1,
        pods: new Map([
          ['default/a', undefined],
          ['default/b', pod('b', '10.0.0.3')],
          ['default/c', pod('c', '10.0.0.4')],
        ]),
        secretNamespaces: new Set(['default']),
      },
    };
    const delta = payloadFor(second, 1);
    assert.equal(delta.kind, 'delta');
    assert.equal('pods' in (delta.kind === 'delta' ? delta.rest : {}), false);
    const rebuilt = mirror.apply(overIpc(delta)) as ClusterState;
    assert.deepEqual(names(rebuilt), names(second));
    assert.equal(rebuilt.sequence, 2);
    assert.equal(rebuilt.changes?.since, 1);
    assert.equal(rebuilt.secrets[0]?.data.key?.toString(), 'k2');
    assert.ok(Buffer.isBuffer(rebuilt.secrets[0]?.data.key));
  });

  it('keeps Services and EndpointSlices until a change names a Service', () => {
    const mirror = new StateMirror();
    const services = [{ namespace: 'default', name: 'svc' }] as unknown as ClusterState['services'];
    const first: ClusterState = {
      pods: [],
      secrets: [],
      services,
      endpointSlices: [],
      sequence: 1,
    };
    mirror.apply(overIpc(payloadFor(first, undefined)));
    const quiet = payloadFor(
      {
        ...first,
        sequence: 2,
        changes: { since: 1, pods: new Map(), secretNamespaces: new Set(), services: new Set() },
      },
      1,
    );
    assert.equal(quiet.kind === 'delta' && 'services' in quiet.rest, false);
    assert.deepEqual(mirror.apply(overIpc(quiet))?.services, services);
    const changed = payloadFor(
      {
        ...first,
        services: [],
        sequence: 3,
        changes: {
          since: 2,
          pods: new Map(),
          secretNamespaces: new Set(),
          services: new Set(['default/svc']),
        },
      },
      2,
    );
    assert.deepEqual(mirror.apply(overIpc(changed))?.services, []);
  });

  it('sends whole what does not follow the last state sent, and refuses a delta it cannot place', () => {
    const state: ClusterState = {
      pods: [pod('a', '10.0.0.1')],
      secrets: [],
      sequence: 5,
      changes: { since: 4, pods: new Map(), secretNamespaces: new Set() },
    };
    assert.equal(payloadFor(state, 3).kind, 'whole');
    assert.equal(payloadFor({ pods: [], secrets: [] }, 3).kind, 'whole');
    assert.equal(new StateMirror().apply(payloadFor(state, 4)), undefined);
  });
});
