import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObjectRef } from '../alias/diff.ts';
import type { KubeObject } from '../alias/types.ts';
import type { ManagedObjects } from './plan.ts';
import { type CleanupApi, CleanupError, type CleanupOptions, runCleanup } from './run.ts';

const ROUTER = 'podrouter/podrouter-private';

function service(namespace: string, name: string, router = ROUTER): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      namespace,
      name,
      uid: `uid-${namespace}-${name}`,
      labels: { 'app.kubernetes.io/managed-by': 'podrouter' },
      annotations: { 'podrouter.dev/router-service': router },
    },
  };
}

function slice(namespace: string, service: string): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace,
      name: `${service}-podrouter-0`,
      uid: `uid-slice-${namespace}-${service}`,
      labels: {
        'app.kubernetes.io/managed-by': 'podrouter',
        'kubernetes.io/service-name': service,
        'endpointslice.kubernetes.io/managed-by': 'controller.podrouter.dev',
      },
    },
  };
}

/** An API server in memory: Pods that go away after some polls, objects, a Lease. */
class FakeApi implements CleanupApi {
  objects: KubeObject[];
  pods_: string[][];
  lease = true;
  readonly calls: string[] = [];
  /** Called after each delete, e.g. to play a controller that writes again. */
  afterDelete: (ref: ObjectRef) => void = () => {};

  constructor(objects: KubeObject[], pods: string[][] = []) {
    this.objects = objects;
    this.pods_ = pods;
  }
  async pods(namespace: string, selector: string) {
    this.calls.push(`pods ${namespace} ${selector}`);
    return this.pods_.shift() ?? [];
  }
  async managed(): Promise<ManagedObjects> {
    this.calls.push('list');
    return {
      services: this.objects.filter((o) => o.kind === 'Service'),
      slices: this.objects.filter((o) => o.kind === 'EndpointSlice'),
      endpoints: this.objects.filter((o) => o.kind === 'Endpoints'),
    };
  }
  async delete(ref: ObjectRef) {
    this.calls.push(`delete ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.objects = this.objects.filter((o) => o.metadata.uid !== ref.uid);
    this.afterDelete(ref);
  }
  async deleteLease(namespace: string, name: string) {
    this.calls.push(`delete Lease ${namespace}/${name}`);
    const had = this.lease;
    this.lease = false;
    return had;
  }
}

const OPTIONS: CleanupOptions = {
  routerService: ROUTER,
  controllerPods: {
    namespace: 'podrouter',
    selector: 'app.kubernetes.io/instance=podrouter,app.kubernetes.io/component=controller',
  },
  waitTimeoutMs: 10_000,
  pollMs: 1_000,
  lease: { namespace: 'podrouter', name: 'podrouter-controller' },
};

function deps() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    deps: {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
      log: () => {},
    },
  };
}

test('waits for the controller Pods to be gone, then deletes its aliases and its Lease', async () => {
  const api = new FakeApi(
    [service('my-ns', 'my-app'), slice('my-ns', 'my-app'), service('b', 'other', 'b/router')],
    [['podrouter-controller-1'], ['podrouter-controller-1'], []],
  );
  const clock = deps();
  const result = await runCleanup(api, OPTIONS, clock.deps);
  assert.deepEqual(clock.sleeps, [1_000, 1_000], 'polled until no controller Pod was left');
  const selector = OPTIONS.controllerPods?.selector;
  assert.deepEqual(api.calls, [
    `pods podrouter ${selector}`,
    `pods podrouter ${selector}`,
    `pods podrouter ${selector}`,
    'list',
    'delete EndpointSlice my-ns/my-app-podrouter-0',
    'delete Service my-ns/my-app',
    'list',
    'delete Lease podrouter/podrouter-controller',
  ]);
  assert.deepEqual(
    result.deleted.map((r) => r.name),
    ['my-app-podrouter-0', 'my-app'],
  );
  assert.equal(result.kept, 1, "the other router's alias is left");
  assert.equal(result.leaseDeleted, true);
  assert.deepEqual(
    api.objects.map((o) => o.metadata.name),
    ['other'],
  );
});

test('fails, deleting nothing, while a controller Pod outlives the wait', async () => {
  const api = new FakeApi(
    [service('my-ns', 'my-app')],
    Array.from({ length: 20 }, () => ['podrouter-controller-1']),
  );
  await assert.rejects(runCleanup(api, OPTIONS, deps().deps), (error: unknown) => {
    assert.ok(error instanceof CleanupError);
    assert.equal(error.code, 'PR_CLEANUP_CONTROLLER_RUNNING');
    assert.match(error.message, /podrouter\/podrouter-controller-1/);
    assert.match(error.message, /delete its Deployment first/);
    return true;
  });
  assert.equal(api.objects.length, 1);
  assert.equal(api.lease, true);
  assert.ok(!api.calls.some((call) => call.startsWith('delete')));
});

test('an alias written again while cleanup runs is deleted on the next pass', async () => {
  const api = new FakeApi([service('my-ns', 'my-app')]);
  let rewrites = 1;
  api.afterDelete = (ref) => {
    if (ref.kind === 'Service' && rewrites-- > 0) api.objects.push(service('my-ns', 'late'));
  };
  const result = await runCleanup(api, { ...OPTIONS, controllerPods: undefined }, deps().deps);
  assert.deepEqual(
    result.deleted.map((r) => r.name),
    ['my-app', 'late'],
  );
  assert.deepEqual(api.objects, []);
});

test('a writer that keeps recreating aliases makes cleanup fail with what is left', async () => {
  const api = new FakeApi([service('my-ns', 'my-app')]);
  api.afterDelete = () => api.objects.push(service('my-ns', 'my-app'));
  await assert.rejects(
    runCleanup(api, { ...OPTIONS, controllerPods: undefined }, deps().deps),
    (error: unknown) =>
      error instanceof CleanupError &&
      error.code === 'PR_CLEANUP_ALIASES_REAPPEAR' &&
      /Service my-ns\/my-app/.test(error.message),
  );
});

test('without a Lease name, no Lease is touched; nothing to delete is success', async () => {
  const api = new FakeApi([service('b', 'other', 'b/router')]);
  const result = await runCleanup(
    api,
    { ...OPTIONS, controllerPods: undefined, lease: undefined },
    deps().deps,
  );
  assert.deepEqual(result.deleted, []);
  assert.equal(result.leaseDeleted, false);
  assert.deepEqual(api.calls, ['list']);
});
