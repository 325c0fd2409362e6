import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, type PodInfo } from '@podrouter/core';
import { ControllerMetrics } from '../admin/metrics.ts';
import type { AliasWriter } from '../alias/apply.ts';
import type { ObjectRef } from '../alias/diff.ts';
import { ns, options, pod, router, T0 } from '../alias/testdata/fixtures.ts';
import {
  type KubeObject,
  type NamespaceInfo,
  type RouterTarget,
  SERVICE_NAME_LABEL,
  UNCLAIMED_SINCE_ANNOTATION,
} from '../alias/types.ts';
import { ProblemReporter } from '../events/recorder.ts';
import { ClaimsIndex } from './claims-index.ts';
import { AliasReconciler } from './reconciler.ts';
import type { AliasStore } from './store.ts';

/** The caches as plain maps, and an API server that answers writes by storing them. */
function fakeWorld() {
  const claims = new ClaimsIndex(options);
  const namespaces = new Map<string, NamespaceInfo>([ns('my-ns'), ns('other'), ns('podrouter')]);
  const objects = new Map<string, KubeObject>();
  const id = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`;
  let uid = 0;
  let routerTarget: RouterTarget | undefined = router;
  const writes: string[] = [];
  const store: AliasStore = {
    claimants: (key) => claims.claimants(key),
    namespaces,
    actual: {
      services: { get: (key) => objects.get(`Service/${key}`) },
      endpoints: { get: (key) => objects.get(`Endpoints/${key}`) },
      slices: {
        get(key) {
          const [namespace, service] = key.split('/');
          const found = [...objects.values()].filter(
            (object) =>
              object.kind === 'EndpointSlice' &&
              object.metadata.namespace === namespace &&
              object.metadata.labels?.[SERVICE_NAME_LABEL] === service,
          );
          return found.length > 0 ? found : undefined;
        },
      },
    },
    router: () => routerTarget,
    written: () => undefined,
  };
  const writer: AliasWriter = {
    async create(object) {
      writes.push(`create ${object.kind}/${object.metadata.name}`);
      const created = { ...object, metadata: { ...object.metadata, uid: `u${++uid}` } };
      objects.set(id(object.kind, object.metadata.namespace, object.metadata.name), created);
      return created;
    },
    async apply(object, objectUid) {
      writes.push(`apply ${object.kind}/${object.metadata.name}`);
      const applied = { ...object, metadata: { ...object.metadata, uid: objectUid } };
      objects.set(id(object.kind, object.metadata.namespace, object.metadata.name), applied);
      return applied;
    },
    async delete(ref: ObjectRef) {
      writes.push(`delete ${ref.kind}/${ref.name}`);
      objects.delete(id(ref.kind, ref.namespace, ref.name));
    },
  };
  const sent: string[] = [];
  let now = T0;
  let leading = true;
  const reconciler = new AliasReconciler({
    store,
    writer,
    reporter: new ProblemReporter({ emit: async (problem) => void sent.push(problem.reason) }),
    options,
    metrics: new ControllerMetrics(),
    logger: createLogger('test', 'error'),
    leading: () => leading,
    now: () => now,
  });
  return {
    reconciler,
    claims,
    namespaces,
    objects,
    writes,
    sent,
    setPod: (p: PodInfo | undefined, key = `${p?.namespace}/${p?.name}`) => claims.update(key, p),
    setNow: (ms: number) => {
      now = ms;
    },
    setLeading: (value: boolean) => {
      leading = value;
    },
    setRouter: (value: RouterTarget | undefined) => {
      routerTarget = value;
    },
  };
}

describe('AliasReconciler', () => {
  it('creates a claimed alias, then makes no writes while nothing changes', async () => {
    const world = fakeWorld();
    const touched = world.setPod(pod('my-ns', 'app-1', 'my-app.my-ns'));
    assert.deepEqual([...touched], ['my-ns/my-app']);
    assert.deepEqual(await world.reconciler.reconcile('my-ns/my-app'), {});
    assert.deepEqual(world.writes, [
      'create Service/my-app',
      'create EndpointSlice/my-app-podrouter-0',
    ]);
    world.writes.length = 0;
    await world.reconciler.reconcile('my-ns/my-app');
    await world.reconciler.reconcile('my-ns/my-app');
    assert.deepEqual(world.writes, []);
  });

  it('an unclaimed alias asks to come back when its grace period ends, then goes', async () => {
    const world = fakeWorld();
    const app = pod('my-ns', 'app-1', 'my-app.my-ns');
    world.setPod(app);
    await world.reconciler.reconcile('my-ns/my-app');
    world.setPod(undefined, 'my-ns/app-1');
    world.writes.length = 0;
    world.setNow(T0 + 1000);
    const first = await world.reconciler.reconcile('my-ns/my-app');
    assert.equal(first.requeueAfterMs, options.graceMs + 10);
    assert.deepEqual(world.writes, ['apply Service/my-app']);
    const marked = world.objects.get('Service/my-ns/my-app')?.metadata.annotations;
    assert.equal(marked?.[UNCLAIMED_SINCE_ANNOTATION], new Date(T0 + 1000).toISOString());
    // A reconcile in between (another event) keeps the mark and the remaining time.
    world.writes.length = 0;
    world.setNow(T0 + 1000 + 100_000);
    const again = await world.reconciler.reconcile('my-ns/my-app');
    assert.equal(again.requeueAfterMs, options.graceMs - 100_000 + 10);
    assert.deepEqual(world.writes, []);
    world.setNow(T0 + 1000 + options.graceMs);
    assert.deepEqual(await world.reconciler.reconcile('my-ns/my-app'), {});
    assert.deepEqual(world.writes, [
      'delete EndpointSlice/my-app-podrouter-0',
      'delete Service/my-app',
    ]);
    assert.equal(world.reconciler.results.has('my-ns/my-app'), false);
  });

  it('waits (no writes) while the router is unknown, and reports a refused claim once', async () => {
    const world = fakeWorld();
    world.setRouter(undefined);
    world.setPod(pod('my-ns', 'app-1', 'my-app.my-ns'));
    world.setPod(pod('other', 'thief', 'my-app.my-ns'));
    await world.reconciler.reconcile('my-ns/my-app');
    await world.reconciler.reconcile('my-ns/my-app');
    assert.deepEqual(world.writes, []);
    assert.equal(world.reconciler.results.get('my-ns/my-app')?.pending, true);
    assert.equal(world.sent.length, 1);
    assert.match(world.sent[0] ?? '', /does not accept aliases claimed from namespace other/);
    world.setRouter(router);
    await world.reconciler.reconcile('my-ns/my-app');
    assert.equal(world.writes.length, 2);
  });

  it('a replica that does not lead computes the alias but writes nothing', async () => {
    const world = fakeWorld();
    world.setLeading(false);
    world.setPod(pod('my-ns', 'app-1', 'my-app.my-ns'));
    world.setPod(pod('other', 'thief', 'my-app.my-ns'));
    await world.reconciler.reconcile('my-ns/my-app');
    assert.deepEqual(world.writes, []);
    assert.deepEqual(world.sent, []);
    assert.equal(world.reconciler.results.get('my-ns/my-app')?.alias?.name, 'my-app');
  });

  it('a claim into a namespace created later is reconciled from the same key', async () => {
    const world = fakeWorld();
    world.setPod(pod('my-ns', 'app-1', 'api.later'));
    await world.reconciler.reconcile('later/api');
    assert.match(world.sent[0] ?? '', /namespace later does not exist/);
    world.namespaces.set('later', {
      name: 'later',
      annotations: { 'podrouter.dev/allow-aliases-from': 'my-ns' },
    });
    await world.reconciler.reconcile('later/api');
    assert.deepEqual(world.writes, ['create Service/api', 'create EndpointSlice/api-podrouter-0']);
  });
});
