import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { desiredAliases, mayClaim } from './desired.ts';
import { inputs, ns, options, pod, router, T0 } from './testdata/fixtures.ts';
import type { KubeObject } from './types.ts';

test('golden: every mode turns one claim into the same alias objects', () => {
  const golden = new URL('./testdata/desired.golden.json', import.meta.url);
  const actual: Record<string, unknown> = {};
  for (const mode of ['endpointslice', 'externalname', 'cluster-ip'] as const) {
    const state = desiredAliases(
      inputs({
        pods: [
          pod('my-ns', 'my-app-1', 'my-app.my-ns'),
          pod('my-ns', 'my-app-2', 'my-app.my-ns.svc.cluster.local'),
        ],
      }),
      { ...options, mode },
    );
    actual[mode] = [...state.aliases.values()];
  }
  if (process.env.UPDATE_GOLDEN === '1')
    writeFileSync(golden, `${JSON.stringify(actual, null, 2)}\n`);
  assert.deepEqual(actual, JSON.parse(readFileSync(golden, 'utf8')));
});

test('host forms: svc.ns, .svc and .svc.<domain> claim one alias; other forms are refused', () => {
  const cases: [string, string | undefined][] = [
    ['my-app.my-ns', 'my-ns/my-app'],
    ['my-app.my-ns.svc', 'my-ns/my-app'],
    ['my-app.my-ns.svc.cluster.local', 'my-ns/my-app'],
    ['My-App.My-Ns.', 'my-ns/my-app'],
    ['my-app.my-ns.svc.other.domain', undefined],
    ['api.example.com', undefined],
    ['my-app', undefined],
    ['10.1.2.3', undefined],
    ['1app.my-ns', undefined],
    ['my-app.missing-ns', undefined],
  ];
  for (const [host, alias] of cases) {
    const state = desiredAliases(inputs({ pods: [pod('my-ns', 'p', host)] }), options);
    assert.deepEqual([...state.aliases.keys()], alias ? [alias] : [], host);
    assert.equal(state.problems.length, alias ? 0 : 1, host);
    if (!alias) assert.equal(state.problems[0]?.kind, 'refused');
  }
});

test('cross-namespace claims are refused unless the target namespace or a flag allows them', () => {
  const claim = pod('other', 'p', 'svc-a.my-ns svc-b.shared');
  const closed = desiredAliases(inputs({ pods: [claim] }), options);
  assert.deepEqual([...closed.aliases.keys()], ['shared/svc-b']);
  assert.match(
    closed.problems[0]?.reason ?? '',
    /does not accept aliases claimed from namespace other/,
  );
  const flagged = desiredAliases(inputs({ pods: [claim] }), {
    ...options,
    allow: [{ from: 'other', to: '*' }],
  });
  assert.deepEqual([...flagged.aliases.keys()], ['my-ns/svc-a', 'shared/svc-b']);
  assert.equal(flagged.problems.length, 0);
  assert.ok(
    mayClaim('x', { name: 'y', annotations: { 'podrouter.dev/allow-aliases-from': '*' } }, []),
  );
  assert.ok(
    !mayClaim('x', { name: 'y', annotations: { 'podrouter.dev/allow-aliases-from': 'xx' } }, []),
  );
  assert.ok(mayClaim('x', { name: 'y', annotations: {} }, [{ from: 'x', to: 'y' }]));
  assert.ok(!mayClaim('x', { name: 'y', annotations: {} }, [{ from: 'x', to: 'z' }]));
});

test('the oldest claim wins, deterministically, whatever the order of the Pods', () => {
  const allow = [{ from: '*', to: '*' }];
  const old = pod('other', 'old', 'svc.shared', { createdAt: T0 - 10 });
  const young = pod('my-ns', 'young', 'svc.shared', { createdAt: T0 });
  const tie = pod('a-ns', 'tie', 'svc.shared', { createdAt: T0 - 10 });
  const namespaces = new Map([...inputs().namespaces, ns('a-ns')]);
  for (const pods of [
    [old, young, tie],
    [tie, young, old],
    [young, old, tie],
  ]) {
    const state = desiredAliases(inputs({ pods, namespaces }), { ...options, allow });
    assert.deepEqual(state.aliases.get('shared/svc')?.claimedBy, ['a-ns/tie']);
    assert.deepEqual(state.problems.map((p) => p.pod.name).sort(), ['old', 'young']);
    assert.ok(state.problems.every((p) => p.kind === 'clash'));
  }
});

