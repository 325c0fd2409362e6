import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import {
  type Client,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  call,
  ECHO_SERVICE,
  echoClient,
  type GrpcEcho,
  startGrpcEcho,
} from '../support/grpc-echo.ts';
import { BUILDS, pod, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SpanKinds,
  startOtlpReceiver,
} from '../support/otlp-receiver.ts';

/**
 * One gRPC call across both routers, traced: a grpc-js client → public router (h2c) → app A
 * (a grpc-js server that calls on, passing the trace metadata along as any W3C-aware app
 * does) → private router (h2c) → app B. Both routers export to a real OTLP receiver; the
 * four spans form one trace under the caller's span.
 */

const [PUBLIC, PRIVATE] = BUILDS as [(typeof BUILDS)[0], (typeof BUILDS)[0]];
const TRACE = '7a1f2e3d4c5b6a798877665544332211';
const CALLER_SPAN = '1122334455667788';

let receiver: OtlpReceiver;
let appB: GrpcEcho;
let appA: Server;
let appAPort = 0;
let onward: Client;
let publicRouter: RunningRouter;
let privateRouter: RunningRouter;

async function startAppA(): Promise<void> {
  appA = new Server();
  appA.addService(
    { Echo: ECHO_SERVICE.Echo },
    {
      Echo(incoming: ServerUnaryCall<string, string>, callback: sendUnaryData<string>) {
        const metadata: Record<string, string> = {};
        for (const name of ['traceparent', 'tracestate']) {
          const value = incoming.metadata.get(name)[0];
          if (typeof value === 'string') metadata[name] = value;
        }
        call(onward, 'Echo', [incoming.request], { metadata }).then((result) => {
          if (result.code === 0) callback(null, result.messages[0] ?? '');
          else callback({ code: result.code, details: result.details });
        });
      },
    },
  );
  appAPort = await new Promise<number>((resolve, reject) =>
    appA.bindAsync('127.0.41.1:0', ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

const otelEnv = () => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_BSP_SCHEDULE_DELAY: '50',
});

before(async () => {
  receiver = await startOtlpReceiver();
  appB = await startGrpcEcho('127.0.41.2');
  await startAppA();
  privateRouter = await startRouter(
    PRIVATE,
    [
      pod(PRIVATE, {
        name: 'app-b-1',
        namespace: 'team-b',
        ip: '127.0.41.2',
        ports: [appB.port],
        portNames: { [appB.port]: 'grpc' },
        hosts: 'app-b.team-b',
        paths: `${appB.port}:/`,
      }),
    ],
    otelEnv(),
  );
  onward = echoClient(`127.0.0.1:${privateRouter.port}`, 'app-b.team-b');
  publicRouter = await startRouter(
    PUBLIC,
    [
      pod(PUBLIC, {
        name: 'app-a-1',
        namespace: 'team-a',
        ip: '127.0.41.1',
        ports: [appAPort],
        portNames: { [appAPort]: 'grpc-api' },
        hosts: 'api.grpc.test',
        paths: `${appAPort}:/`,
      }),
    ],
    otelEnv(),
  );
});

after(async () => {
  onward?.close();
  await Promise.all([publicRouter?.stop(), privateRouter?.stop()]);
  appA?.forceShutdown();
  await Promise.all([appB?.close(), receiver?.close()]);
});

const only = (spans: readonly ReceivedSpan[], service: string, kind: number) => {
  const found = spans.filter((span) => span.service === service && span.kind === kind);
  assert.equal(found.length, 1, JSON.stringify(spans, null, 1));
  return found[0] as ReceivedSpan;
};

it('traces a gRPC call through both routers as one trace under the caller', async () => {
  const client = echoClient(`127.0.0.1:${publicRouter.port}`, 'api.grpc.test');
  try {
    const result = await call(client, 'Echo', ['traced'], {
      metadata: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01` },
    });
    assert.equal(result.code, 0, result.details);
    const atB = JSON.parse(result.messages[0] ?? '{}') as { message: string; traceparent: string };
    assert.equal(atB.message, 'traced');

    const all = await receiver.waitFor(
      (spans) => spans.filter((span) => span.traceId === TRACE).length >= 4,
    );
    const trace = all.filter((span) => span.traceId === TRACE);
    assert.equal(trace.length, 4, JSON.stringify(trace, null, 1));
    const publicServer = only(trace, 'podrouter-public', SpanKinds.SERVER);
    const publicClient = only(trace, 'podrouter-public', SpanKinds.CLIENT);
    const privateServer = only(trace, 'podrouter-private', SpanKinds.SERVER);
    const privateClient = only(trace, 'podrouter-private', SpanKinds.CLIENT);
    assert.equal(publicServer.parentSpanId, CALLER_SPAN);
    assert.equal(publicClient.parentSpanId, publicServer.spanId);
    assert.equal(privateServer.parentSpanId, publicClient.spanId);
    assert.equal(privateClient.parentSpanId, privateServer.spanId);
    // App B was called under the private router's CLIENT span.
    assert.equal(atB.traceparent, `00-${TRACE}-${privateClient.spanId}-01`);
    for (const server of [publicServer, privateServer]) {
      assert.equal(server.attributes['network.protocol.version'], '2.0');
      assert.equal(server.attributes['http.response.status_code'], 200);
    }
  } finally {
    client.close();
  }
});
