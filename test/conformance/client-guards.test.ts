import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILDS, pod, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';

/** Per-client guards: request rate and requests in flight per client address. */

let backend: RecordingBackend;
before(async () => {
  backend = await startRecordingBackend('127.0.22.1');
});
after(() => backend.close());

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

for (const build of BUILDS) {
  describe(`client guards (${build.tier} build)`, () => {
    let router: RunningRouter;
    before(async () => {
      router = await startRouter(
        build,
        [
          pod(build, {
            name: 'app',
            ip: backend.host,
            ports: [backend.port],
            hosts: 'guarded.example.com',
            paths: `${backend.port}:/`,
          }),
          pod(build, {
            name: 'office',
            namespace: 'office',
            ip: backend.host,
            ports: [backend.port],
            hosts: 'office.example.com',
            paths: `${backend.port}:/`,
            extraAnnotations: {
              [`${build.tier}AllowFrom`]: '203.0.113.0/24',
              [`${build.tier}DenyFrom`]: '203.0.113.66',
            },
          }),
          pod(build, {
            name: 'typo',
            namespace: 'typo',
            ip: backend.host,
            ports: [backend.port],
            hosts: 'typo.example.com',
            paths: `${backend.port}:/`,
            extraAnnotations: { [`${build.tier}DenyFrom`]: '203.0.113.0/33' },
          }),
        ],
        {
          CLIENT_RATE_LIMIT: '1/s',
          CLIENT_RATE_BURST: '1',
          CLIENT_MAX_CONCURRENT: '1',
          TRUSTED_PROXIES: '127.0.0.1/32',
        },
      );
    });
    after(() => router.stop());

    const get = (client: string, path = '/') =>
      rawClient(router.port, [
        `GET ${path} HTTP/1.1\r\nHost: guarded.example.com\r\nX-Forwarded-For: 6.6.6.6, ${client}\r\nConnection: close\r\n\r\n`,
      ]);

    it('answers 429 with Retry-After past the rate and burst, per client address', async () => {
      backend.reset();
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await get('198.51.100.1'));
      assert.deepEqual(
        answers.map((a) => statusOf(a.text)),
        [200, 200, 429],
      );
      assert.match(answers[2]?.text ?? '', /retry-after: 1/i);
      assert.equal(backend.requests.length, 2, 'the refused request never reached the Pod');
      // Another client behind the same trusted proxy has its own budget.
      assert.equal(statusOf((await get('198.51.100.2')).text), 200);
      // The chain is extended from a trusted proxy, not replaced.
      assert.ok(
        backend.requests[0]?.headers.includes('x-forwarded-for: 6.6.6.6, 198.51.100.1, 127.0.0.1'),
        backend.requests[0]?.headers.join('\n'),
      );
    });

    it("applies a host's allow and deny CIDRs to the client address; a malformed list closes it", async () => {
      const call = (host: string, client: string) =>
        rawClient(router.port, [
          `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${client}\r\nConnection: close\r\n\r\n`,
        ]);
      backend.reset();
      assert.equal(statusOf((await call('office.example.com', '203.0.113.5')).text), 200);
      assert.equal(statusOf((await call('office.example.com', '203.0.113.66')).text), 403);
      assert.equal(statusOf((await call('office.example.com', '198.51.100.77')).text), 403);
      assert.equal(statusOf((await call('typo.example.com', '203.0.113.5')).text), 403);
      assert.equal(backend.requests.length, 1, 'refused requests never reach the Pod');
      const routes = (await router.admin('/routes')).json<{
        pods: { name: string; rejections: { reason: string }[] }[];
      }>();
      const typo = routes.pods.find((p) => p.name === 'typo');
      assert.match(typo?.rejections[0]?.reason ?? '', /203\.0\.113\.0\/33/);
    });

    it('answers 503 to a second request in flight, and frees the slot when the first ends', async () => {
      backend.reset();
      backend.hold(true);
      const first = rawClient(
        router.port,
        [
          'GET /slow HTTP/1.1\r\nHost: guarded.example.com\r\nX-Forwarded-For: 198.51.100.3\r\n\r\n',
        ],
        { quietMs: 800 },
      );
      while (backend.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
      const second = await get('198.51.100.3', '/second');
      assert.equal(statusOf(second.text), 503);
      assert.match(second.text, /retry-after: 1/i);
      backend.hold(false);
      await first; // gives up after 800 ms of silence and closes: the exchange ends
      await new Promise((r) => setTimeout(r, 1100)); // the rate budget refills too
      assert.equal(statusOf((await get('198.51.100.3', '/third')).text), 200);
    });
  });
}
