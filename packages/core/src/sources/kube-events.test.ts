import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { realClock } from '../kube/clock.ts';
import type { KubeConnection } from '../kube/connection.ts';
import type { KubeResponse } from '../kube/request.ts';
import { createLogger } from '../observability/log.ts';
import type { ClusterState, PodInfo } from '../pods/types.ts';
import type { RouteTable } from '../routes/types.ts';
import { eventName, microTime, PodEventRecorder } from './kube-events.ts';

/** An API server's Event store, shared by several recorders (router replicas). */
function fakeEventApi() {
  const events = new Map<string, Record<string, unknown>>();
  const calls: string[] = [];
  const request = async (
    _connection: KubeConnection,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<KubeResponse> => {
    calls.push(method);
    if (method === 'POST') {
      const event = body as { metadata: { name: string } };
      if (events.has(event.metadata.name)) return { status: 409, body: {} };
      events.set(event.metadata.name, {
        ...event,
        metadata: { ...event.metadata, resourceVersion: '1' },
      });
      return { status: 201, body: event };
    }
    const name = path.split('/').at(-1) ?? '';
    const current = events.get(name) as
      | { metadata: { resourceVersion: string }; series?: unknown }
      | undefined;
    if (current === undefined) return { status: 404, body: {} };
    if (method === 'GET') return { status: 200, body: current };
    const patch = body as { metadata: { resourceVersion: string }; series: unknown };
    if (patch.metadata.resourceVersion !== current.metadata.resourceVersion) {
      return { status: 409, body: {} };
    }
    const next = {
      ...current,
      series: patch.series,
      metadata: {
        ...current.metadata,
        resourceVersion: String(Number(current.metadata.resourceVersion) + 1),
      },
    };
    events.set(name, next);
    return { status: 200, body: next };
  };
  return { events, calls, request };
}

const pod: PodInfo = {
  namespace: 'ns',
  name: 'web',
  uid: 'uid-1',
  createdAt: 0,
  labels: {},
  annotations: {},
  containerPorts: [80],
  phase: 'Running',
  podIP: '10.0.0.1',
  ready: true,
  terminating: false,
};
const state: ClusterState = { pods: [pod], secrets: [] };
const table = (reasons: readonly string[]): RouteTable => ({
  version: 1,
  builtAt: 0,
  hosts: new Map(),
  routes: [],
  pods: [
    {
      namespace: 'ns',
      name: 'web',
      rejections: reasons.map((reason) => ({ annotation: 'publicHosts', entry: 'a_b', reason })),
    },
  ],
  rejectedEntries: reasons.length,
});

function recorder(api: ReturnType<typeof fakeEventApi>, clock: { now: number }, extra = {}) {
  return new PodEventRecorder({
    connection: { server: 'http://unused', authorize: () => assert.fail('no requests') },
    controller: 'podrouter.dev/podrouter-public',
    instance: 'replica',
    logger: createLogger('test', 'error'),
    request: api.request,
    clock: { ...realClock, now: () => clock.now },
    minIntervalMs: 1000,
    dedupeWindowMs: 500,
    ...extra,
  });
}

describe('PodEventRecorder', () => {
  it('writes one Event per rejection, whatever the number of tables or replicas', async () => {
    const api = fakeEventApi();
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const one = recorder(api, clock);
    const two = recorder(api, clock);
    for (let i = 0; i < 3; i++) {
      one.observe(table(['not a hostname']), state);
      two.observe(table(['not a hostname']), state);
    }
    await Promise.all([one.settled(), two.settled()]);
    assert.equal(api.events.size, 1);
    const [event] = [...api.events.values()] as {
      note: string;
      eventTime: string;
      regarding: { uid: string };
      type: string;
    }[];
    assert.equal(event?.note, 'publicHosts entry "a_b": not a hostname');
    assert.equal(event?.regarding.uid, 'uid-1');
    assert.equal(event?.type, 'Warning');
    assert.match(event?.eventTime ?? '', /\.\d{6}Z$/);
    assert.deepEqual(api.calls, ['POST', 'POST']);
    await Promise.all([one.close(), two.close()]);
  });

  it('counts a rejection that comes back in series.count, once across replicas', async () => {
    const api = fakeEventApi();
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const one = recorder(api, clock);
    const two = recorder(api, clock);
    const flap = async () => {
      for (const r of [one, two]) {
        r.observe(table([]), state);
        r.observe(table(['bad']), state);
      }
      await Promise.all([one.settled(), two.settled()]);
    };
    one.observe(table(['bad']), state);
    two.observe(table(['bad']), state);
    await Promise.all([one.settled(), two.settled()]);
    clock.now += 2000;
    await flap();
    const [event] = [...api.events.values()] as { series?: { count: number } }[];
    assert.equal(event?.series?.count, 2);
    // Flapping faster than minIntervalMs adds up instead of writing each time.
    clock.now += 100;
    await flap();
    await flap();
    assert.equal(([...api.events.values()][0] as { series?: { count: number } }).series?.count, 2);
    await Promise.all([one.close(), two.close()]);
  });

  it('bounds the queue: a burst of rejections cannot grow it without limit', async () => {
    const api = fakeEventApi();
    const clock = { now: 0 };
    const bounded = recorder(api, clock, { maxQueue: 3, burst: 1000, qps: 1000 });
    const many = (n: number): [RouteTable, ClusterState] => {
      const pods = Array.from({ length: n }, (_, i) => ({ ...pod, name: `p${i}`, uid: `u${i}` }));
      return [
        {
          ...table([]),
          pods: pods.map((p) => ({
            ...p,
            rejections: [{ annotation: 'a', entry: 'e', reason: 'r' }],
          })),
        },
        { pods, secrets: [] },
      ];
    };
    bounded.observe(...many(10));
    await bounded.settled();
    assert.ok(api.events.size <= 4, String(api.events.size));
    await bounded.close();
  });

  it('names Events deterministically and writes MicroTime', () => {
    assert.equal(eventName('web', 'k'), eventName('web', 'k'));
    assert.notEqual(eventName('web', 'k'), eventName('web', 'k2'));
    assert.match(eventName('x'.repeat(253), 'k'), /^x{200}\.[0-9a-f]{16}$/);
    assert.equal(microTime(Date.parse('2026-01-01T00:00:00.123Z')), '2026-01-01T00:00:00.123000Z');
  });
});
