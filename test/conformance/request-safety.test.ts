import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILDS, pod, ROOT, type RunningRouter, secret, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';

/**
 * Every class of issue "A request path nothing slips past", as raw bytes on a socket against
 * a backend that records the raw bytes it receives: what a client sends that no route and no
 * policy allowed must never cross to a Pod.
 */

const KEY = 'safety-key-0123456789';
let open: RecordingBackend;
let keyed: RecordingBackend;
let privateApp: RecordingBackend;

before(async () => {
  open = await startRecordingBackend('127.0.21.1');
  keyed = await startRecordingBackend('127.0.21.2');
  privateApp = await startRecordingBackend('127.0.21.3');
});

after(async () => {
  await Promise.all([open.close(), keyed.close(), privateApp.close()]);
});

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const headerOf = (request: { headers: readonly string[] }, name: string) =>
  request.headers
    .filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((line) => line.slice(name.length + 1).trim());

for (const build of BUILDS) {
  describe(`request safety (${build.tier} build)`, () => {
    let router: RunningRouter;
    const objects = () => [
      pod(build, {
        name: 'open',
        namespace: 'open',
        ip: open.host,
        ports: [open.port],
        hosts: 'open.example.com',
        paths: `${open.port}:/public ${open.port}:/ws ${open.port}:/fragile`,
      }),
      pod(build, {
        name: 'private',
        namespace: 'open',
        ip: privateApp.host,
        ports: [privateApp.port],
        hosts: 'open.example.com',
        paths: `${privateApp.port}:/private`,
      }),
      pod(build, {
        name: 'keyed',
        namespace: 'keyed',
        ip: keyed.host,
        ports: [keyed.port],
        hosts: 'keyed.example.com',
        paths: `${keyed.port}:/`,
      }),
      secret('keyed', 'routing', { [build.apiKeyField]: KEY }),
    ];

    before(async () => {
      router = await startRouter(build, objects(), {
        CLIENT_HEADER_TIMEOUT: '2s',
        CLIENT_BODY_TIMEOUT: '1s',
        CLIENT_KEEPALIVE_TIMEOUT: '1s',
        UPSTREAM_MAX_CONNECTIONS: '1',
        HOOKS_MODULE: `${ROOT}/test/policy/throwing-applies-to.ts`,
      });
    });
    after(() => router.stop());

    const send = (chunks: readonly string[], options?: { pauseMs?: number; quietMs?: number }) =>
      rawClient(router.port, chunks, options);
    const reset = () => {
      for (const backend of [open, keyed, privateApp]) backend.reset();
    };

    describe('upgrades', () => {
      it('relays a non-101 answer and never forwards the bytes that followed the handshake', async () => {
        reset();
        const answer = await send([
          'GET /public HTTP/1.1\r\nHost: open.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' +
            'GET /internal HTTP/1.1\r\nHost: open.example.com\r\n\r\n',
        ]);
        assert.deepEqual(statuses(answer.text), [200]);
        assert.match(answer.text, /connection: close/i);
        assert.ok(answer.closed, 'the connection closes after the relayed answer');
        assert.doesNotMatch(open.bytes(), /internal/);
        assert.deepEqual(
          open.requests.map((r) => r.target),
          ['/public'],
        );
        assert.deepEqual(headerOf(open.requests[0] as never, 'x-forwarded-host'), [
          'open.example.com',
        ]);
      });

      it('runs the route policy on upgrades: a keyed handshake without the key gets 401', async () => {
        reset();
        const answer = await send([
          'GET /ws HTTP/1.1\r\nHost: keyed.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        ]);
        assert.equal(statusOf(answer.text), 401);
        assert.equal(keyed.bytes(), '');
      });

      it('a keyed handshake followed by a keyless request: the second never reaches the Pod', async () => {
        reset();
        await send([
          `GET /public HTTP/1.1\r\nHost: keyed.example.com\r\nX-ROUTING-API-KEY: ${KEY}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n` +
            'GET /secret HTTP/1.1\r\nHost: keyed.example.com\r\n\r\n',
        ]);
        assert.deepEqual(
          keyed.requests.map((r) => r.target),
          ['/public'],
        );
        assert.doesNotMatch(keyed.bytes(), /secret/);
      });

      it('opens the tunnel on 101 and only then delivers the bytes sent with the handshake', async () => {
        reset();
        const answer = await send([
          'GET /ws HTTP/1.1\r\nHost: open.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframe-bytes',
        ]);
        assert.equal(statusOf(answer.text), 101);
        assert.match(answer.text, /frame-bytes$/, 'echoed through the tunnel');
        const bytes = open.bytes();
        assert.ok(bytes.indexOf('frame-bytes') > bytes.indexOf('\r\n\r\n'));
      });

      it('refuses an upgrade POST with a body, and serves an h2c upgrade as a plain request', async () => {
        reset();
        const post = await send([
          'POST /ws HTTP/1.1\r\nHost: open.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhello',
        ]);
        assert.equal(statusOf(post.text), 400);
        assert.equal(open.bytes(), '');
        const h2c = await send([
          'GET /public HTTP/1.1\r\nHost: open.example.com\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
        ]);
        assert.equal(statusOf(h2c.text), 200);
        const seen = open.requests[0];
        assert.ok(seen);
        assert.deepEqual(headerOf(seen, 'upgrade'), []);
        assert.deepEqual(headerOf(seen, 'http2-settings'), []);
      });
    });

    describe('framing', () => {
      it('refuses ambiguous framing before any Pod sees a byte', async () => {
        for (const head of [
          'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
          'Content-Length: 5\r\nContent-Length: 6\r\n',
          'Transfer-Encoding: chunked, identity\r\n',
          'Transfer-Encoding:\tchunked\r\nX: a\r\n folded\r\n',
        ]) {
          reset();
          const answer = await send([
            `POST /public HTTP/1.1\r\nHost: open.example.com\r\n${head}\r\n0\r\n\r\nGET /internal HTTP/1.1\r\nHost: open.example.com\r\n\r\n`,
          ]);
          assert.equal(statusOf(answer.text), 400, JSON.stringify(head));
          assert.equal(open.bytes(), '', JSON.stringify(head));
        }
      });
    });

    describe('paths', () => {
      const get = (target: string) =>
        send([`GET ${target} HTTP/1.1\r\nHost: open.example.com\r\nConnection: close\r\n\r\n`]);

      it('removes dot segments in every spelling before matching', async () => {
        for (const target of [
          '/public/../internal',
          '/public/%2e%2e/internal',
          '/public/.%2E/internal',
          '/public/%2E%2e/internal?x=1',
        ]) {
          reset();
          const answer = await get(target);
          assert.equal(statusOf(answer.text), 404, target);
          assert.equal(open.bytes(), '', target);
        }
        reset();
        const climbed = await get('/public/../private/x?q=/../y');
        assert.equal(statusOf(climbed.text), 200);
        assert.deepEqual(
          privateApp.requests.map((r) => r.target),
          ['/private/x?q=/../y'],
        );
        assert.equal(open.bytes(), '');
      });

      it('sends the Pod the path that was matched', async () => {
        reset();
        await get('/public/./a/%7Euser/b/..');
        assert.deepEqual(
          open.requests.map((r) => r.target),
          ['/public/a/~user/'],
        );
      });

      it('answers 400 to a path above the root, backslashes and encoded slashes', async () => {
        for (const target of [
          '/..',
          '/public/../../x',
          '/public/..\\internal',
          '/public/a%2Fb',
          '/public%5c..',
        ]) {
          reset();
          const answer = await get(target);
          assert.equal(statusOf(answer.text), 400, target);
          assert.equal(open.bytes(), '', target);
        }
      });
    });

    describe('slow clients', () => {
      it('answers 408 to a trickled head within a second of CLIENT_HEADER_TIMEOUT', async () => {
        const answer = await send(
          [
            'GET /public HTTP/1.1\r\n',
            'Host: open.example.com\r\n',
            'X-A: 1\r\n',
            'X-B: 2\r\n',
            'X-C: 3\r\n',
          ],
          { pauseMs: 1000, quietMs: 6000 },
        );
        assert.equal(statusOf(answer.text), 408);
        assert.ok(answer.ms < 3500, `408 after ${Math.round(answer.ms)} ms (timeout 2 s)`);
      });

      it('closes an idle keep-alive connection within a second of CLIENT_KEEPALIVE_TIMEOUT', async () => {
        const answer = await send(['GET /public HTTP/1.1\r\nHost: open.example.com\r\n\r\n'], {
          quietMs: 5000,
        });
        assert.equal(statusOf(answer.text), 200);
        assert.ok(answer.closed, 'the router closed the idle connection');
        assert.ok(answer.ms < 2500, `closed after ${Math.round(answer.ms)} ms (timeout 1 s)`);
      });

      it('treats a client that closes its side as gone: the upstream request is aborted', async () => {
        // Like nginx (499) and Envoy: a half-close ends the exchange, so a client cannot
        // leave an upstream request (and its per-client slot) running after it left.
        const answer = await rawClient(
          router.port,
          ['GET /public/half HTTP/1.1\r\nHost: open.example.com\r\n\r\n'],
          { halfClose: true, quietMs: 3000 },
        );
        assert.ok(answer.closed);
      });

      it('cuts a stalled body with 408 and frees the upstream connection for others', async () => {
        reset();
        const stalled = send(
          ['POST /public HTTP/1.1\r\nHost: open.example.com\r\nContent-Length: 100\r\n\r\nabc'],
          { quietMs: 5000 },
        );
        const answer = await stalled;
        assert.equal(statusOf(answer.text), 408);
        assert.ok(answer.ms < 3000, `408 after ${Math.round(answer.ms)} ms (timeout 1 s)`);
        // UPSTREAM_MAX_CONNECTIONS=1: the stalled exchange's connection was given back.
        const next = await send([
          'GET /public/next HTTP/1.1\r\nHost: open.example.com\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(next.text), 200);
      });
    });

    describe('headers', () => {
      it('answers 400 to two Host headers and to an invalid Host, before any Pod sees them', async () => {
        for (const head of [
          'Host: open.example.com\r\nHost: keyed.example.com\r\n',
          'Host: open.example.com:80@evil.com\r\n',
          'Host: open.example.com/x\r\n',
          '',
        ]) {
          reset();
          const answer = await send([`GET /public HTTP/1.1\r\n${head}Connection: close\r\n\r\n`]);
          assert.equal(statusOf(answer.text), 400, JSON.stringify(head));
          assert.equal(open.bytes() + keyed.bytes(), '', JSON.stringify(head));
        }
      });

      it('lets an absolute-form target win over Host', async () => {
        reset();
        const answer = await send([
          'GET http://open.example.com/public/abs HTTP/1.1\r\nHost: keyed.example.com\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(answer.text), 200);
        assert.deepEqual(headerOf(open.requests[0] as never, 'host'), ['open.example.com']);
        assert.equal(keyed.bytes(), '');
      });

      it('never lets Connection remove Host; drops underscores, client-address and identity headers', async () => {
        reset();
        await send([
          'GET /public HTTP/1.1\r\nHost: open.example.com\r\nConnection: close, host, content-type\r\n' +
            'X_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n' +
            'X-Forwarded-Port: 1\r\nX-Podrouter-Key-Id: forged\r\nX-Podrouter-Plan: admin\r\nX-Podrouter-Subject: root\r\n\r\n',
        ]);
        const seen = open.requests[0];
        assert.ok(seen);
        assert.deepEqual(headerOf(seen, 'host'), ['open.example.com']);
        assert.doesNotMatch(
          open.bytes(),
          /6\.6\.6\.6|forged|X_Forwarded|admin|root|x-forwarded-port/i,
        );
        assert.deepEqual(headerOf(seen, 'x-forwarded-for'), ['127.0.0.1']);
      });
    });

    describe('methods', () => {
      it('answers TRACE with 405', async () => {
        reset();
        const answer = await send([
          'TRACE /public HTTP/1.1\r\nHost: open.example.com\r\nCookie: s=1\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(answer.text), 405);
        assert.equal(open.bytes(), '');
      });

      it('sends 100 Continue only after the policy accepted the request', async () => {
        reset();
        const refused = await send([
          'POST / HTTP/1.1\r\nHost: keyed.example.com\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n',
        ]);
        assert.deepEqual(statuses(refused.text), [401]);
        assert.equal(keyed.bytes(), '');
        const accepted = await send(
          [
            `POST / HTTP/1.1\r\nHost: keyed.example.com\r\nX-ROUTING-API-KEY: ${KEY}\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n`,
            'body',
          ],
          { pauseMs: 300 },
        );
        assert.deepEqual(statuses(accepted.text), [100, 200]);
        assert.equal(keyed.requests[0]?.body, 'body');
        assert.deepEqual(headerOf(keyed.requests[0] as never, 'expect'), []);
      });
    });

    describe('admin and hooks', () => {
      it('serves /routes on the loopback introspection listener only', async () => {
        const probe = await router.admin('/healthz');
        assert.equal(probe.status, 200);
        const onAdmin = await rawClient(router.adminPort, [
          'GET /routes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(onAdmin.text), 404);
        const routes = await router.admin('/routes');
        assert.equal(routes.status, 200);
      });

      it('a hook whose appliesTo throws closes its own route alone, with the reason at /routes', async () => {
        reset();
        const fragile = await send([
          'GET /fragile HTTP/1.1\r\nHost: open.example.com\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(fragile.text), 503);
        assert.equal(open.bytes(), '');
        const fine = await send([
          'GET /public HTTP/1.1\r\nHost: open.example.com\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(statusOf(fine.text), 200);
        const routes = (await router.admin('/routes')).json<{
          pods: { name: string; rejections: { entry: string; reason: string }[] }[];
        }>();
        const reasons = routes.pods.flatMap((p) =>
          p.rejections.map((r) => `${r.entry}: ${r.reason}`),
        );
        assert.ok(
          reasons.some(
            (r) => r.startsWith('open.example.com/fragile') && r.includes('appliesTo exploded'),
          ),
          reasons.join('\n'),
        );
      });
    });
  });
}