test('a Service not managed by podrouter is never an alias; its claimants are told why', () => {
  const user: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'my-app', namespace: 'my-ns', uid: 'u' },
  };
  const state = desiredAliases(
    inputs({
      pods: [pod('my-ns', 'p', 'my-app.my-ns')],
      services: new Map([['my-ns/my-app', user]]),
    }),
    options,
  );
  assert.equal(state.aliases.size, 0);
  assert.equal(state.problems[0]?.kind, 'clash');
  assert.match(state.problems[0]?.reason ?? '', /not managed by podrouter/);
});

test('terminating, finished and unselected Pods claim nothing; unready ones still do', () => {
  const pods = [
    pod('my-ns', 'a', 'a.my-ns', { terminating: true }),
    pod('my-ns', 'b', 'b.my-ns', { phase: 'Succeeded' }),
    pod('my-ns', 'c', 'c.my-ns', { labels: {} }),
    pod('my-ns', 'd', 'd.my-ns', { ready: false, phase: 'Pending' }),
  ];
  assert.deepEqual([...desiredAliases(inputs({ pods }), options).aliases.keys()], ['my-ns/d']);
});

test('an unclaimed alias is kept, marked, for the grace period, then no longer desired', () => {
  const managed = (annotations: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'gone',
      namespace: 'my-ns',
      labels: { 'app.kubernetes.io/managed-by': 'podrouter' },
      annotations,
    },
  });
  const fresh = desiredAliases(
    inputs({ services: new Map([['my-ns/gone', managed({})]]) }),
    options,
  );
  const kept = fresh.aliases.get('my-ns/gone');
  assert.deepEqual(kept?.claimedBy, []);
  assert.equal(
    kept?.objects[0]?.metadata.annotations?.['podrouter.dev/unclaimed-since'],
    new Date(T0 + 1000).toISOString(),
  );
  assert.equal(fresh.nextExpiry, T0 + 1000 + 300_000);
  const marked = managed({ 'podrouter.dev/unclaimed-since': new Date(T0).toISOString() });
  const during = desiredAliases(
    inputs({ services: new Map([['my-ns/gone', marked]]), now: T0 + 299_999 }),
    options,
  );
  assert.ok(during.aliases.has('my-ns/gone'));
  const after = desiredAliases(
    inputs({ services: new Map([['my-ns/gone', marked]]), now: T0 + 300_000 }),
    options,
  );
  assert.equal(after.aliases.size, 0);
  const reclaimed = desiredAliases(
    inputs({
      pods: [pod('my-ns', 'p', 'gone.my-ns')],
      services: new Map([['my-ns/gone', marked]]),
      now: T0 + 400_000,
    }),
    options,
  );
  assert.equal(
    reclaimed.aliases.get('my-ns/gone')?.objects[0]?.metadata.annotations?.[
      'podrouter.dev/unclaimed-since'
    ],
    undefined,
  );
});

test('a namespace overrides the mode; without the router Service, slice aliases wait', () => {
  const namespaces = new Map([
    ...inputs().namespaces,
    ns('legacy', { 'podrouter.dev/alias-mode': 'externalname' }),
  ]);
  const pods = [pod('legacy', 'p', 'a.legacy'), pod('my-ns', 'q', 'b.my-ns')];
  const state = desiredAliases(inputs({ pods, namespaces, router: undefined }), options);
  assert.equal(state.aliases.get('legacy/a')?.mode, 'externalname');
  assert.deepEqual(state.pending, ['my-ns/b']);
});

test('more than 100 router endpoints are split across slices', () => {
  const endpoints = Array.from({ length: 250 }, (_, i) => ({
    ip: `10.244.${Math.floor(i / 200)}.${i % 200}`,
    addressType: 'IPv4' as const,
  }));
  const state = desiredAliases(
    inputs({ pods: [pod('my-ns', 'p', 'x.my-ns')], router: { ...router, endpoints } }),
    options,
  );
  const slices =
    state.aliases.get('my-ns/x')?.objects.filter((o) => o.kind === 'EndpointSlice') ?? [];
  assert.deepEqual(
    slices.map((s) => (s.endpoints as unknown[]).length),
    [100, 100, 50],
  );
  assert.deepEqual(
    slices.map((s) => s.metadata.name),
    ['x-podrouter-0', 'x-podrouter-1', 'x-podrouter-2'],
  );
});

test('claimed-by names at most ten Pods', () => {
  const pods = Array.from({ length: 12 }, (_, i) =>
    pod('my-ns', `p-${String(i).padStart(2, '0')}`, 'x.my-ns'),
  );
  const state = desiredAliases(inputs({ pods }), options);
  const value =
    state.aliases.get('my-ns/x')?.objects[0]?.metadata.annotations?.['podrouter.dev/claimed-by'];
  assert.match(value ?? '', /^my-ns\/p-00 .* my-ns\/p-09 \(\+2 more\)$/);
});
