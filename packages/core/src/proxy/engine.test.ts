import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectErrorKind, connectFailureKind } from './engine.ts';

describe('connectFailureKind (the connection was not made)', () => {
  it('tells a refusal, a timeout and the router’s own failure apart, code by code', () => {
    for (const [code, kind] of [
      ['ECONNREFUSED', 'connect-refused'],
      ['EHOSTUNREACH', 'connect-refused'],
      ['ENETUNREACH', 'connect-refused'],
      // A reset before the handshake completed: the Pod (or a middlebox) turned it down.
      ['ECONNRESET', 'connect-refused'],
      // The kernel's own give-up (tcp_syn_retries), seen when the router sets no connect limit.
      ['ETIMEDOUT', 'connect-timeout'],
      // The router ran out of descriptors, buffers, memory or local ports: not the Pod.
      ['EMFILE', 'connect-local'],
      ['ENFILE', 'connect-local'],
      ['ENOBUFS', 'connect-local'],
      ['ENOMEM', 'connect-local'],
      ['EADDRNOTAVAIL', 'connect-local'],
      ['EADDRINUSE', 'connect-local'],
      // An unknown code, or none: the connection to that Pod could not be made.
      ['EPERM', 'connect-refused'],
      ['', 'connect-refused'],
    ] as const)
      assert.equal(connectFailureKind(code), kind, code);
  });
});

describe('connectErrorKind (the code alone, connection state unknown)', () => {
  it('names only codes a connect attempt fails with, not ones an open connection breaks with', () => {
    assert.equal(connectErrorKind('ECONNREFUSED'), 'connect-refused');
    assert.equal(connectErrorKind('EMFILE'), 'connect-local');
    assert.equal(connectErrorKind('EADDRNOTAVAIL'), 'connect-local');
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', ''])
      assert.equal(connectErrorKind(code), undefined, code);
  });
});
