import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ineligibility } from './eligibility.ts';
import type { PodInfo } from './types.ts';

const serving: PodInfo = {
  namespace: 'team-a',
  name: 'web-1',
  uid: 'uid-1',
  createdAt: 0,
  labels: {},
  annotations: {},
  containerPorts: [8080],
  phase: 'Running',
  podIP: '10.0.0.1',
  ready: true,
  terminating: false,
};

describe('ineligibility', () => {
  const cases: Array<{ name: string; pod: Partial<PodInfo>; reason: string | undefined }> = [
    { name: 'Running, IP, Ready', pod: {}, reason: undefined },
    { name: 'terminating', pod: { terminating: true }, reason: 'terminating' },
    {
      name: 'terminating wins over everything',
      pod: { terminating: true, phase: 'Pending', ready: false },
      reason: 'terminating',
    },
    { name: 'Pending', pod: { phase: 'Pending' }, reason: 'phase is Pending, not Running' },
    { name: 'Succeeded', pod: { phase: 'Succeeded' }, reason: 'phase is Succeeded, not Running' },
    { name: 'no phase', pod: { phase: '' }, reason: 'phase is unknown, not Running' },
    { name: 'no Pod IP', pod: { podIP: '' }, reason: 'no Pod IP yet' },
    { name: 'not Ready', pod: { ready: false }, reason: 'Ready condition is not True' },
  ];
  for (const { name, pod, reason } of cases) {
    it(name, () => {
      assert.equal(ineligibility({ ...serving, ...pod }), reason);
    });
  }
});
