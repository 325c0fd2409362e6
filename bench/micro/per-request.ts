/**
 * Micro-benchmarks of podrouter's per-request work, before and after each cut of issue 11,
 * interleaved in one process (A, B, B, A, …: the side that goes first alternates, the second
 * measured faster with identical code) so a busy machine slows both alike. Prints the median ns
 * per call of each over the rounds. `--base .` (this checkout on both sides) is the control:
 * read a ratio against it.
 *
 *   scripts/node.sh bench/micro/per-request.ts [--rounds 9] [--calls 200000] [--base DIR] [--only TEXT]
 *
 * With `--base DIR` (another checkout with its own node_modules), one traced exchange (five
 * channel events, two spans, batched and encoded to OTLP protobuf, the bytes dropped) runs
 * with DIR's tracing pipeline as "before" and this checkout's as "after", and so do the
 * HTTP/1.1 parser's heads (one keep-alive connection) and the client's response head as the
 * raw engine writes it. `--only TEXT`: the pairs whose name contains TEXT.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Endpoint, ExchangeRecord, Logger, Route } from '@podrouter/core';
import { Tallies } from '@podrouter/core';
import { Counter, Histogram, Registry } from 'prom-client';
import { Http1Parser } from '../../packages/core/src/http1/parser.ts';
import { HistogramTally } from '../../packages/core/src/observability/tallies.ts';
import { matchKey, matchKeyOn } from '../../packages/policy/src/api-key/match-key.ts';
import { parseKeyField } from '../../packages/policy/src/api-key/parse-secret.ts';
import { median } from '../harness/stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '200000' },
    base: { type: 'string' },
    only: { type: 'string', default: '' },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const KEY = 'bench-key-5e6f7a8b9c0d1e2f';
const keys = parseKeyField(Buffer.from(`${KEY}\nother-key plan=gold\n`), { base64Compat: false });
if (keys.kind !== 'keys') throw new Error('bad keys');
const entries = keys.entries;
const connection = {};

/** The key check as it was: a Hash object per request. */
function matchKeyBefore(presented: string) {
  const digest = createHash('sha256').update(presented, 'latin1').digest();
  let found: (typeof entries)[number] | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
  }
  return found;
}

const registry = new Registry();
const tallies = new Tallies();
const counter = new Counter({
  name: 'micro_total',
  help: 'micro',
  labelNames: ['tier', 'host', 'status'],
  registers: [registry],
  collect: () => tallies.flush(),
});
const child = counter.labels('public', 'bench.local', '200');
const tally = tallies.of(() => counter.labels('public', 'bench.local', '201'));
const BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const histogramChild = new Histogram({
  name: 'micro_seconds',
  help: 'micro',
  labelNames: ['tier'],
  buckets: BUCKETS,
  registers: [registry],
}).labels('public');
const histogramTally = new HistogramTally(BUCKETS);

// ---------- heads through the HTTP/1.1 parser, one keep-alive connection ----------

/** nginx's answer in the proxy matrix, and wrk's request with the API key. */
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 09:21:53 GMT\r\nContent-Type: text/plain\r\nContent-Length: 128\r\nConnection: keep-alive\r\n\r\n' +
    'x'.repeat(128),
);
const REQUEST = Buffer.from(
  `GET / HTTP/1.1\r\nHost: bench.local\r\nX-Routing-Api-Key: ${KEY}\r\n\r\n`,
);
type ParserClass = typeof Http1Parser;
const ignore = {
  onHead: () => undefined,
  onBody: () => undefined,
  onTrailers: () => undefined,
  onComplete: () => undefined,
};
function heads(Parser: ParserClass, kind: 'request' | 'response'): () => void {
  const parser = new Parser(kind, ignore);
  const bytes = kind === 'request' ? REQUEST : RESPONSE;
  return () => {
    if (kind === 'response') parser.expectResponseTo('GET');
    parser.execute(bytes);
  };
}

/** The fields of RESPONSE as the parser gives them. */
const RESPONSE_FIELDS = [
  'Server',
  'nginx/1.22.1',
  'Date',
  'Thu, 03 Dec 2026 09:21:53 GMT',
  'Content-Type',
  'text/plain',
  'Content-Length',
  '128',
  'Connection',
  'keep-alive',
];

interface HeadWriter {
  writeHead(status: number, reason: string, fields: string[]): unknown;
  writeCheckedHead?(status: number, reason: string, fields: string[]): unknown;
}

/**
 * What the raw engine does with a Pod's response head: drop hop-by-hop fields, then the
 * client's RawResponse turns them into head text (`checked`: through writeCheckedHead).
 */
