import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { type Pem, TestCa } from '../../../../test/support/certs.ts';
import { EndpointHealth } from '../balancer/endpoint-health.ts';
import { parseLabelSelector } from '../pods/label-selector.ts';
import type { ClusterState, PodInfo, SecretInfo } from '../pods/types.ts';
import { buildRouteTable } from '../routes/build-table.ts';
import { parseSecretName, parseSecretRef } from './secret-name.ts';
import {
  buildTlsTable,
  CertificateCache,
  type TlsTableOptions,
  withTlsRejections,
} from './tls-table.ts';

const ca = new TestCa();
after(() => ca.close());
const T0 = Date.UTC(2025, 0, 1);
const selector = parseLabelSelector('routable=true');

function pod(namespace: string, name: string, hosts: string, secret?: string, age = 0): PodInfo {
  return {
    namespace,
    name,
    uid: `${namespace}/${name}`,
    createdAt: T0 + age,
    labels: { routable: 'true' },
    annotations: {
      publicHosts: hosts,
      publicPaths: '8080:/',
      ...(secret !== undefined ? { publicTlsSecret: secret } : {}),
    },
    containerPorts: [8080],
    phase: 'Running',
    podIP: '10.0.0.1',
    ready: true,
    terminating: false,
  };
}

const secret = (namespace: string, name: string, pem: Pem): SecretInfo => ({
  namespace,
  name,
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from(pem.cert), 'tls.key': Buffer.from(pem.key) },
});

function build(state: ClusterState, extra: Partial<TlsTableOptions> = {}) {
  const table = buildRouteTable(state, {
    hostsAnnotation: 'publicHosts',
    pathsAnnotation: 'publicPaths',
    selector,
    health: new EndpointHealth({ ejectionMs: 10_000 }),
  });
  const tls = buildTlsTable(state, table, {
    annotation: 'publicTlsSecret',
    hostsAnnotation: 'publicHosts',
    selector,
    ...extra,
  });
  return { table, tls };
}

const reasons = (tls: ReturnType<typeof build>['tls'], key: string) =>
  (tls.rejections.get(key) ?? []).map((rejection) => rejection.reason);

