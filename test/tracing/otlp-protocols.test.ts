import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, send, startRouter } from '../support/harness.ts';
import { type OtlpReceiver, SpanKinds, startOtlpReceiver } from '../support/otlp-receiver.ts';

/**
 * OTLP over the two protocols next to http/protobuf (which the other tracing tests use):
 * http/json to the receiver's HTTP endpoint and grpc to its grpc-js TraceService. Each
 * router exports its hop's spans of a traced request, decoded by the receiver, with the
 * headers of OTEL_EXPORTER_OTLP_HEADERS (as HTTP headers, or gRPC metadata).
 */

const [PUBLIC, PRIVATE] = BUILDS as [(typeof BUILDS)[0], (typeof BUILDS)[0]];
let receiver: OtlpReceiver;
let app: EchoApp;

before(async () => {
  receiver = await startOtlpReceiver();
  app = await startEchoApp({ host: '127.0.42.1', port: 0, name: 'app' });
});

after(async () => {
  await app.close();
  await receiver.close();
});

const cases = [
  { build: PUBLIC, protocol: 'grpc', trace: '0af7651916cd43dd8448eb211c80319c' },
  { build: PRIVATE, protocol: 'http/json', trace: '1bf7651916cd43dd8448eb211c80319d' },
] as const;

for (const { build, protocol, trace } of cases) {
  it(`${build.tier} build exports its spans over OTLP ${protocol}`, async () => {
    const router = await startRouter(
      build,
      [
        pod(build, {
          name: 'app',
          namespace: 'traced',
          ip: '127.0.42.1',
          ports: [app.port],
          hosts: 'otlp.example.com',
          paths: `${app.port}:/`,
        }),
      ],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? receiver.grpcUrl : receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=t0k%3D',
      },
    );
    try {
      const bodiesBefore = receiver.contentTypes.length;
      const result = await send({
        port: router.port,
        host: 'otlp.example.com',
        path: '/hello',
        headers: { traceparent: `00-${trace}-b7ad6b7169203331-01` },
      });
      assert.equal(result.status, 200);
      const spans = await receiver.waitFor(
        (all) => all.filter((span) => span.traceId === trace).length >= 2,
      );
      const ours = spans.filter((span) => span.traceId === trace);
      const server = ours.find((span) => span.kind === SpanKinds.SERVER);
      const client = ours.find((span) => span.kind === SpanKinds.CLIENT);
      assert.ok(server && client, JSON.stringify(ours));
      assert.equal(server.parentSpanId, 'b7ad6b7169203331');
      assert.equal(client.parentSpanId, server.spanId);
      assert.equal(server.service, `podrouter-${build.tier}`);
      assert.equal(server.attributes['http.response.status_code'], 200);
      const types = receiver.contentTypes.slice(bodiesBefore);
      const expected = protocol === 'grpc' ? 'application/grpc' : 'application/json';
      assert.ok(types.length > 0 && types.every((type) => type.startsWith(expected)), `${types}`);
      for (const headers of receiver.headers.slice(bodiesBefore))
        assert.equal(headers['x-collector-token'], 't0k=');
    } finally {
      await router.stop();
    }
  });
}

it('drops spans the export queue has no room for, never holding a request, and counts them', async () => {
  // A collector that takes the connection and never answers: the first export stays out.
  const silent = createServer(() => undefined);
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const { port } = silent.address() as AddressInfo;
  const router = await startRouter(
    PUBLIC,
    [
      pod(PUBLIC, {
        name: 'app',
        namespace: 'traced',
        ip: '127.0.42.1',
        ports: [app.port],
        hosts: 'otlp.example.com',
        paths: `${app.port}:/`,
      }),
    ],
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_MAX_QUEUE_SIZE: '2',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
      // Long enough for the four requests; short enough that stopping does not wait long.
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      ACCESS_LOG: 'off',
    },
  );
  try {
    // Two spans a request: the first batch goes out and hangs, the second fills the queue.
    for (let i = 0; i < 4; i++) {
      const result = await send({ port: router.port, host: 'otlp.example.com', path: '/x' });
      assert.equal(result.status, 200);
    }
    const metrics = await router.admin('/metrics');
    const dropped = /^podrouter_tracing_spans_dropped_total\{tier="public"\} (\d+)$/m.exec(
      metrics.body,
    );
    assert.ok(dropped, metrics.body);
    assert.equal(Number(dropped[1]), 4);
  } finally {
    await router.stop();
    silent.closeAllConnections();
    silent.close();
  }
});
