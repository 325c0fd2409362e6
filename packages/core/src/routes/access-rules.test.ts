import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodInfo } from '../pods/types.ts';
import { combineAccess, permits, readAccess } from './access-rules.ts';

const NAMES = { allowFrom: 'publicAllowFrom', denyFrom: 'publicDenyFrom' };
const pod = (annotations: Record<string, string>) => ({ annotations }) as unknown as PodInfo;
const rulesOf = (...pods: Record<string, string>[]) =>
  combineAccess(pods.map((annotations) => readAccess(pod(annotations), NAMES).access));

describe('access rules', () => {
  it('is null when no Pod sets a list', () => {
    assert.equal(rulesOf({}, { other: 'x' }), null);
  });

  it('allows listed addresses and CIDRs only, refuses denied ones first', () => {
    const rules = rulesOf({
      publicAllowFrom: '10.0.0.0/8  192.0.2.7 2001:db8::/32',
      publicDenyFrom: '10.6.6.6',
    });
    assert.ok(rules);
    for (const ip of ['10.1.2.3', '192.0.2.7', '2001:db8::1', '::ffff:10.1.2.3'])
      assert.ok(permits(rules, ip), ip);
    for (const ip of ['10.6.6.6', '192.0.2.8', '203.0.113.1', '2001:db9::1', ''])
      assert.ok(!permits(rules, ip), ip);
  });

  it('needs every Pod allow list and no deny list of any Pod', () => {
    const rules = rulesOf(
      { publicAllowFrom: '10.0.0.0/8' },
      { publicAllowFrom: '10.1.0.0/16' },
      { publicDenyFrom: '10.1.2.0/24' },
    );
    assert.ok(rules);
    assert.ok(permits(rules, '10.1.3.4'));
    assert.ok(!permits(rules, '10.2.0.1'), 'outside the second allow list');
    assert.ok(!permits(rules, '10.1.2.9'), 'in a deny list');
  });

  it('closes the routes of a Pod with a malformed list, and says why', () => {
    const read = readAccess(pod({ publicDenyFrom: '10.0.0.0/8 not-an-ip' }), NAMES);
    assert.equal(read.rejections.length, 1);
    assert.match(read.rejections[0]?.reason ?? '', /not-an-ip.*403 to everyone/);
    const rules = combineAccess([read.access]);
    assert.ok(rules?.closed);
    assert.ok(!permits(rules, '192.0.2.1'), 'a bad deny list never opens the route');
  });
});
