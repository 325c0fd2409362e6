import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KubeObject } from '../alias/types.ts';
import { cleanupPlan, type ManagedObjects } from './plan.ts';

type Mode = 'endpointslice' | 'externalname' | 'cluster-ip';
// The objects the controller writes, in each mode (the desired-state golden file).
const golden = JSON.parse(
  readFileSync(join(import.meta.dirname, '../alias/testdata/desired.golden.json'), 'utf8'),
) as Record<Mode, { objects: KubeObject[] }[]>;

/** The golden alias of `mode`, moved to `namespace/name` and leading to `router`. */
function alias(mode: Mode, namespace: string, name: string, router: string): KubeObject[] {
  const objects = structuredClone(golden[mode][0]?.objects ?? []);
  return objects.map((object, index) => {
    const labels = { ...object.metadata.labels };
    if (labels['kubernetes.io/service-name']) labels['kubernetes.io/service-name'] = name;
    const annotations = object.metadata.annotations && {
      ...object.metadata.annotations,
      'podrouter.dev/router-service': router,
    };
    return {
      ...object,
      metadata: {
        ...object.metadata,
        namespace,
        name: object.kind === 'EndpointSlice' ? `${name}-podrouter-0` : name,
        uid: `${namespace}-${name}-${index}`,
        labels,
        ...(annotations ? { annotations } : {}),
      },
    };
  });
}

function objects(...all: KubeObject[][]): ManagedObjects {
  const flat = all.flat();
  return {
    services: flat.filter((o) => o.kind === 'Service'),
    slices: flat.filter((o) => o.kind === 'EndpointSlice'),
    endpoints: flat.filter((o) => o.kind === 'Endpoints'),
  };
}

const names = (plan: ReturnType<typeof cleanupPlan>) =>
  plan.deletes.map((r) => `${r.kind} ${r.namespace}/${r.name} ${r.uid}`);

test('deletes the aliases of every mode leading to the router, each Service last', () => {
  const plan = cleanupPlan(
    objects(
      alias('externalname', 'shop', 'orders', 'podrouter/podrouter-private'),
      alias('cluster-ip', 'billing', 'invoices', 'podrouter/podrouter-private'),
      alias('endpointslice', 'my-ns', 'my-app', 'podrouter/podrouter-private'),
    ),
    'podrouter/podrouter-private',
  );
  assert.deepEqual(names(plan), [
    'Endpoints billing/invoices billing-invoices-1',
    'Service billing/invoices billing-invoices-0',
    'EndpointSlice my-ns/my-app-podrouter-0 my-ns-my-app-1',
    'Service my-ns/my-app my-ns-my-app-0',
    'Service shop/orders shop-orders-0',
  ]);
  assert.equal(plan.kept, 0);
});

test("two installations: one release's cleanup leaves the other's aliases", () => {
  const plan = cleanupPlan(
    objects(
      alias('endpointslice', 'a', 'api', 'team-a/podrouter-private'),
      alias('endpointslice', 'b', 'api', 'team-b/podrouter-private'),
      alias('cluster-ip', 'b', 'db', 'team-b/podrouter-private'),
    ),
    'team-a/podrouter-private',
  );
  assert.deepEqual(names(plan), [
    'EndpointSlice a/api-podrouter-0 a-api-1',
    'Service a/api a-api-0',
  ]);
  assert.equal(plan.kept, 4);
});

test('never deletes an object without podrouter’s label, nor a slice another controller manages', () => {
  const [service, slice] = alias('endpointslice', 'my-ns', 'my-app', 'podrouter/podrouter-private');
  assert.ok(service && slice);
  // A user's EndpointSlice for the alias Service (no managed-by label) stays.
  const userSlice: KubeObject = {
    ...slice,
    metadata: {
      ...slice.metadata,
      name: 'my-app-by-hand',
      labels: { 'kubernetes.io/service-name': 'my-app' },
    },
  };
  // A user's Service that happens to carry the annotation but not the label stays too.
  const userService: KubeObject = {
    ...service,
    metadata: { ...service.metadata, name: 'mine', labels: {} },
  };
  // The slice Kubernetes mirrors from v1 Endpoints copies their labels, podrouter's too; it
  // belongs to Kubernetes' mirroring controller, which deletes it with the Endpoints.
  const mirrored: KubeObject = {
    ...slice,
    metadata: {
      ...slice.metadata,
      name: 'my-app-x7k2p',
      labels: {
        'app.kubernetes.io/managed-by': 'podrouter',
        'kubernetes.io/service-name': 'my-app',
        'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
      },
    },
  };
  const plan = cleanupPlan(
    { services: [service, userService], slices: [slice, userSlice, mirrored], endpoints: [] },
    'podrouter/podrouter-private',
  );
  assert.deepEqual(names(plan), [
    'EndpointSlice my-ns/my-app-podrouter-0 my-ns-my-app-1',
    'Service my-ns/my-app my-ns-my-app-0',
  ]);
});

test('objects whose alias Service is gone cannot be told apart and are kept', () => {
  const [, slice] = alias('endpointslice', 'my-ns', 'my-app', 'podrouter/podrouter-private');
  const [, endpoints] = alias('cluster-ip', 'x', 'y', 'podrouter/podrouter-private');
  assert.ok(slice && endpoints);
  const plan = cleanupPlan(
    { services: [], slices: [slice], endpoints: [endpoints] },
    'podrouter/podrouter-private',
  );
  assert.deepEqual(plan.deletes, []);
  assert.equal(plan.kept, 2);
});
