import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { keyIdOf } from './key-id.ts';

const req = (key: string | undefined) =>
  ({ headers: key === undefined ? {} : { 'x-routing-api-key': key } }) as IncomingMessage;
const expected = (key: string) =>
  createHash('sha256').update(key, 'latin1').digest('hex').slice(0, 8);

describe('keyIdOf', () => {
  it('is the first 8 hex digits of the key’s SHA-256, computed once per key, for any number of keys', () => {
    assert.equal(keyIdOf(req('the-key'), 'x-routing-api-key'), 'ad44dc8e');
    assert.equal(keyIdOf(req('the-key'), 'x-routing-api-key'), 'ad44dc8e');
    // More distinct keys than are remembered: every id still right.
    for (let i = 0; i < 2500; i++) {
      const key = `key-${i}`;
      assert.equal(keyIdOf(req(key), 'x-routing-api-key'), expected(key));
    }
    assert.equal(keyIdOf(req('clé-é'), 'x-routing-api-key'), expected('clé-é'));
    assert.equal(keyIdOf(req(undefined), 'x-routing-api-key'), undefined);
    assert.equal(keyIdOf(req(''), 'x-routing-api-key'), undefined);
  });
});
