import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, type RunningRouter, secret, send, startRouter } from '../support/harness.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SpanKinds,
  startOtlpReceiver,
} from '../support/otlp-receiver.ts';

/**
 * client → public router → app A → private router → app B, both routers exporting over
 * OTLP http/protobuf to a real receiver in this test. App A is not instrumented: like any
 * W3C-aware app it forwards the trace headers it got, so the private router's SERVER span
 * hangs under the public router's CLIENT span.
 */

const [PUBLIC, PRIVATE] = BUILDS as [(typeof BUILDS)[0], (typeof BUILDS)[0]];
const KEY = 'pk_live_7Hq2xVbN9sLmQ4wZ';
const KEY_ID = createHash('sha256').update(KEY).digest('hex').slice(0, 8);
const QUERY_SECRET = 'qs-secret-31f9c0';
const INBOUND_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INBOUND_SPAN = '00f067aa0ba902b7';

let receiver: OtlpReceiver;
let appB: EchoApp;
let appA: Server;
let appAPort: number;
let deadPort: number;
let publicRouter: RunningRouter;
let privateRouter: RunningRouter;
/** What app A got from the public router, per request. */
const seenByA: IncomingHttpHeaders[] = [];

const otelEnv = () => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_BSP_SCHEDULE_DELAY: '50',
});

function startAppA(privatePort: () => number): Promise<Server> {
  const server = createServer((req, res) => {
    seenByA.push(req.headers);
    const forward: Record<string, string> = { host: 'app-b.team-b' };
    for (const name of ['traceparent', 'tracestate', 'baggage']) {
      const value = req.headers[name];
      if (typeof value === 'string') forward[name] = value;
    }
    const call = httpRequest(
      { host: '127.0.0.1', port: privatePort(), path: '/b/hello', headers: forward, agent: false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json' });
          res.end(Buffer.concat(chunks));
        });
      },
    );
    call.on('error', () => res.writeHead(502).end());
    call.end();
  });
  server.listen(0, '127.0.40.1');
  return once(server, 'listening').then(() => server);
}

const spansOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
const only = (spans: readonly ReceivedSpan[], predicate: (span: ReceivedSpan) => boolean) => {
  const found = spans.filter(predicate);
  assert.equal(found.length, 1, `expected one span, got ${JSON.stringify(found, null, 1)}`);
  return found[0] as ReceivedSpan;
};

before(async () => {
  receiver = await startOtlpReceiver();
  appB = await startEchoApp({ host: '127.0.40.2', port: 0, name: 'app-b' });
  appA = await startAppA(() => privateRouter.port);
  appAPort = (appA.address() as AddressInfo).port;
  const closed = createServer();
  closed.listen(0, '127.0.40.3');
  await once(closed, 'listening');
  deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  privateRouter = await startRouter(
    PRIVATE,
    [
      pod(PRIVATE, {
        name: 'app-b-1',
        namespace: 'team-b',
        ip: '127.0.40.2',
        ports: [appB.port],
        hosts: 'app-b.team-b',
        paths: `${appB.port}:/b`,
      }),
    ],
    otelEnv(),
  );
  publicRouter = await startRouter(
    PUBLIC,
    [
      pod(PUBLIC, {
        name: 'app-a-1',
        namespace: 'team-a',
        ip: '127.0.40.1',
        ports: [appAPort],
        hosts: 'api.example.com',
        paths: `${appAPort}:/a`,
      }),
      pod(PUBLIC, {
        name: 'ws-1',
        namespace: 'team-b',
        ip: '127.0.40.2',
        ports: [appB.port],
        hosts: 'api.example.com',
        paths: `${appB.port}:/ws`,
      }),
      pod(PUBLIC, {
        name: 'keyed-1',
        namespace: 'team-k',
        ip: '127.0.40.2',
        ports: [appB.port],
        hosts: 'api.example.com',
        paths: `${appB.port}:/k`,
      }),
      secret('team-k', 'routing', { [PUBLIC.apiKeyField]: KEY }),
      pod(PUBLIC, {
        name: 'dead-1',
        namespace: 'team-d',
        ip: '127.0.40.3',
        ports: [deadPort],
        hosts: 'api.example.com',
        paths: `${deadPort}:/dead`,
      }),
    ],
    otelEnv(),
  );
});

