import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILDS, pod, ROOT, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';

/**
 * What a retry after a connect failure sends, as raw bytes against a backend that records
 * them: one Pod of the route refuses connections (ejected for only 1 ms, so round robin
 * keeps sending every other first attempt to it), the other records. A body is never sent
 * twice, a retried head carries each forwarded and propagation field once, and the hostile
 * requests refused before dispatch stay refused.
 */

let backend: RecordingBackend;
/** A port on 127.0.22.9 where nothing listens. */
const DEAD_PORT = 1;
const HOST = 'retry.example.com';

before(async () => {
  backend = await startRecordingBackend('127.0.22.1');
});

after(() => backend.close());

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const headerOf = (request: { headers: readonly string[] }, name: string) =>
  request.headers
    .filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((line) => line.slice(name.length + 1).trim());

const retries = async (router: RunningRouter): Promise<number> => {
  const metrics = (await router.admin('/metrics')).body;
  return Number(/podrouter_upstream_retries_total\{tier="\w+"\} (\d+)/.exec(metrics)?.[1] ?? 0);
};

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

for (const build of BUILDS)
  for (const engine of ['raw', 'undici']) {
    describe(`retry safety (${build.tier} build, ${engine} upstream engine)`, () => {
      let router: RunningRouter;

      before(async () => {
        router = await startRouter(
          build,
          [
            pod(build, {
              name: 'dead',
              namespace: 'retry',
              ip: '127.0.22.9',
              ports: [DEAD_PORT],
              hosts: HOST,
              paths: `${DEAD_PORT}:/`,
            }),
            pod(build, {
              name: 'alive',
              namespace: 'retry',
              ip: backend.host,
              ports: [backend.port],
              hosts: HOST,
              paths: `${backend.port}:/`,
            }),
          ],
          {
            EJECTION_DURATION: '1ms',
            UPSTREAM_ENGINE: engine,
            // Tracing on, nothing sampled: the unsampled path propagates ids only.
            OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
            OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
            OTEL_TRACES_SAMPLER_ARG: '0',
          },
        );
      });
      after(() => router.stop());

      it('never sends a body twice, nor retries a request with a body after a refusal', async () => {
        backend.reset();
        const before = await retries(router);
        const answers: number[] = [];
        // POST, and idempotent methods that carry a body (by length, chunked, or a
        // zero-padded length): none is retried, the partly read body never resent.
        const methods = ['POST', 'POST', 'PUT', 'PUT', 'GET', 'GET', 'DELETE', 'DELETE'];
        for (const [i, method] of methods.entries()) {
          await new Promise((r) => setTimeout(r, 5));
          const body = `body-${i}-${'x'.repeat(20)}`;
          const framing =
            i % 4 === 1
              ? 'Transfer-Encoding: chunked'
              : i % 4 === 2
                ? `Content-Length: 0${body.length}`
                : `Content-Length: ${body.length}`;
          const chunks =
            i % 4 === 1
              ? [
                  `a\r\n${body.slice(0, 10)}\r\n`,
                  `${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`,
                ]
              : [body.slice(0, 10), body.slice(10)];
          const { text } = await rawClient(
            router.port,
            [
              `${method} /submit/${i} HTTP/1.1\r\nHost: ${HOST}\r\n${framing}\r\nConnection: close\r\n\r\n`,
              ...chunks,
            ],
            { pauseMs: 20 },
          );
          answers.push(statusOf(text));
        }
        assert.ok(
          answers.every((s) => s === 200 || s === 502),
          `${answers}`,
        );
        assert.ok(answers.includes(502), `a request met the refusing Pod: ${answers}`);
        const posts = backend.requests;
        assert.equal(posts.length, answers.filter((s) => s === 200).length);
        const targets = posts.map((r) => r.target);
        assert.equal(new Set(targets).size, targets.length, 'no POST reached the Pod twice');
        const bodies = backend.bytes().match(/body-\d-x{20}/g) ?? [];
        assert.equal(bodies.length, posts.length, 'each body crossed once');
        assert.equal(new Set(bodies).size, bodies.length, 'no body crossed twice');
        assert.equal(await retries(router), before, 'a request with a body is never retried');
      });

      it('retries a GET with one Host, one X-Forwarded-For and one of each propagation field', async () => {
        backend.reset();
        const before = await retries(router);
        const oversized = Array.from({ length: 40 }, (_, i) => `k${i}=${'v'.repeat(12)}`).join(',');
        const heads = [
          // Malformed traceparent (non-hex): replaced by a new trace; its tracestate goes too.
          `traceparent: 00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-00f067aa0ba902b7-00\r\ntracestate: a=b\r\n`,
          // All-zero trace id: invalid, replaced.
          `traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-00\r\n`,
          // Valid, unsampled, with an oversized tracestate (over 512 characters, 40 members).
          `traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\ntracestate: ${oversized}\r\n`,
          // Oversized traceparent (a longer version-00 value): invalid, replaced.
          `traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-${'f'.repeat(300)}\r\n`,
          // Two traceparent fields: invalid, replaced.
          `traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\ntraceparent: 00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\n`,
          // Baggage, oversized.
          `traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\nbaggage: ${'b'.repeat(9000)}=1\r\n`,
        ];
        let sent = 0;
        for (const extra of heads) {
          for (let i = 0; i < 2; i++) {
            await new Promise((r) => setTimeout(r, 5));
            const { text } = await rawClient(router.port, [
              `GET /get/${sent++} HTTP/1.1\r\nHost: ${HOST}\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n${extra}Connection: close\r\n\r\n`,
            ]);
            assert.equal(statusOf(text), 200, text.slice(0, 200));
          }
        }
        assert.ok((await retries(router)) > before, 'some GET was retried');
        assert.equal(backend.requests.length, sent);
        for (const request of backend.requests) {
          const index = Number(request.target.slice(5));
          const what = `${request.target}: ${request.headers.join(' | ').slice(0, 600)}`;
          assert.equal(headerOf(request, 'host').length, 1, what);
          assert.equal(headerOf(request, 'x-forwarded-for').length, 1, what);
          assert.ok(headerOf(request, 'forwarded').length <= 1, what);
          const parents = headerOf(request, 'traceparent');
          assert.equal(parents.length, 1, what);
          assert.match(parents[0] ?? '', TRACEPARENT, what);
          assert.doesNotMatch(parents[0] ?? '', /-0{32}-|z/, what);
          const states = headerOf(request, 'tracestate');
          assert.ok(states.length <= 1, what);
          for (const state of states) {
            assert.ok(state.length > 0 && state.length <= 512, `tracestate kept: ${what}`);
          }
          if (index < 2)
            assert.equal(states.length, 0, `a replaced trace keeps no tracestate: ${what}`);
          assert.ok(headerOf(request, 'baggage').length <= 1, what);
        }
      });

      it('still refuses framing, Host and dot-segment attacks when the Pod refuses first', async () => {
        backend.reset();
        const attacks = [
          `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
          `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nHost: other.example.com\r\nConnection: close\r\n\r\n`,
          `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab`,
          `GET /a/../../etc/passwd HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
          `GET /a/%2e%2e/%2e%2e/etc HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
          `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n0\r\n\r\n`,
        ];
        for (const attack of attacks) {
          for (let i = 0; i < 2; i++) {
            await new Promise((r) => setTimeout(r, 5));
            const { text } = await rawClient(router.port, [attack]);
            assert.equal(statusOf(text), 400, `${JSON.stringify(attack)} -> ${text.slice(0, 120)}`);
          }
        }
        assert.deepEqual(backend.requests, []);
        assert.equal(backend.bytes(), '');
      });
    });
  }

for (const build of BUILDS) {
  describe(`propagation fields and the engine's field checks (${build.tier} build)`, () => {
    let router: RunningRouter;

    before(async () => {
      router = await startRouter(
        build,
        [
          pod(build, {
            name: 'alive',
            namespace: 'retry',
            ip: backend.host,
            ports: [backend.port],
            hosts: HOST,
            paths: `${backend.port}:/`,
          }),
        ],
        {
          HOOKS_MODULE: `${ROOT}/test/http1/injecting-hooks.ts`,
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0',
        },
      );
    });
    after(() => router.stop());

    it("still checks the fields after the client's when the tracer removes inbound propagation fields", async () => {
      backend.reset();
      // Each inbound propagation field the tracer removes moves the fields after it up a
      // position: the router's own X-Forwarded-* (here from a Host a hook changed) must not
      // move into the part the strict parser vouched for and skip the engine's check.
      for (const extra of [
        '',
        'baggage: a=1\r\n'.repeat(4),
        'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\ntracestate: a=b\r\nbaggage: a=1\r\nbaggage: b=2\r\n',
      ]) {
        const { text } = await rawClient(router.port, [
          `GET /inject-host-copy HTTP/1.1\r\nHost: ${HOST}\r\n${extra}Connection: close\r\n\r\n`,
        ]);
        assert.notEqual(statusOf(text), 200, `${JSON.stringify(extra)} -> ${text.slice(0, 200)}`);
      }
      assert.doesNotMatch(backend.bytes(), /X-Injected/i);
      assert.deepEqual(backend.requests, []);
    });
  });
}
