import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect } from 'node:http2';
import { after, before, it } from 'node:test';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { TestCa, tlsSecret } from '../support/certs.ts';
import { BUILDS, pod, type RunningRouter, startRouter } from '../support/harness.ts';
import { type OtlpReceiver, SpanKinds, startOtlpReceiver } from '../support/otlp-receiver.ts';

/**
 * HTTP/2 requests are traced like HTTP/1.1 ones: the W3C trace context of the request is
 * continued, one SERVER and one CLIENT span per hop, the protocol version as the client
 * spoke it. Over TLS (ALPN h2) on the public build and with prior knowledge (h2c) on the
 * private one, each exporting to a real OTLP receiver.
 */

const [PUBLIC, PRIVATE] = BUILDS as [(typeof BUILDS)[0], (typeof BUILDS)[0]];
let receiver: OtlpReceiver;
let app: EchoApp;
let ca: TestCa;
const routers: RunningRouter[] = [];

before(async () => {
  receiver = await startOtlpReceiver();
  app = await startEchoApp({ host: '127.0.15.1', port: 0, name: 'app' });
  ca = new TestCa();
});

after(async () => {
  await Promise.all(routers.map((router) => router.stop()));
  await app.close();
  await receiver.close();
  ca.close();
});

async function tracedCall(url: string, servername: string | undefined, trace: string) {
  const client = h2connect(url, servername ? { ca: ca.cert, servername } : {});
  try {
    const stream = client.request({
      ':path': '/traced',
      ':authority': 'traced.example.com',
      traceparent: `00-${trace}-00f067aa0ba902b7-01`,
    });
    const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
    stream.resume();
    await once(stream, 'end');
    assert.equal(headers[':status'], 200);
  } finally {
    client.close();
  }
}

for (const [build, tls] of [
  [PUBLIC, true],
  [PRIVATE, false],
] as const) {
  it(`${build.tier} build: an HTTP/2 request ${tls ? 'over TLS' : '(h2c)'} gets its hop's spans in the caller's trace`, async () => {
    const items = [
      pod(build, {
        name: 'traced',
        namespace: 'traced',
        ip: '127.0.15.1',
        ports: [app.port],
        hosts: 'traced.example.com',
        paths: `${app.port}:/`,
        extraAnnotations: tls ? { [`${build.tier}TlsSecret`]: 'traced-tls' } : {},
      }),
      tlsSecret('traced', 'traced-tls', ca.issue({ names: ['traced.example.com'] })),
    ];
    const router = await startRouter(build, items, {
      TLS_PORT: tls ? '0' : '',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    routers.push(router);
    const trace = tls ? '4bf92f3577b34da6a3ce929d0e0e4736' : '5cf92f3577b34da6a3ce929d0e0e4737';
    await tracedCall(
      tls ? `https://127.0.0.1:${router.tlsPort}` : `http://127.0.0.1:${router.port}`,
      tls ? 'traced.example.com' : undefined,
      trace,
    );
    const spans = await receiver.waitFor(
      (all) => all.filter((span) => span.traceId === trace).length >= 2,
    );
    const ours = spans.filter((span) => span.traceId === trace);
    const server = ours.find((span) => span.kind === SpanKinds.SERVER);
    const client = ours.find((span) => span.kind === SpanKinds.CLIENT);
    assert.ok(server && client, JSON.stringify(ours));
    assert.equal(server.parentSpanId, '00f067aa0ba902b7');
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(server.attributes['network.protocol.version'], '2.0');
    assert.equal(server.attributes['url.scheme'], tls ? 'https' : 'http');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.service, `podrouter-${build.tier}`);
  });
}
