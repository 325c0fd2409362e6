import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import {
  createServer as createH2Server,
  connect as h2connect,
  constants as h2constants,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Client, Metadata, status } from '@grpc/grpc-js';
import { TestCa, tlsSecret } from '../support/certs.ts';
import {
  call,
  ECHO_SERVICE,
  echoClient,
  type GrpcEcho,
  startGrpcEcho,
} from '../support/grpc-echo.ts';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  type RunningRouter,
  secret,
  startRouter,
} from '../support/harness.ts';

/**
 * Conformance: gRPC end to end on both builds. A real grpc-js client calls a real grpc-js
 * server through the router's plain port (h2c with prior knowledge); the Pod port is named
 * `grpc`, so the router speaks h2c to it. Every call shape streams through, trailers and the
 * app's own status are relayed, and the router's own answers are gRPC statuses the client
 * reads (never an HTTP error it cannot).
 */

const KEY = 'grpc-key-6c1d0e';
const APP_IP = '127.0.16.1';
let app: GrpcEcho;
let stubborn: StubbornPod;

/**
 * A gRPC Pod that never answers and ignores `grpc-timeout` (grpc-js enforces it in the Pod
 * too, and whichever timer fires first would decide the test): only the router, or the
 * caller through the router, can end its calls. Counts the calls reset with CANCEL.
 */
interface StubbornPod {
  readonly port: number;
  readonly cancelled: () => number;
  readonly waitCancelled: (count: number) => Promise<void>;
  close(): Promise<void>;
}

async function startStubbornPod(host: string): Promise<StubbornPod> {
  const server = createH2Server();
  let cancelled = 0;
  const waiters = new Set<() => void>();
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream) => {
    stream.resume();
    stream.on('error', () => {});
    stream.on('close', () => {
      if (stream.rstCode !== h2constants.NGHTTP2_CANCEL) return;
      cancelled++;
      for (const wake of waiters) wake();
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    cancelled: () => cancelled,
    waitCancelled: (count) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (cancelled < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Sessions the router keeps open would hold close() back.
        for (const session of sessions) session.destroy();
      }),
  };
}

before(async () => {
  app = await startGrpcEcho(APP_IP);
  stubborn = await startStubbornPod(APP_IP);
});

after(async () => {
  await app.close();
  await stubborn.close();
});

function items(build: BuildUnderTest, options: { ready?: boolean } = {}) {
  const base = {
    ip: APP_IP,
    ports: [app.port],
    portNames: { [app.port]: 'grpc' },
    paths: `${app.port}:/`,
    ...(options.ready === undefined ? {} : { ready: options.ready }),
  };
  return [
    pod(build, { ...base, name: 'open', namespace: 'open', hosts: 'open.grpc.test' }),
    pod(build, { ...base, name: 'keyed', namespace: 'keyed', hosts: 'keyed.grpc.test' }),
    pod(build, {
      ...base,
      name: 'stubborn',
      namespace: 'stubborn',
      hosts: 'stubborn.grpc.test',
      ports: [stubborn.port],
      portNames: { [stubborn.port]: 'grpc' },
      paths: `${stubborn.port}:/`,
    }),
    secret('keyed', 'routing', { [build.apiKeyField]: KEY }),
    // Routed to a port nothing listens on: the upstream fails.
    pod(build, {
      name: 'dead',
      namespace: 'dead',
      ip: APP_IP,
      ports: [1],
      portNames: { 1: 'grpc-api' },
      hosts: 'dead.grpc.test',
      paths: '1:/',
    }),
  ];
}

const withKey = (key: string) => ({ metadata: { 'x-routing-api-key': key } });

