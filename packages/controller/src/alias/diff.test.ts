import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AliasWriter, applyActions } from './apply.ts';
import { desiredAliases } from './desired.ts';
import { type Action, type ActualObjects, compareObject, diffAlias } from './diff.ts';
import { inputs, options, pod } from './testdata/fixtures.ts';
import type { KubeObject } from './types.ts';

const desired = (mode: 'endpointslice' | 'externalname' | 'cluster-ip' = 'endpointslice') =>
  desiredAliases(inputs({ pods: [pod('my-ns', 'p', 'my-app.my-ns')] }), {
    ...options,
    mode,
  }).aliases.get('my-ns/my-app');

/** What the API server returns for an object: defaults and metadata added. */
function served(object: KubeObject, uid: string): KubeObject {
  const extra: Record<string, unknown> = {};
  if (object.kind === 'Service') {
    const spec = object.spec as Record<string, unknown>;
    extra.spec = { ...spec, clusterIP: '10.96.3.4', sessionAffinity: 'None', ipFamilies: ['IPv4'] };
  }
  return {
    ...object,
    ...extra,
    metadata: {
      ...object.metadata,
      uid,
      resourceVersion: '7',
      managedFields: [{ manager: 'x' }],
    } as KubeObject['metadata'],
  };
}

function actualOf(objects: readonly KubeObject[]): ActualObjects {
  const services = new Map<string, KubeObject>();
  const slices = new Map<string, KubeObject[]>();
  const endpoints = new Map<string, KubeObject>();
  for (const object of objects) {
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    if (object.kind === 'Service') services.set(key, object);
    else if (object.kind === 'Endpoints') endpoints.set(key, object);
    else {
      const k = `${object.metadata.namespace}/${object.metadata.labels?.['kubernetes.io/service-name']}`;
      slices.set(k, [...(slices.get(k) ?? []), object]);
    }
  }
  return { services, slices, endpoints };
}

const verbs = (actions: Action[]) =>
  actions.map((a) =>
    a.verb === 'delete'
      ? `delete ${a.ref.kind}/${a.ref.name}`
      : `${a.verb} ${a.object.kind}/${a.object.metadata.name}`,
  );

test('nothing exists → create the Service first, then its slices', () => {
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', desired(), actualOf([]))), [
    'create Service/my-app',
    'create EndpointSlice/my-app-podrouter-0',
  ]);
});

test('steady state: objects as the API server returns them need no write, in every mode', () => {
  for (const mode of ['endpointslice', 'externalname', 'cluster-ip'] as const) {
    const alias = desired(mode);
    const actual = actualOf((alias?.objects ?? []).map((o, i) => served(o, `u${i}`)));
    assert.deepEqual(diffAlias('my-ns/my-app', alias, actual), [], mode);
  }
});

test('a hand-edited slice or annotation is applied back; a deleted object is re-created', () => {
  const alias = desired();
  const [service, slice] = (alias?.objects ?? []).map((o, i) => served(o, `u${i}`)) as [
    KubeObject,
    KubeObject,
  ];
  const edited = {
    ...slice,
    endpoints: [{ addresses: ['10.0.0.66'], conditions: { ready: true } }],
  };
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', alias, actualOf([service, edited]))), [
    'apply EndpointSlice/my-app-podrouter-0',
  ]);
  const annotated = {
    ...service,
    metadata: { ...service.metadata, annotations: { 'podrouter.dev/claimed-by': 'someone' } },
  };
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', alias, actualOf([annotated, slice]))), [
    'apply Service/my-app',
  ]);
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', alias, actualOf([service]))), [
    'create EndpointSlice/my-app-podrouter-0',
  ]);
});

test('a selector or another type on the Service cannot be applied away: delete and create', () => {
  const alias = desired();
  const [service, slice] = (alias?.objects ?? []).map((o, i) => served(o, `u${i}`)) as [
    KubeObject,
    KubeObject,
  ];
  const selected = { ...service, spec: { ...(service.spec as object), selector: { app: 'x' } } };
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', alias, actualOf([selected, slice]))), [
    'delete Service/my-app',
    'create Service/my-app',
  ]);
  assert.equal(
    compareObject(desired('externalname')?.objects[0] as KubeObject, service),
    'replace',
  );
});

