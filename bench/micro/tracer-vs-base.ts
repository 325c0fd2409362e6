/**
 * The tracer against another checkout's (`--base DIR`, e.g. main before a change to the
 * span path): random exchanges (methods, hosts, keys,
 * inbound traceparent/tracestate/baggage, policy answers, attempts and retries, failures,
 * upgrades, samplers) go through both, and the spans (name, kind, attributes, events, status,
 * trace state, parentage) and the upstream propagation headers must be the same, ids aside.
 * Not a CI test: it needs the other checkout.
 *
 *   scripts/node.sh bench/micro/tracer-vs-base.ts --base /work/base [--runs 3000]
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { HopTracer } from '../../packages/tracing/src/hop-tracer.ts';
import type { SpanData } from '../../packages/tracing/src/span-data.ts';
import { createSampler } from '../../packages/tracing/src/trace-context.ts';

const { values } = parseArgs({
  options: { base: { type: 'string' }, runs: { type: 'string', default: '3000' } },
});
if (values.base === undefined) throw new Error('--base DIR: the checkout to compare with');
const base = resolve(values.base);
const old = await import(join(base, 'packages/tracing/src/otel.ts'));

/** What both tracers' spans are compared on. */
interface Shape {
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  code: number;
  message: string;
  traceState: string;
}
const hex = (n: number) =>
  fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => !/^0+$/.test(s));