after(async () => {
  await Promise.all([publicRouter?.stop(), privateRouter?.stop()]);
  appA?.closeAllConnections();
  await Promise.all([
    appA && new Promise<void>((resolve) => appA.close(() => resolve())),
    appB?.close(),
    receiver?.close(),
  ]);
});

describe('tracing across two router hops', () => {
  it('exports one trace: public SERVER → CLIENT → private SERVER → CLIENT, under the caller', async () => {
    const result = await send({
      port: publicRouter.port,
      host: 'api.example.com',
      path: `/a/hello?token=${QUERY_SECRET}`,
      headers: {
        'x-routing-api-key': KEY,
        traceparent: `00-${INBOUND_TRACE}-${INBOUND_SPAN}-01`,
        tracestate: 'vendor=abc',
        baggage: 'tenant=acme',
      },
    });
    assert.equal(result.status, 200);
    const atB = result.json<{ headers: IncomingHttpHeaders }>().headers;

    const spans = await receiver.waitFor(() => spansOf(INBOUND_TRACE).length >= 4);
    const trace = spans.filter((span) => span.traceId === INBOUND_TRACE);
    assert.equal(trace.length, 4, JSON.stringify(trace, null, 1));
    const publicServer = only(
      trace,
      (s) => s.service === 'podrouter-public' && s.kind === SpanKinds.SERVER,
    );
    const publicClient = only(
      trace,
      (s) => s.service === 'podrouter-public' && s.kind === SpanKinds.CLIENT,
    );
    const privateServer = only(
      trace,
      (s) => s.service === 'podrouter-private' && s.kind === SpanKinds.SERVER,
    );
    const privateClient = only(
      trace,
      (s) => s.service === 'podrouter-private' && s.kind === SpanKinds.CLIENT,
    );
    assert.equal(publicServer.parentSpanId, INBOUND_SPAN);
    assert.equal(publicClient.parentSpanId, publicServer.spanId);
    assert.equal(privateServer.parentSpanId, publicClient.spanId);
    assert.equal(privateClient.parentSpanId, privateServer.spanId);

    assert.equal(publicServer.name, 'GET /a');
    assert.deepEqual(
      {
        method: publicServer.attributes['http.request.method'],
        path: publicServer.attributes['url.path'],
        status: publicServer.attributes['http.response.status_code'],
        route: publicServer.attributes['http.route'],
        host: publicServer.attributes['podrouter.route.host'],
        tier: publicServer.attributes['podrouter.tier'],
        namespace: publicServer.attributes['k8s.namespace.name'],
        pod: publicServer.attributes['k8s.pod.name'],
        upstream: publicServer.attributes['podrouter.upstream.address'],
        retries: publicServer.attributes['podrouter.retries'],
        keyId: publicServer.attributes['podrouter.api_key.id'],
      },
      {
        method: 'GET',
        path: '/a/hello',
        status: 200,
        route: '/a',
        host: 'api.example.com',
        tier: 'public',
        namespace: 'team-a',
        pod: 'app-a-1',
        upstream: `127.0.40.1:${appAPort}`,
        retries: 0,
        keyId: KEY_ID,
      },
    );
    assert.equal(publicServer.status, 0);
    assert.equal(publicClient.attributes['server.address'], '127.0.40.1');
    assert.equal(publicClient.attributes['server.port'], appAPort);
    assert.equal(publicClient.attributes['url.full'], `http://127.0.40.1:${appAPort}/a/hello`);
    assert.equal(publicClient.attributes['http.response.status_code'], 200);
    assert.equal(privateServer.attributes['podrouter.tier'], 'private');
    assert.equal(privateServer.attributes['k8s.pod.name'], 'app-b-1');
    assert.equal(privateClient.attributes['k8s.namespace.name'], 'team-b');

    // What the last app got: exactly one traceparent, naming the private CLIENT span;
    // tracestate and baggage carried along both hops.
    assert.equal(atB.traceparent, `00-${INBOUND_TRACE}-${privateClient.spanId}-01`);
    assert.equal(atB.tracestate, 'vendor=abc');
    assert.equal(atB.baggage, 'tenant=acme');
    assert.ok(receiver.contentTypes.every((type) => type === 'application/x-protobuf'));
  });

  it('sends exactly one valid traceparent upstream when the client sent duplicates or garbage', async () => {
    const cases: Record<string, string | string[]>[] = [
      {
        traceparent: [
          `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
          `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`,
        ],
      },
      { traceparent: 'not-a-traceparent', tracestate: 'x=1' },
      { traceparent: `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01` },
    ];
    for (const headers of cases) {
      const before = seenByA.length;
      const result = await send({
        port: publicRouter.port,
        host: 'api.example.com',
        path: '/a/dup',
        headers,
      });
      assert.equal(result.status, 200);
      const got = seenByA[before] as IncomingHttpHeaders;
      const value = got.traceparent;
      assert.equal(typeof value, 'string', JSON.stringify(got));
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(value as string);
      assert.ok(match, `one well-formed traceparent, got ${value}`);
      assert.notEqual(match[1], 'a'.repeat(32));
      assert.notEqual(match[1], 'c'.repeat(32));
      assert.notEqual(match[1], '0'.repeat(32));
      assert.equal(got.tracestate, undefined);
      const isEntry = (s: ReceivedSpan) =>
        s.traceId === match[1] && s.kind === SpanKinds.SERVER && s.service === 'podrouter-public';
      const server = (await receiver.waitFor((all) => all.some(isEntry))).find(isEntry);
      assert.equal(server?.parentSpanId, '', 'a new root trace');
    }
  });

  it('marks upstream failures as errors, with one CLIENT span per attempt', async () => {
    const result = await send({
      port: publicRouter.port,
      host: 'api.example.com',
      path: '/dead/x',
    });
    assert.equal(result.status, 502);
    const spans = await receiver.waitFor((all) =>
      all.some(
        (s) =>
          s.kind === SpanKinds.SERVER &&
          s.attributes['url.path'] === '/dead/x' &&
          s.attributes['http.response.status_code'] === 502,
      ),
    );
    const server = only(
      spans,
      (s) => s.kind === SpanKinds.SERVER && s.attributes['url.path'] === '/dead/x',
    );
    assert.equal(server.status, 2);
    assert.equal(server.attributes['error.type'], 'connect-refused');
    const clients = await receiver.waitFor(
      (all) => all.filter((s) => s.parentSpanId === server.spanId).length >= 1,
    );
    const attempts = clients.filter((s) => s.parentSpanId === server.spanId);
    assert.ok(attempts.length >= 1);
    for (const attempt of attempts) {
      assert.equal(attempt.kind, SpanKinds.CLIENT);
      assert.equal(attempt.status, 2);
      assert.equal(attempt.attributes['error.type'], 'connect-refused');
    }
  });

  it('gives a WebSocket upgrade a SERVER span covering the handshake and a CLIENT span', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${publicRouter.port}/ws/chat`, {
      headers: { host: 'api.example.com' },
    });
    const [first] = (await once(socket, 'message')) as [Buffer];
    const echoed = JSON.parse(first.toString()) as { headers: IncomingHttpHeaders };
    socket.close();
    const traceparent = echoed.headers.traceparent as string;
    const traceId = traceparent.split('-')[1] as string;
    const spans = await receiver.waitFor(() => spansOf(traceId).length >= 2);
    const trace = spans.filter((s) => s.traceId === traceId);
    const server = only(trace, (s) => s.kind === SpanKinds.SERVER);
    const client = only(trace, (s) => s.kind === SpanKinds.CLIENT);
    assert.equal(server.attributes['podrouter.upgrade'], true);
    assert.equal(server.attributes['http.response.status_code'], 101);
    assert.equal(server.name, 'GET /ws');
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(traceparent.split('-')[2], client.spanId);
  });

  it('records policy denials as span events and the decision as an attribute', async () => {
    const denied = await send({
      port: publicRouter.port,
      host: 'api.example.com',
      path: '/k/denied',
      headers: { 'x-routing-api-key': 'wrong-key-0000' },
    });
    assert.equal(denied.status, 403);
    const allowed = await send({
      port: publicRouter.port,
      host: 'api.example.com',
      path: '/k/allowed',
      headers: { 'x-routing-api-key': KEY },
    });
    assert.equal(allowed.status, 200);
    const entry = (path: string) => (s: ReceivedSpan) =>
      s.kind === SpanKinds.SERVER && s.attributes['url.path'] === path;
    const spans = await receiver.waitFor(
      (all) => all.some(entry('/k/denied')) && all.some(entry('/k/allowed')),
    );
    const deniedSpan = only(spans, entry('/k/denied'));
    assert.equal(deniedSpan.attributes['podrouter.policy.decision'], 'deny');
    assert.equal(deniedSpan.attributes['http.response.status_code'], 403);
    assert.deepEqual(
      deniedSpan.events.map((event) => [event.name, event.attributes['http.response.status_code']]),
      [['podrouter.policy.denied', 403]],
    );
    assert.equal(spans.filter((s) => s.parentSpanId === deniedSpan.spanId).length, 0);
    const allowedSpan = only(spans, entry('/k/allowed'));
    assert.equal(allowedSpan.attributes['podrouter.policy.decision'], 'allow');
    assert.equal(allowedSpan.attributes['podrouter.api_key.id'], KEY_ID);
  });

  it('never exports or logs the API key or the query string, and logs one access line per request', async () => {
    const lines = publicRouter.logs.filter((line) => line.msg === 'access');
    const line = lines.find((l) => l.path === '/a/hello');
    assert.ok(line, 'an access line for the traced request');
    const publicServer = receiver.spans.find(
      (s) =>
        s.traceId === INBOUND_TRACE &&
        s.service === 'podrouter-public' &&
        s.kind === SpanKinds.SERVER,
    );
    assert.deepEqual(
      {
        tier: line.tier,
        method: line.method,
        host: line.host,
        status: line.status,
        traceId: line.traceId,
        spanId: line.spanId,
        keyId: line.keyId,
        upstream: line.upstream,
      },
      {
        tier: 'public',
        method: 'GET',
        host: 'api.example.com',
        status: 200,
        traceId: INBOUND_TRACE,
        spanId: publicServer?.spanId,
        keyId: KEY_ID,
        upstream: `127.0.40.1:${appAPort}`,
      },
    );
    assert.equal(typeof line.durationMs, 'number');
    assert.ok((line.bytesSent as number) > 0);
    const privateLines = privateRouter.logs.filter((l) => l.msg === 'access');
    assert.ok(privateLines.some((l) => l.traceId === INBOUND_TRACE && l.path === '/b/hello'));

    const exported = Buffer.concat(receiver.bodies);
    const logged =
      JSON.stringify(publicRouter.logs) +
      publicRouter.stderr() +
      JSON.stringify(privateRouter.logs) +
      privateRouter.stderr();
    for (const secret of [KEY, QUERY_SECRET]) {
      assert.equal(exported.includes(secret), false, `${secret} in exported spans`);
      assert.equal(logged.includes(secret), false, `${secret} in logs`);
    }
    assert.ok(exported.includes(KEY_ID), 'the key id is exported instead');
  });
});