test('mode switch: stale slices go, Endpoints come', () => {
  const slicesActual = (desired()?.objects ?? []).map((o, i) => served(o, `u${i}`));
  assert.deepEqual(
    verbs(diffAlias('my-ns/my-app', desired('cluster-ip'), actualOf(slicesActual))),
    ['apply Service/my-app', 'create Endpoints/my-app', 'delete EndpointSlice/my-app-podrouter-0'],
  );
});

test('a user-owned Service is never written; only podrouter’s own stray slices are removed', () => {
  const user: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'my-app', namespace: 'my-ns', uid: 'user' },
    spec: {},
  };
  const stray = served(desired()?.objects[1] as KubeObject, 's');
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', desired(), actualOf([user]))), []);
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', undefined, actualOf([user, stray]))), [
    'delete EndpointSlice/my-app-podrouter-0',
  ]);
  const foreignSlice = {
    ...stray,
    metadata: { ...stray.metadata, labels: { 'kubernetes.io/service-name': 'my-app' } },
  };
  assert.deepEqual(verbs(diffAlias('my-ns/my-app', undefined, actualOf([user, foreignSlice]))), []);
});

test('no longer desired → slices, then the Service, deleted with uid preconditions', () => {
  const actual = (desired()?.objects ?? []).map((o, i) => served(o, `u${i}`));
  const actions = diffAlias('my-ns/my-app', undefined, actualOf(actual));
  assert.deepEqual(verbs(actions), [
    'delete EndpointSlice/my-app-podrouter-0',
    'delete Service/my-app',
  ]);
  assert.deepEqual(
    actions.map((a) => (a.verb === 'delete' ? a.ref.uid : '')),
    ['u1', 'u0'],
  );
});

class FakeWriter implements AliasWriter {
  readonly calls: string[] = [];
  keepField: string | undefined;
  async create(object: KubeObject) {
    this.calls.push(`create ${object.kind}`);
    return served(object, 'new');
  }
  async apply(object: KubeObject, uid: string) {
    this.calls.push(`apply ${object.kind} ${uid}`);
    const result = served(object, uid);
    return this.keepField
      ? { ...result, metadata: { ...result.metadata, annotations: { [this.keepField]: 'x' } } }
      : result;
  }
  async delete(ref: { kind: string; uid: string }) {
    this.calls.push(`delete ${ref.kind} ${ref.uid}`);
  }
}

test('apply: writes in order, counts each write, and stops at the first failure', async () => {
  const writer = new FakeWriter();
  const writes: string[] = [];
  const observer = {
    write: (kind: string, verb: string) => writes.push(`${verb} ${kind}`),
    written: () => undefined,
  };
  await applyActions(diffAlias('my-ns/my-app', desired(), actualOf([])), writer, observer);
  assert.deepEqual(writer.calls, ['create Service', 'create EndpointSlice']);
  assert.deepEqual(writes, ['create Service', 'create EndpointSlice']);
  const failing = {
    ...writer,
    create: async () => Promise.reject(new Error('boom')),
    apply: writer.apply,
    delete: writer.delete,
  };
  await assert.rejects(
    applyActions(diffAlias('my-ns/my-app', desired(), actualOf([])), failing, observer),
    /boom/,
  );
});

test('apply: a result that still differs (a field held by another manager) ends in delete + create', async () => {
  const writer = new FakeWriter();
  writer.keepField = 'podrouter.dev/other';
  const service = served(desired()?.objects[0] as KubeObject, 'u0');
  const action: Action = { verb: 'apply', object: desired()?.objects[0] as KubeObject, uid: 'u0' };
  await applyActions([action], writer, { write: () => undefined, written: () => undefined });
  assert.deepEqual(writer.calls, ['apply Service u0', 'delete Service u0', 'create Service']);
  assert.ok(service);
});
