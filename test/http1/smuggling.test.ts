import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWhole } from '../../packages/core/src/http1/parse-whole.ts';
import type { RequestHead, ResponseHead } from '../../packages/core/src/http1/parser.ts';
import { SMUGGLING_VECTORS } from './smuggling-vectors.ts';

/** The smuggling corpus against podrouter's parser alone: refused, or one framing only. */
describe('smuggling vectors', () => {
  for (const vector of SMUGGLING_VECTORS) {
    it(`${vector.kind}: ${vector.name} → ${vector.expect}`, () => {
      const whole = parseWhole(vector.kind, [vector.bytes], { eof: true });
      if (vector.expect === 'refuse') {
        assert.notEqual(whole.error, null, 'accepted');
        // Nothing after the ambiguous message reached the caller as a message of its own.
        for (const message of whole.messages) {
          const head = message.head as Partial<RequestHead & ResponseHead>;
          assert.notEqual(head.target, '/smuggled');
        }
        return;
      }
      assert.equal(whole.error, null);
      // Accepted only without chunked framing: the chunked terminator stayed body bytes.
      assert.ok(whole.messages[0]?.body.toString('latin1').startsWith('0\r\n\r\nX'));
      // Byte-at-a-time feeding frames it the same way.
      const split = parseWhole(
        vector.kind,
        [...vector.bytes].map((byte) => Buffer.from([byte])),
        { eof: true },
      );
      assert.equal(split.messages.length, whole.messages.length);
    });
  }
});