describe('buildTlsTable', () => {
  const shop = ca.issue({ names: ['shop.example.com', 'www.example.com'] });
  const other = ca.issue({ names: ['shop.example.com'] });
  const wildcard = ca.issue({ names: ['*.example.com'] });

  it('maps every host of a Pod to its Secret’s certificate', () => {
    const { tls } = build({
      pods: [pod('shop', 'web', 'shop.example.com www.example.com', 'web-tls')],
      secrets: [secret('shop', 'web-tls', shop)],
    });
    assert.deepEqual([...tls.byHost.keys()].sort(), ['shop.example.com', 'www.example.com']);
    assert.equal(tls.byHost.get('www.example.com')?.certificate.secret, 'shop/web-tls');
    assert.deepEqual([...tls.secured].sort(), ['shop.example.com', 'www.example.com']);
    assert.equal(tls.rejections.size, 0);
  });

  it('takes a host’s certificate from the namespace its routes belong to, oldest Pod first', () => {
    const { tls } = build({
      pods: [
        pod('shop', 'web-1', 'shop.example.com', 'web-tls', 0),
        pod('shop', 'web-2', 'shop.example.com', 'other-tls', 10),
        // Younger namespace: loses the route, and may not serve the host's certificate.
        pod('intruder', 'web', 'shop.example.com', 'fake-tls', 20),
      ],
      secrets: [
        secret('shop', 'web-tls', shop),
        secret('shop', 'other-tls', other),
        secret('intruder', 'fake-tls', other),
      ],
    });
    assert.equal(tls.byHost.get('shop.example.com')?.certificate.secret, 'shop/web-tls');
    assert.deepEqual(reasons(tls, 'shop/web-2'), [
      'shop.example.com already takes its certificate from Secret shop/web-tls (named by the oldest Pod claiming it, shop/web-1)',
    ]);
    assert.deepEqual(reasons(tls, 'intruder/web'), [
      'shop.example.com is routed to namespace shop, whose Pods name its certificate',
    ]);
  });

  it('reads a Secret of the Pod’s own namespace only', () => {
    const { tls } = build({
      pods: [pod('thief', 'web', 'shop.example.com', 'web-tls')],
      // Same name in another namespace: never used.
      secrets: [secret('shop', 'web-tls', shop)],
    });
    assert.equal(tls.byHost.size, 0);
    assert.deepEqual(reasons(tls, 'thief/web'), ['Secret thief/web-tls not found']);
  });

  it('says why a Secret could not be read when the source knows', () => {
    const withErrors = build(
      { pods: [pod('shop', 'web', 'shop.example.com', 'web-tls')], secrets: [] },
      { secretErrors: new Map([['shop/web-tls', 'forbidden (docs/rbac.md)']]) },
    );
    assert.deepEqual(reasons(withErrors.tls, 'shop/web'), [
      'Secret shop/web-tls cannot be read: forbidden (docs/rbac.md)',
    ]);
  });

  it('serves routed hosts the default certificate covers, and reports a bad default', () => {
    const state: ClusterState = {
      pods: [pod('plain', 'web', 'api.example.com other.test')],
      secrets: [secret('podrouter', 'default', wildcard)],
    };
    const { tls } = build(state, { defaultSecret: { namespace: 'podrouter', name: 'default' } });
    assert.equal(tls.fallback?.secret, 'podrouter/default');
    assert.deepEqual([...tls.secured], ['api.example.com']);
    const missing = build(state, { defaultSecret: { namespace: 'podrouter', name: 'gone' } });
    assert.equal(missing.tls.fallback, undefined);
    assert.equal(missing.tls.fallbackProblem, 'Secret podrouter/gone not found');
  });

  it('drops an expired certificate at the time given, and keeps a loaded one across builds', () => {
    const state: ClusterState = {
      pods: [pod('shop', 'web', 'shop.example.com', 'web-tls')],
      secrets: [secret('shop', 'web-tls', shop)],
    };
    const cache = new CertificateCache();
    const first = build(state, { cache });
    const second = build(state, { cache });
    assert.equal(
      first.tls.byHost.get('shop.example.com')?.certificate,
      second.tls.byHost.get('shop.example.com')?.certificate,
    );
    const later = build(state, { cache, now: Date.now() + 10 * 86_400_000 });
    assert.equal(later.tls.byHost.size, 0);
    assert.match(
      reasons(later.tls, 'shop/web')[0] ?? '',
      /^Secret shop\/web-tls: the certificate expired on /,
    );
  });

  it('adds its rejections to the route table’s Pod reports', () => {
    const { table, tls } = build({
      pods: [pod('shop', 'web', 'shop.example.com', 'Not_A_Name')],
      secrets: [],
    });
    const merged = withTlsRejections(table, tls);
    assert.equal(merged.rejectedEntries, table.rejectedEntries + 1);
    assert.deepEqual(merged.pods, [
      {
        namespace: 'shop',
        name: 'web',
        rejections: [
          {
            annotation: 'publicTlsSecret',
            entry: 'Not_A_Name',
            reason: 'not a Secret name (lower-case a-z, 0-9, "-" and ".", at most 253 characters)',
          },
        ],
      },
    ]);
  });
});

describe('the Secret annotation', () => {
  it('accepts one name of the Pod’s namespace and nothing else', () => {
    assert.deepEqual(parseSecretName(' web-tls '), { name: 'web-tls' });
    assert.deepEqual(parseSecretName('a.b-c'), { name: 'a.b-c' });
    for (const bad of [
      '',
      'a b',
      'ns/web',
      '../x',
      'Web',
      '-a',
      'a.',
      'a..b',
      `${'a'.repeat(254)}`,
    ]) {
      assert.ok('reason' in parseSecretName(bad), bad);
    }
    assert.deepEqual(parseSecretRef('podrouter/default-tls'), {
      namespace: 'podrouter',
      name: 'default-tls',
    });
    assert.ok('reason' in parseSecretRef('default-tls'));
    assert.ok('reason' in parseSecretRef('Pod/x'));
  });

  it('never throws, and what it accepts is a valid Secret name without "/" (fuzzed)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (value) => {
        const result = parseSecretName(value);
        if ('name' in result) {
          assert.match(result.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
          assert.ok(result.name.length <= 253 && !result.name.includes('..'));
        } else assert.equal(typeof result.reason, 'string');
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'z', '0', '-', '.', '/', ' ', 'A', '_', '%'), {
          maxLength: 40,
        }),
        (chars) => {
          const result = parseSecretRef(chars.join(''));
          if ('namespace' in result) assert.ok(!result.name.includes('/'));
        },
      ),
      { numRuns: 5000 },
    );
  });
});