const exchange = fc.record({
  sampler: fc.constantFrom(
    'parentbased_always_on',
    'always_on',
    'parentbased_always_off',
    'always_off',
  ),
  method: fc.constantFrom('GET', 'POST', 'PURGE', 'get', 'DELETE'),
  url: fc.constantFrom('/', '/api/items?token=s3cr3t', '/a/b', '/x?'),
  host: fc.constantFrom('cart.shop', 'Cart.Shop:8080', '[::1]:81', '', 'h:bad:x', undefined),
  ua: fc.option(fc.constantFrom('curl/8', 'wrk')),
  key: fc.option(fc.constantFrom('the-key', 'other')),
  traceparent: fc.option(
    fc.oneof(
      fc
        .tuple(hex(32), hex(16), fc.constantFrom('00', '01', '03'))
        .map(([t, s, f]) => `00-${t}-${s}-${f}`),
      fc.constantFrom('garbage', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`),
    ),
  ),
  tracestate: fc.option(fc.constantFrom('vendor=abc', 'a=1,b=2', 'BAD')),
  baggage: fc.option(fc.constantFrom('tenant=acme', 'a=1;p=2')),
  remote: fc.option(fc.constantFrom('10.0.0.9', '::1')),
  encrypted: fc.boolean(),
  upgrade: fc.boolean(),
  policy: fc.constantFrom('none', 'allow', 'deny', 'error'),
  attempts: fc.array(
    fc.record({
      status: fc.constantFrom(0, 200, 404, 503),
      failure: fc.option(fc.constantFrom('connect-refused', 'client-gone', 'timeout')),
      respond: fc.boolean(),
    }),
    { maxLength: 2 },
  ),
  route: fc.boolean(),
  endpoint: fc.boolean(),
  status: fc.constantFrom(0, 200, 403, 502, 503),
  failure: fc.option(fc.constantFrom('connect-refused', 'client-gone')),
});

const endpoint = {
  key: '10.244.0.7:8080',
  origin: 'http://10.244.0.7:8080',
  ip: '10.244.0.7',
  port: 8080,
  protocol: 'http1',
  namespace: 'shop',
  podName: 'cart-1',
};
const route = { host: 'cart.shop', path: '/api', namespace: 'shop' };

type Tracer = {
  onRequestStart: (m: unknown) => void;
  onPolicyDecision: (m: unknown) => void;
  onUpstreamRequest: (m: unknown) => void;
  onUpstreamResponse: (m: unknown) => void;
  onRequestEnd: (m: unknown) => void;
};

type Exchange = typeof exchange extends fc.Arbitrary<infer T> ? T : never;

function drive(t: Tracer, e: Exchange) {
  const headers: Record<string, string> = {};
  if (e.host !== undefined) headers.host = e.host;
  if (e.ua) headers['user-agent'] = e.ua;
  if (e.key) headers['x-routing-api-key'] = e.key;
  if (e.traceparent) headers.traceparent = e.traceparent;
  if (e.tracestate) headers.tracestate = e.tracestate;
  if (e.baggage) headers.baggage = e.baggage;
  const socket: Record<string, unknown> = { localPort: 80 };
  if (e.remote) socket.remoteAddress = e.remote;
  if (e.encrypted) socket.encrypted = true;
  const req = {
    headers,
    method: e.method,
    url: e.url,
    httpVersion: '1.1',
    socket,
  } as unknown as IncomingMessage;
  t.onRequestStart({ req, res: undefined, upgrade: e.upgrade, socket });
  if (e.policy !== 'none')
    t.onPolicyDecision({
      req,
      route,
      answer:
        e.policy === 'allow'
          ? undefined
          : { status: e.policy === 'deny' ? 403 : 503, title: 'Nope' },
    });
  const sent: string[][] = [];
  e.attempts.forEach((a, retries) => {
    const list =
      retries === 0
        ? ['accept', '*/*', ...(e.traceparent ? ['traceparent', e.traceparent] : [])]
        : (sent[0] as string[]);
    const copy = [...list];
    t.onUpstreamRequest({ req, route, endpoint, headers: copy, retries, upgrade: e.upgrade });
    sent.push(copy);
    if (a.respond)
      t.onUpstreamResponse({
        req,
        endpoint,
        status: a.status,
        retries,
        failure: a.failure ?? undefined,
        upgrade: e.upgrade,
      });
  });
  t.onRequestEnd({
    req,
    route: e.route ? route : undefined,
    endpoint: e.endpoint ? endpoint : undefined,
    status: e.status,
    startedAt: 0,
    upstreamMs: 0,
    retries: e.attempts.length > 1 ? 1 : 0,
    failure: e.failure ?? undefined,
    upgrade: e.upgrade,
  });
  return sent;
}

/** Keys as names, whether a checkout keeps them as strings or as encoded keys. */
const attrs = (list: readonly unknown[]) => {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < list.length; i += 2) {
    const key = list[i] as string | { name: string };
    if (list[i + 1] !== undefined) o[typeof key === 'string' ? key : key.name] = list[i + 1];
  }
  return o;
};
/** An id as the W3C headers spell it. */
const hexOf = (id: string) => id;
/** A span, ids aside, in the terms both checkouts share. */
const shape = (s: SpanData): Shape => ({
  name: s.name,
  kind: s.kind,
  attributes: attrs([
    ...s.attributes,
    // A checkout from before blocks has none.
    ...((s as { blocks?: SpanData['blocks'] }).blocks ?? []).flatMap((block) => block.list),
  ]),
  events: s.events.map((ev) => ({ name: ev.name, attributes: attrs(ev.attributes) })),
  code: s.statusCode,
  message: s.statusMessage,
  traceState: s.traceState,
});
let cases = 0,
  spansSeen = 0;
fc.assert(
  fc.property(exchange, (e) => {
    const gotBefore: SpanData[] = [];
    const before = new old.HopTracer({
      sampler: old.createSampler(e.sampler, 1),
      finish: (s: SpanData) => gotBefore.push(s),
      tier: 'public',
      apiKeyHeader: 'X-Routing-Api-Key',
    });
    const got: SpanData[] = [];
    const after = new HopTracer({
      sampler: createSampler(e.sampler, 1),
      finish: (s) => got.push(s),
      tier: 'public',
      apiKeyHeader: 'X-Routing-Api-Key',
    });
    const sentBefore = drive(before, e);
    const sentAfter = drive(after, e);
    assert.deepEqual(got.map(shape), gotBefore.map(shape));
    // Same relationships: ids by role.
    assert.equal(got.length, gotBefore.length);
    got.forEach((s, i) => {
      const o = gotBefore[i] as SpanData;
      const inbound =
        e.traceparent &&
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(e.traceparent) &&
        !e.traceparent.includes('0'.repeat(32))
          ? e.traceparent.split('-')
          : undefined;
      if (inbound) assert.equal(hexOf(s.traceId), inbound[1]);
      assert.equal(s.parentSpanId === '', o.parentSpanId === '');
      if (inbound && s.kind === 2) assert.equal(hexOf(s.parentSpanId), inbound[2]);
      assert.equal(s.flags, o.flags);
    });
    // Upstream headers: same names, same tracestate/baggage, same flags and trace id.
    assert.equal(sentAfter.length, sentBefore.length);
    sentAfter.forEach((list, i) => {
      const old = sentBefore[i] as string[];
      assert.deepEqual(
        list.filter((_, j) => j % 2 === 0),
        old.filter((_, j) => j % 2 === 0),
      );
      for (let j = 0; j < list.length; j += 2) {
        if (list[j] === 'traceparent') {
          const [v1, t1, , f1] = (list[j + 1] as string).split('-');
          const [v2, t2, , f2] = (old[j + 1] as string).split('-');
          assert.equal(v1, v2);
          assert.equal(f1, f2);
          if (
            e.traceparent &&
            /^00-/.test(e.traceparent) &&
            list[j + 1] !== undefined &&
            t2 === e.traceparent.split('-')[1]
          )
            assert.equal(t1, t2);
        } else assert.equal(list[j + 1], old[j + 1], list[j]);
      }
    });
    cases++;
    spansSeen += got.length;
  }),
  { numRuns: Number(values.runs) },
);
console.log(
  `${cases} random exchanges, ${spansSeen} spans: the same names, kinds, attributes, events, status, trace state, parentage and upstream headers as the --base checkout's tracer`,
);