function clientHead(
  headers: { clientResponseHeaders(raw: readonly string[]): string[] },
  // biome-ignore lint/suspicious/noExplicitAny: the base's and this checkout's classes alike
  Response: new (req: any, socket: any, owner: any) => HeadWriter,
  checked: boolean,
): () => void {
  const req = { method: 'GET', keepAlive: true, httpVersionMinor: 1 };
  return () => {
    const res = new Response(req, {}, {});
    const fields = headers.clientResponseHeaders(RESPONSE_FIELDS);
    if (checked) res.writeCheckedHead?.(200, 'OK', fields);
    else res.writeHead(200, 'OK', fields);
  };
}

/**
 * What the raw server and the handler do with a parsed request head before the engine: the
 * RawRequest (its joined header view), then the upstream field list with the API key
 * policy's strip and set.
 */
async function requestFieldsOf(
  Parser: ParserClass,
  root: string,
  headers: { upstreamRequestHeaders(req: IncomingMessage, options: unknown): unknown },
): Promise<() => void> {
  const { RawRequest } = await import(join(root, 'packages/core/src/server/raw-request.ts'));
  let head: unknown;
  const parser = new Parser('request', { ...ignore, onHead: (h: unknown) => (head = h) });
  parser.execute(REQUEST);
  parser.execute(REQUEST);
  const socket = { remoteAddress: '127.0.0.1' };
  const options = {
    upgrade: false,
    trustForwarded: false,
    underscores: false,
    identity: new Set(['x-podrouter-key-id']),
    strip: new Set([
      'x-routing-api-key',
      'x-podrouter-key-id',
      'x-podrouter-subject',
      'x-podrouter-plan',
    ]),
    set: new Map([['x-podrouter-key-id', 'k1']]),
  };
  return () => {
    const req = new RawRequest(head, socket, ignore.onComplete);
    headers.upstreamRequestHeaders(req, options);
  };
}

const pairs: Record<string, readonly [before: () => unknown, after: () => unknown]> = {
  'API key check (2 entries)': [() => matchKeyBefore(KEY), () => matchKey(entries, KEY)],
  'API key check, the key accepted before on the connection': [
    () => matchKey(entries, KEY),
    () => matchKeyOn(connection, entries, KEY),
  ],
  'key id for spans/logs (sha256 hex, 8 digits)': [
    () => createHash('sha256').update(KEY, 'latin1').digest('hex').slice(0, 8),
    () => hash('sha256', KEY, 'hex').slice(0, 8),
  ],
  'request counter': [() => child.inc(), () => tally.count++],
  'upstream-duration histogram observe': [
    () => histogramChild.observe(0.0007),
    () => histogramTally.observe(0.0007),
  ],
};

// ---------- one traced exchange ----------

/**
 * A traced exchange end to end in process: the five channel events, the spans, the batch
 * queue and the OTLP protobuf encoding, to a transport that drops the bytes. "before" is
 * the --base checkout's pipeline, "after" this checkout's (HopTracer → SpanBatcher), each
 * loaded from its own tree.
 */
type Events = {
  onRequestStart(message: unknown): void;
  onPolicyDecision(message: unknown): void;
  onUpstreamRequest(message: unknown): void;
  onUpstreamResponse(message: unknown): void;
  onRequestEnd(message: unknown): void;
};
const endpoint = {
  key: '127.0.0.2:8080',
  origin: 'http://127.0.0.2:8080',
  ip: '127.0.0.2',
  port: 8080,
  protocol: 'http1',
  namespace: 'bench',
  podName: 'upstream-0',
} as Endpoint;
const route = { host: 'bench.local', path: '/', namespace: 'bench' } as unknown as Route;
const batch = {
  scheduledDelayMillis: 5000,
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  exportTimeoutMillis: 30000,
};
const tracingConfig = (ratio: number) =>
  ({
    exporter: 'otlp',
    protocol: 'http/protobuf',
    tracesUrl: 'http://127.0.0.1:4318/v1/traces',
    serviceName: 'bench',
    sampler: ratio === 1 ? 'parentbased_always_on' : 'parentbased_traceidratio',
    samplerArg: ratio,
    batch,
  }) as const;
let exportedBytes = 0;

function exchange(tracer: Events): () => void {
  const socket = { remoteAddress: '127.0.0.1', localPort: 80 };
  return () => {
    const req = {
      headers: { host: 'bench.local', 'user-agent': 'wrk', 'x-routing-api-key': KEY },
      method: 'GET',
      url: '/items?page=2',
      httpVersion: '1.1',
      socket,
    } as unknown as IncomingMessage;
    const headers = ['Host', 'bench.local', 'User-Agent', 'wrk', 'x-forwarded-for', '127.0.0.1'];
    tracer.onRequestStart({ req, res: undefined, upgrade: false, socket });
    tracer.onPolicyDecision({ req, route, answer: undefined });
    tracer.onUpstreamRequest({ req, route, endpoint, headers, retries: 0, upgrade: false });
    tracer.onUpstreamResponse({
      req,
      endpoint,
      status: 200,
      retries: 0,
      failure: undefined,
      upgrade: false,
    });
    const record: ExchangeRecord = {
      req,
      route,
      endpoint,
      status: 200,
      startedAt: 0,
      upstreamMs: 1,
      retries: 0,
      failure: undefined,
      upgrade: false,
    };
    tracer.onRequestEnd(record);
  };
}

