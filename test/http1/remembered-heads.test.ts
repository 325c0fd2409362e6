import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mutate, Rng, request, response } from '../../bench/http1-fuzz/generate.ts';
import { Http1Parser, type MessageHead } from '../../packages/core/src/http1/parser.ts';

/**
 * The parser remembers a connection's last head whole and reads a head with the same bytes
 * from there. Property: on streams that repeat heads (as keep-alive clients and Pods do),
 * exact or mutated, split anywhere, a parser that remembers heads reports exactly what one
 * that does not (`maxRememberedHead: 0`, every head scanned) reports: the same heads, body
 * bytes, trailers, completions, consumed counts and errors with their offsets; and a request's
 * lower-case names (remembered by position too) are its field names lower-cased.
 */

type Kind = 'request' | 'response';

function events(
  kind: Kind,
  chunks: readonly Buffer[],
  methods: readonly string[],
  maxRememberedHead: number | undefined,
): unknown[] {
  const log: unknown[] = [];
  const parser = new Http1Parser<MessageHead>(
    kind,
    {
      onHead: (head) => {
        log.push(['head', { ...head, headers: [...head.headers] }]);
        if (kind === 'request') {
          const names = (head as unknown as { names: readonly string[] }).names;
          const expected = head.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
          assert.deepEqual(names, expected);
        }
        // A handler may change the list it gets (inbound.ts rewrites Host): the next head
        // with the same bytes must not see that.
        if (head.headers.length > 1) head.headers[1] = 'changed by the handler';
      },
      onBody: (chunk) => log.push(['body', chunk.toString('latin1')]),
      onTrailers: (fields) => log.push(['trailers', fields]),
      onComplete: () => log.push(['complete']),
    },
    maxRememberedHead === undefined ? {} : { maxRememberedHead },
  );
  let answered = 0;
  for (const chunk of chunks) {
    if (kind === 'response' && parser.idle)
      parser.expectResponseTo(methods[answered++ % methods.length] as string);
    const used = parser.execute(chunk);
    log.push(['used', used, parser.keepAlive]);
    if (used < 0) {
      log.push(['error', parser.error?.code, parser.error?.offset]);
      return log;
    }
  }
  const end = parser.finish();
  log.push(['finish', end?.code, end?.offset]);
  return log;
}

/** A stream of 2–6 messages drawn from 1–2 originals, repeated, some repeats mutated. */
function stream(rng: Rng, kind: Kind): { bytes: Buffer; methods: string[] } {
  rng.clean = rng.chance(0.7);
  const methods = Array.from({ length: 1 + rng.int(3) }, () => (rng.chance(0.2) ? 'HEAD' : 'GET'));
  const originals = Array.from({ length: 1 + rng.int(2) }, () =>
    Buffer.from(kind === 'request' ? request(rng) : response(rng, false, false), 'latin1'),
  );
  const parts: Buffer[] = [];
  const count = 2 + rng.int(5);
  for (let i = 0; i < count; i++) {
    const original = rng.pick(originals);
    parts.push(rng.chance(0.15) ? mutate(rng, original) : original);
  }
  return { bytes: Buffer.concat(parts), methods };
}

/** The bytes cut at 0–3 random places (a head split across reads is kept and joined). */
function split(rng: Rng, bytes: Buffer): Buffer[] {
  const cuts = [...new Set(Array.from({ length: rng.int(4) }, () => rng.int(bytes.length)))].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out.filter((chunk) => chunk.length > 0);
}

describe('remembered heads', () => {
  for (const kind of ['request', 'response'] as const) {
    it(`read ${kind} streams with repeated and mutated heads as a parser that scans every head`, () => {
      let remembered = 0;
      for (let seed = 1; seed <= 4000; seed++) {
        const rng = new Rng(seed * 7919 + (kind === 'request' ? 0 : 1));
        const { bytes, methods } = stream(rng, kind);
        const chunks = split(rng, bytes);
        const expected = events(kind, chunks, methods, 0);
        const actual = events(kind, chunks, methods, undefined);
        assert.deepEqual(
          actual,
          expected,
          `seed ${seed}: ${JSON.stringify(bytes.toString('latin1'))}`,
        );
        if (expected.filter((event) => (event as unknown[])[0] === 'head').length > 1) remembered++;
      }
      // Most streams carry more than one head, so the remembered path is what was compared.
      assert.ok(remembered > 1000, `only ${remembered} streams with a repeated head`);
    });
  }

  it('hands each head its own field list, and decides keep-alive again for a HEAD answer', () => {
    const heads: MessageHead[] = [];
    const parser = new Http1Parser<MessageHead>('response', {
      onHead: (head) => {
        heads.push(head);
        head.headers[1] = 'changed';
      },
      onBody: () => undefined,
      onTrailers: () => undefined,
      onComplete: () => undefined,
    });
    // No length: read until close after a GET, but no body at all after a HEAD.
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nServer: a\r\n\r\n');
    parser.expectResponseTo('HEAD');
    assert.equal(parser.execute(bytes), bytes.length);
    assert.equal(parser.keepAlive, true);
    parser.expectResponseTo('HEAD');
    assert.equal(parser.execute(bytes), bytes.length);
    assert.equal(parser.keepAlive, true);
    parser.expectResponseTo('GET');
    assert.equal(parser.execute(bytes), bytes.length);
    assert.equal(parser.keepAlive, false);
    assert.equal(parser.readsUntilClose, true);
    assert.deepEqual(
      heads.map((head) => head.headers),
      [
        ['Server', 'changed'],
        ['Server', 'changed'],
        ['Server', 'changed'],
      ],
    );
    assert.notEqual(heads[0]?.headers, heads[1]?.headers);
  });
});