for (const build of BUILDS) {
  describe(`gRPC (${build.tier} build)`, () => {
    let router: RunningRouter;
    const clients: Client[] = [];
    const client = (authority: string) => {
      const made = echoClient(`127.0.0.1:${router.port}`, authority);
      clients.push(made);
      return made;
    };

    before(async () => {
      router = await startRouter(build, items(build), { UPSTREAM_REQUEST_TIMEOUT: '30s' });
    });

    after(async () => {
      for (const made of clients) made.close();
      await router.stop();
    });

    it('relays a unary call with its trailing metadata', async () => {
      const result = await call(client('open.grpc.test'), 'Echo', ['hello']);
      assert.equal(result.code, status.OK, result.details);
      const seen = JSON.parse(result.messages[0] ?? '{}');
      assert.equal(seen.message, 'hello');
      assert.equal(seen.forwardedFor, '127.0.0.1');
      assert.deepEqual(result.trailers['x-app-trailer'], 'relayed');
    });

    it('streams server-, client- and bidi-streaming calls', async () => {
      const open = client('open.grpc.test');
      const counted = await call(open, 'Count', ['50']);
      assert.equal(counted.code, status.OK, counted.details);
      assert.deepEqual(
        counted.messages,
        Array.from({ length: 50 }, (_, i) => String(i)),
      );
      assert.equal(counted.trailers['x-app-trailer'], 'relayed');
      const collected = await call(open, 'Collect', ['a', 'b', 'c']);
      assert.equal(collected.code, status.OK, collected.details);
      assert.deepEqual(collected.messages, ['a,b,c']);
    });

    it('carries a bidi call message by message (each answer before the next request)', async () => {
      const open = client('open.grpc.test');
      const definition = ECHO_SERVICE.Chat;
      const stream = open.makeBidiStreamRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        new Metadata(),
        {},
      );
      const ended = once(stream, 'status');
      for (const word of ['one', 'two', 'three']) {
        stream.write(word);
        const [answer] = await once(stream, 'data');
        assert.equal(answer, `echo:${word}`);
      }
      stream.end();
      const [final] = (await ended) as [{ code: number; metadata: Metadata }];
      assert.equal(final.code, status.OK);
      assert.deepEqual(final.metadata.get('x-app-trailer'), ['relayed']);
    });

    it('streams window-sized messages both ways on one bidi call, every byte in order', async () => {
      // 64 KiB messages: each overfills a default HTTP/2 stream window, so every hop has to
      // wait for its reader (flow control). 12 of them stay under CLIENT_MAX_BODY_SIZE (1m),
      // which counts a request stream as a whole.
      const messages = Array.from({ length: 12 }, (_, i) => `${i}:`.padEnd(65_536, 'x'));
      const result = await call(client('open.grpc.test'), 'Chat', messages);
      assert.equal(result.code, status.OK, result.details);
      assert.equal(result.messages.length, messages.length);
      assert.ok(result.messages.every((answer, i) => answer === `echo:${messages[i]}`));
    });

    it('cuts a request stream over CLIENT_MAX_BODY_SIZE with 8 RESOURCE_EXHAUSTED', async () => {
      const messages = Array.from({ length: 24 }, () => 'y'.repeat(65_536));
      const result = await call(client('open.grpc.test'), 'Collect', messages);
      assert.equal(result.code, status.RESOURCE_EXHAUSTED);
    });

    it("relays the app's own error status and message", async () => {
      const result = await call(client('open.grpc.test'), 'Fail', ['x']);
      assert.equal(result.code, status.NOT_FOUND);
      assert.equal(result.details, 'no such thing');
    });

    it('checks the API key sent as metadata: 16 when missing, 7 when wrong', async () => {
      const keyed = client('keyed.grpc.test');
      const missing = await call(keyed, 'Echo', ['x']);
      assert.equal(missing.code, status.UNAUTHENTICATED);
      const wrong = await call(keyed, 'Echo', ['x'], withKey(`${KEY}-not`));
      assert.equal(wrong.code, status.PERMISSION_DENIED);
      const right = await call(keyed, 'Echo', ['x'], withKey(KEY));
      assert.equal(right.code, status.OK, right.details);
      // The key stops at the router, as over HTTP/1.1.
      assert.equal(JSON.parse(right.messages[0] ?? '{}').apiKeySeen, false);
      const streamed = await call(keyed, 'Count', ['3'], withKey(KEY));
      assert.deepEqual(streamed.messages, ['0', '1', '2']);
    });

    it('answers 14 UNAVAILABLE when the upstream fails', async () => {
      const result = await call(client('dead.grpc.test'), 'Echo', ['x']);
      assert.equal(result.code, status.UNAVAILABLE);
    });

    it('answers 12 UNIMPLEMENTED for a host no route serves', async () => {
      const result = await call(client('nobody.grpc.test'), 'Echo', ['x']);
      assert.equal(result.code, status.UNIMPLEMENTED);
    });

    it("cancels the Pod's call when the caller's deadline passes", async () => {
      const before = stubborn.cancelled();
      const result = await call(client('stubborn.grpc.test'), 'Hang', ['x'], { deadlineMs: 200 });
      assert.equal(result.code, status.DEADLINE_EXCEEDED);
      await stubborn.waitCancelled(before + 1);
    });

    it('honours grpc-timeout itself: 4 DEADLINE_EXCEEDED from the router, the Pod cancelled', async () => {
      // A raw HTTP/2 client that never gives up: only the router can end this call.
      const before = stubborn.cancelled();
      const started = performance.now();
      const session = h2connect(`http://127.0.0.1:${router.port}`);
      try {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/test.Echo/Hang',
          ':authority': 'stubborn.grpc.test',
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': '150m',
        });
        stream.end(Buffer.from([0, 0, 0, 0, 1, 0x78]));
        const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
        const [trailers] = (await once(stream, 'trailers')) as [IncomingHttpHeaders];
        stream.resume();
        assert.equal(headers[':status'], 200);
        assert.equal(headers['content-type'], 'application/grpc');
        assert.equal(trailers['grpc-status'], String(status.DEADLINE_EXCEEDED));
        // The router's own limit here is UPSTREAM_REQUEST_TIMEOUT=30s: far later.
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 10_000, `ended after ${elapsed} ms, not by grpc-timeout (150 ms)`);
        await stubborn.waitCancelled(before + 1);
      } finally {
        session.close();
      }
    });

    it('relays trailers to an HTTP/1.1 client that sent TE: trailers, and only then', async () => {
      const post = (te: boolean) =>
        new Promise<{ headers: IncomingHttpHeaders; trailers: NodeJS.Dict<string> }>(
          (resolve, reject) => {
            const req = httpRequest(
              {
                host: '127.0.0.1',
                port: router.port,
                method: 'POST',
                path: '/test.Echo/Echo',
                agent: false,
                headers: {
                  host: 'open.grpc.test',
                  'content-type': 'application/grpc',
                  ...(te ? { te: 'trailers' } : {}),
                },
              },
              (res) => {
                res.resume();
                res.on('end', () => resolve({ headers: res.headers, trailers: res.trailers }));
              },
            );
            req.on('error', reject);
            req.end(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]));
          },
        );
      const asked = await post(true);
      assert.equal(asked.trailers['grpc-status'], '0');
      assert.equal(asked.trailers['x-app-trailer'], 'relayed');
      const unasked = await post(false);
      assert.deepEqual(unasked.trailers, {});
    });

    it('answers 14 UNAVAILABLE once the Pod is gone', async () => {
      await router.setState(items(build, { ready: false }));
      const result = await call(client('open.grpc.test'), 'Echo', ['x']);
      assert.equal(result.code, status.UNAVAILABLE);
      assert.match(result.details, /ready Pod/);
      await router.setState(items(build));
      const back = await call(client('open.grpc.test'), 'Echo', ['x']);
      assert.equal(back.code, status.OK, back.details);
    });
  });

  describe(`gRPC over TLS (${build.tier} build)`, () => {
    let router: RunningRouter;
    let ca: TestCa;
    const clients: Client[] = [];

    before(async () => {
      ca = new TestCa();
      router = await startRouter(
        build,
        [
          pod(build, {
            name: 'secure',
            namespace: 'secure',
            ip: APP_IP,
            ports: [app.port],
            portNames: { [app.port]: 'grpc' },
            hosts: 'secure.grpc.test',
            paths: `${app.port}:/`,
            extraAnnotations: { [`${build.tier}TlsSecret`]: 'grpc-tls' },
          }),
          tlsSecret('secure', 'grpc-tls', ca.issue({ names: ['secure.grpc.test'] })),
        ],
        { TLS_PORT: '0' },
      );
    });

    after(async () => {
      for (const made of clients) made.close();
      await router.stop();
      ca.close();
    });

    it('serves a gRPC client over TLS (ALPN h2) with the certificate of the host', async () => {
      const secure = echoClient(`127.0.0.1:${router.tlsPort}`, 'secure.grpc.test', ca.cert);
      clients.push(secure);
      const result = await call(secure, 'Count', ['3']);
      assert.equal(result.code, status.OK, result.details);
      assert.deepEqual(result.messages, ['0', '1', '2']);
      assert.equal(result.trailers['x-app-trailer'], 'relayed');
    });

    it('tells a cleartext gRPC client of a TLS host to use TLS: 9 FAILED_PRECONDITION', async () => {
      const plain = echoClient(`127.0.0.1:${router.port}`, 'secure.grpc.test');
      clients.push(plain);
      const result = await call(plain, 'Echo', ['x']);
      assert.equal(result.code, status.FAILED_PRECONDITION);
      assert.match(result.details, /TLS only/);
    });
  });

  describe(`gRPC over a limit (${build.tier} build)`, () => {
    let router: RunningRouter;
    let grpcClient: Client;

    before(async () => {
      router = await startRouter(build, items(build), {
        CLIENT_RATE_LIMIT: '1/m',
        CLIENT_RATE_BURST: '0',
      });
      grpcClient = echoClient(`127.0.0.1:${router.port}`, 'open.grpc.test');
    });

    after(async () => {
      grpcClient.close();
      await router.stop();
    });

    it('answers 8 RESOURCE_EXHAUSTED when the client is over its rate', async () => {
      const first = await call(grpcClient, 'Echo', ['x']);
      assert.equal(first.code, status.OK, first.details);
      const limited = await call(grpcClient, 'Echo', ['x']);
      assert.equal(limited.code, status.RESOURCE_EXHAUSTED);
    });
  });
}