/** `dir`'s tracing pipeline (SpanData → SpanBatcher → OTLP protobuf), bytes counted and dropped. */
async function tracedExchange(dir: string, ratio: number): Promise<() => void> {
  const otel = await import(join(dir, 'packages/tracing/src/otel.ts'));
  const { batcher } = otel.createSpanPipeline(tracingConfig(ratio), 'public', quietLogger, {
    send: async (body: Uint8Array) => {
      exportedBytes += body.length;
    },
    shutdown: async () => undefined,
  });
  return exchange(
    new otel.HopTracer({
      sampler: otel.createSampler(tracingConfig(ratio).sampler, ratio),
      finish: (span: unknown) => batcher.add(span),
      tier: 'public',
      apiKeyHeader: 'X-ROUTING-API-KEY',
    }),
  );
}
const quietLogger = { warn: () => undefined } as unknown as Logger;

if (values.base !== undefined) {
  const base = resolve(values.base);
  const here = resolve(import.meta.dirname, '../..');
  pairs['traced exchange: 2 spans, batched, encoded to OTLP protobuf'] = [
    await tracedExchange(base, 1),
    await tracedExchange(here, 1),
  ];
  pairs['exchange, tracing sampled 10 % (parentbased_traceidratio), encoded'] = [
    await tracedExchange(base, 0.1),
    await tracedExchange(here, 0.1),
  ];
  const BaseParser = (await import(join(base, 'packages/core/src/http1/parser.ts')))
    .Http1Parser as ParserClass;
  pairs['response head (nginx: 5 fields, 128 B body)'] = [
    heads(BaseParser, 'response'),
    heads(Http1Parser, 'response'),
  ];
  pairs['client response head (nginx: 5 fields → hop-by-hop filter → head text)'] = [
    clientHead(
      await import(join(base, 'packages/core/src/proxy/headers.ts')),
      (await import(join(base, 'packages/core/src/server/raw-response.ts'))).RawResponse,
      false,
    ),
    clientHead(
      await import('../../packages/core/src/proxy/headers.ts'),
      (await import('../../packages/core/src/server/raw-response.ts')).RawResponse,
      true,
    ),
  ];
  pairs['request fields in (wrk + API key: RawRequest, then the upstream field list)'] = [
    await requestFieldsOf(
      BaseParser,
      base,
      await import(join(base, 'packages/core/src/proxy/headers.ts')),
    ),
    await requestFieldsOf(
      Http1Parser,
      resolve(import.meta.dirname, '../..'),
      await import('../../packages/core/src/proxy/headers.ts'),
    ),
  ];
  pairs['request head (wrk: 2 fields)'] = [
    heads(BaseParser, 'request'),
    heads(Http1Parser, 'request'),
  ];
}

if (values.only !== undefined)
  for (const name of Object.keys(pairs)) if (!name.includes(values.only)) delete pairs[name];

const results = new Map<string, { before: number[]; after: number[] }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, [before, after]] of Object.entries(pairs)) {
    if (!name.includes(values.only)) continue;
    const entry = results.get(name) ?? { before: [], after: [] };
    results.set(name, entry);
    // Which side goes first alternates by round: the second side of a pair measured faster
    // even with identical code on both (a control of 0.67–0.70 on the traced exchange).
    const sides = [
      ['before', before],
      ['after', after],
    ] as const;
    for (const [side, fn] of round % 2 === 0 ? sides : [sides[1], sides[0]]) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) {
        fn();
        // Let batch exports (timers, immediates, promise callbacks) run, as a server would.
        if ((i & 255) === 255) await new Promise(setImmediate);
      }
      entry[side].push(Number(process.hrtime.bigint() - started) / CALLS);
    }
  }
}
console.log('| per request | before ns | after ns | after/before |\n|---|---:|---:|---:|');
for (const [name, { before, after }] of results) {
  const b = median(before);
  const a = median(after);
  console.log(`| ${name} | ${b.toFixed(0)} | ${a.toFixed(0)} | ${(a / b).toFixed(2)} |`);
}
if (exportedBytes > 0) console.log(`\n(${exportedBytes} bytes of OTLP encoded in all)`);
