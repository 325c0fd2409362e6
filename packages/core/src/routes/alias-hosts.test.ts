import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalAliasHost, parseAliasHost } from './alias-hosts.ts';

test('every Service host form reads as the same alias', () => {
  for (const host of ['my-app.my-ns', 'my-app.my-ns.svc', 'my-app.my-ns.svc.cluster.local']) {
    assert.deepEqual(parseAliasHost(host, 'cluster.local'), {
      alias: { service: 'my-app', namespace: 'my-ns' },
    });
    assert.equal(canonicalAliasHost(host, 'cluster.local'), 'my-app.my-ns');
  }
  assert.equal(canonicalAliasHost('a.b.svc.corp.example', 'corp.example'), 'a.b');
});

test('other hosts are not aliases, with a reason', () => {
  for (const [host, reason] of [
    ['my-app', /not of the form/],
    ['api.example.com', /not of the form/],
    ['a.b.svc.other.local', /not of the form/],
    ['1app.ns', /not a valid Service name/],
    ['app.-ns', /not a valid namespace/],
    [`${'a'.repeat(64)}.ns`, /not a valid Service name/],
  ] as const) {
    const result = parseAliasHost(host, 'cluster.local');
    assert.ok('reason' in result, host);
    assert.match(result.reason, reason);
    assert.equal(canonicalAliasHost(host, 'cluster.local'), undefined);
  }
});
