import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectFailureKind } from './engine.ts';

describe('connectFailureKind', () => {
  it('tells a refused connect from one whose SYNs went unanswered', () => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])
      assert.equal(connectFailureKind(code), 'connect-refused', code);
    // The kernel's own give-up (tcp_syn_retries), seen when the router sets no connect limit.
    assert.equal(connectFailureKind('ETIMEDOUT'), 'connect-timeout');
  });
});
