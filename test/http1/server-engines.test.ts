import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BUILDS, podServing, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';
import { SMUGGLING_VECTORS } from './smuggling-vectors.ts';

/**
 * The two servers clients talk to (SERVER_ENGINE=node and raw), side by side on raw bytes:
 * pipelined requests answered in order, slow clients cut by their timeouts, and a
 * differential run in which the same byte streams must get the same status classes from
 * both, and the Pod behind each must receive the same bytes. Where the raw server is
 * stricter on purpose, the difference is listed in STRICTER (and in docs/http1.md).
 */

const HOST = 'engines.example';
const ENGINES = ['node', 'raw'] as const;
type Engine = (typeof ENGINES)[number];

const backends = {} as Record<Engine, RecordingBackend>;
/** Both builds (public, private), each with both client server engines. */
const byBuild: Record<string, Record<Engine, RunningRouter>> = Object.fromEntries(
  BUILDS.map((build) => [build.tier, {} as Record<Engine, RunningRouter>]),
);
const publicRouters = byBuild.public as Record<Engine, RunningRouter>;
const SLOW_WS_HOST = 'slow-ws.example';

/**
 * A WebSocket Pod that takes its time: it answers a handshake with 101 only after 300 ms,
 * then echoes every byte, including those that arrived before its 101.
 */
async function startSlowUpgradeBackend(host: string) {
  let received = '';
  const server: Server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let answered = false;
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (answered) {
        socket.write(chunk);
        return;
      }
      pending += chunk.toString('latin1');
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1 || answered) return;
      answered = true;
      setTimeout(() => {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        );
        socket.write(pending.slice(end + 4), 'latin1');
        pending = '';
      }, 300);
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    host,
    port: (server.address() as AddressInfo).port,
    received: () => received,
    reset: () => {
      received = '';
    },
    close: () => server.close(),
  };
}
const slowUpgrade = {} as Record<Engine, Awaited<ReturnType<typeof startSlowUpgradeBackend>>>;

before(async () => {
  backends.node = await startRecordingBackend('127.0.31.1');
  backends.raw = await startRecordingBackend('127.0.31.2');
  slowUpgrade.node = await startSlowUpgradeBackend('127.0.31.3');
  slowUpgrade.raw = await startSlowUpgradeBackend('127.0.31.4');
  for (const build of BUILDS) {
    const routers = byBuild[build.tier] as Record<Engine, RunningRouter>;
    for (const engine of ENGINES) {
      const backend = backends[engine];
      const ws = slowUpgrade[engine];
      routers[engine] = await startRouter(
        build,
        [podServing(build, 'app', backend, HOST), podServing(build, 'slow-ws', ws, SLOW_WS_HOST)],
        {
          SERVER_ENGINE: engine,
          CLIENT_HEADER_TIMEOUT: '1s',
          CLIENT_BODY_TIMEOUT: '1s',
          CLIENT_KEEPALIVE_TIMEOUT: '2s',
          MAX_HEADER_SIZE: '4096',
        },
      );
    }
  }
});

after(async () => {
  await Promise.all(
    Object.values(byBuild).flatMap((routers) => ENGINES.map((engine) => routers[engine]?.stop())),
  );
  await Promise.all(ENGINES.map((engine) => backends[engine]?.close()));
  for (const engine of ENGINES) slowUpgrade[engine]?.close();
});

const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;

for (const build of BUILDS)
  for (const engine of ENGINES) {
    describe(`${build.tier} build, client server engine: ${engine}`, () => {
      const routers = byBuild[build.tier] as Record<Engine, RunningRouter>;
      const send = (
        chunks: readonly (string | Buffer)[],
        options?: Parameters<typeof rawClient>[2],
      ) => rawClient(routers[engine].port, chunks, options);

      it('answers pipelined requests in order, bodies and all, in one write', async () => {
        const backend = backends[engine];
        backend.reset();
        const answer = await send(
          [
            get('/p1') +
              `POST /p2 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nhello` +
              `POST /p3 HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n` +
              get('/missing/../p4') +
              `HEAD /p5 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` +
              get('/p6', 'Connection: close\r\n'),
          ],
          { quietMs: 3000 },
        );
        assert.ok(answer.closed, 'Connection: close on the last request closes');
        assert.deepEqual(statuses(answer.text), [200, 200, 200, 200, 200, 200]);
        const bodies = [...answer.text.matchAll(/ok (\/\S+?)(?=HTTP|$)/g)].map((m) => m[1]);
        assert.deepEqual(bodies, ['/p1', '/p2', '/p3', '/p4', '/p6']);
        // The recording backend frames by Content-Length only: the chunked body shows as bytes.
        assert.deepEqual(
          backend.requests
            .filter((r) => r.target.startsWith('/'))
            .map((r) => `${r.method} ${r.target}`),
          ['GET /p1', 'POST /p2', 'POST /p3', 'GET /p4', 'HEAD /p5', 'GET /p6'],
        );
        assert.equal(backend.requests[1]?.body, 'hello');
        assert.ok(backend.bytes().includes('\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /p4 '));
      });

      it('answers pipelined requests split at every byte boundary the same way', async () => {
        const bytes = `${get('/s1')}${get('/s2')}${get('/s3', 'Connection: close\r\n')}`;
        const answer = await send(
          [...bytes].map((c) => c),
          { quietMs: 3000 },
        );
        assert.deepEqual(statuses(answer.text), [200, 200, 200]);
        assert.ok(answer.text.indexOf('ok /s1') < answer.text.indexOf('ok /s2'));
        assert.ok(answer.text.indexOf('ok /s2') < answer.text.indexOf('ok /s3'));
      });

      it('answers 408 to a head trickled byte by byte (slowloris), within a second of the timeout', async () => {
        const head = `GET /slow HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ${'a'.repeat(40)}`;
        const answer = await send([...head], { pauseMs: 100, quietMs: 6000 });
        assert.deepEqual(statuses(answer.text), [408]);
        assert.ok(answer.closed);
        assert.ok(answer.ms < 2600, `408 after ${Math.round(answer.ms)} ms (timeout 1 s)`);
      });

      it('answers 408 to an unfinished head that follows a whole one (pipelined, or after the answer)', async () => {
        // A whole head reads no clock; the unfinished one behind it (same write, the backlog
        // while the first is answered, or a later write) must still be timed from its start.
        const partial = `GET /late HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: a`;
        const cases: Array<[string, readonly string[]]> = [
          ['same write', [`${get('/first')}${partial}`]],
          [
            'same write, after a body',
            [`POST /first HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 2\r\n\r\nab${partial}`],
          ],
          ['after the answer', [get('/first'), partial]],
        ];
        const answers = await Promise.all(
          cases.map(([, chunks]) => send(chunks, { pauseMs: 300, quietMs: 6000 })),
        );
        answers.forEach((answer, i) => {
          const what = cases[i]?.[0];
          assert.deepEqual(statuses(answer.text), [200, 408], `${what}: ${answer.text}`);
          assert.ok(answer.closed, `${what}: closed`);
          assert.ok(
            answer.ms < 3600,
            `${what}: 408 after ${Math.round(answer.ms)} ms (timeout 1 s)`,
          );
        });
      });

      it('closes a connection that never sends a byte, and one idle after its request', async () => {
        const silent = await send([], { quietMs: 6000 });
        assert.ok(silent.closed);
        assert.ok(silent.ms < 2600, `closed after ${Math.round(silent.ms)} ms`);
        const idle = await send([get('/idle')], { quietMs: 6000 });
        assert.deepEqual(statuses(idle.text), [200]);
        assert.ok(idle.closed);
        assert.ok(idle.ms < 3600, `closed after ${Math.round(idle.ms)} ms (keep-alive 2 s)`);
      });

      it('answers 408 to a body that stalls (slowloris body) and keeps serving others', async () => {
        const backend = backends[engine];
        backend.reset();
        const answer = await send(
          [`POST /body HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\n`, 'ab', 'cd'],
          { pauseMs: 200, quietMs: 6000 },
        );
        assert.deepEqual(statuses(answer.text), [408]);
        assert.ok(answer.ms < 3000, `408 after ${Math.round(answer.ms)} ms (timeout 1 s)`);
        const next = await send([get('/after', 'Connection: close\r\n')]);
        assert.deepEqual(statuses(next.text), [200]);
      });

      it('streams a request body with backpressure: a large chunked upload arrives whole', async () => {
        const backend = backends[engine];
        backend.reset();
        const chunk = 'x'.repeat(64 * 1024);
        const parts = [
          `POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${chunk.length * 8}\r\nConnection: close\r\n\r\n`,
          ...Array.from({ length: 8 }, () => chunk),
        ];
        const answer = await send(parts, { quietMs: 5000 });
        assert.deepEqual(statuses(answer.text), [200]);
        assert.equal(backend.requests[0]?.body.length, chunk.length * 8);
      });

      it('holds the bytes a client sends while the Pod has not answered its handshake, and delivers them after the 101', async () => {
        const ws = slowUpgrade[engine];
        ws.reset();
        const answer = await send(
          [
            `GET /chat HTTP/1.1\r\nHost: ${SLOW_WS_HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
            'early-frame',
          ],
          { pauseMs: 100, quietMs: 1500 },
        );
        assert.deepEqual(statuses(answer.text), [101]);
        assert.ok(ws.received().endsWith('\r\n\r\nearly-frame'), JSON.stringify(ws.received()));
        assert.ok(answer.text.endsWith('\r\n\r\nearly-frame'), JSON.stringify(answer.text));
      });

      it('answers Expect: 100-continue with 100 then the response, and other expectations with 417', async () => {
        const answer = await send(
          [
            `POST /expect HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n`,
            'ok',
          ],
          { pauseMs: 300 },
        );
        assert.deepEqual(statuses(answer.text), [100, 200]);
        const other = await send([
          `POST /expect HTTP/1.1\r\nHost: ${HOST}\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\nok`,
        ]);
        assert.deepEqual(statuses(other.text), [417]);
      });
    });
  }

/**
 * Where the raw server's answer differs from node:http's, on purpose, by case name (the same
 * list is explained in docs/http1.md):
 *
 * - `refused`: llhttp lets the request (or the start of its body) through to the Pod and
 *   fails later, or not at all; the raw parser refuses it before the Pod sees a byte of it.
 * - `in-order`: a complete, valid request followed by bytes that are not HTTP in the same
 *   read. node:http refuses the whole read at once and drops the valid request; the raw
 *   server answers the valid request, then 400 for the rest, in order. Nothing after the
 *   valid request (the corpus's `/smuggled`) reaches the Pod either way.
 * - `waits`: bare LF line ends. node:http refuses at the first LF; the raw parser looks for
 *   the CRLFCRLF that ends a head, and the request ends at CLIENT_HEADER_TIMEOUT (408) or
 *   the head size limit (431). The Pod sees nothing either way.
 */
const STRICTER: Readonly<Record<string, 'refused' | 'in-order' | 'waits'>> = {
  'smuggling vanilla': 'in-order',
  'smuggling underjoin1': 'in-order',
  'smuggling valueprefix1': 'in-order',
  'smuggling nospace1': 'in-order',
  'smuggling multiCase': 'in-order',
  'smuggling UPPERCASE': 'in-order',
  'smuggling connection': 'in-order',
  'smuggling contentEnc': 'in-order',
  'smuggling encode': 'in-order',
  'smuggling spacefix1:9': 'in-order',
  'smuggling prefix1:9': 'in-order',
  'smuggling cl-underscore (with TE)': 'in-order',
  'smuggling cl-underscore': 'in-order',
  'smuggling unispace': 'refused',
  'smuggling commaCow': 'refused',
  'smuggling cowComma': 'refused',
  'smuggling quoted': 'refused',
  'smuggling aposed': 'refused',
  'smuggling lazygrep': 'refused',
  'smuggling 0dsuffix': 'refused',
  'smuggling revdualchunk': 'refused',
  'smuggling nested': 'refused',
  'smuggling accentCH': 'refused',
  'smuggling spaceFF': 'refused',
  'smuggling suffix1:9': 'refused',
  'smuggling chunk-size-overflow': 'refused',
  'smuggling chunk-size-space': 'refused',
  'smuggling chunk-size-leading-space': 'refused',
  'smuggling chunk-size-0x': 'refused',
  'smuggling chunk-size-lf-only': 'refused',
  'smuggling chunk-data-lf-only': 'refused',
  'smuggling chunk-data-too-long': 'refused',
  'smuggling chunk-ext-bare-cr': 'refused',
  'smuggling last-chunk-no-crlf': 'refused',
  'smuggling trailer-obs-fold': 'refused',
  'chunked on HTTP/1.0': 'refused',
  'chunk size overflow': 'refused',
  'chunk data longer than its size': 'refused',
  'HTTP/2.0 request line': 'refused',
  'two spaces in the request line': 'refused',
  'bare LF line ends': 'waits',
};

interface Case {
  readonly name: string;
  readonly bytes: Buffer;
}

const text = (name: string, value: string): Case => ({ name, bytes: Buffer.from(value, 'latin1') });

/** The smuggling corpus (pointed at the test route) plus request shapes both must agree on. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const vector of SMUGGLING_VECTORS) {
    if (vector.kind !== 'request') continue;
    out.push({
      name: `smuggling ${vector.name}`,
      bytes: Buffer.from(
        vector.bytes
          .toString('latin1')
          .replaceAll(/Host: h(?:\.example)?\r\n/g, `Host: ${HOST}\r\n`),
        'latin1',
      ),
    });
  }
  const h = `Host: ${HOST}\r\n`;
  out.push(
    text('plain GET', `GET /a HTTP/1.1\r\n${h}Connection: close\r\n\r\n`),
    text('HTTP/1.0 GET', `GET /a HTTP/1.0\r\n${h}\r\n`),
    text('HTTP/1.0 without Host', 'GET /a HTTP/1.0\r\n\r\n'),
    text(
      'POST with length',
      `POST /a HTTP/1.1\r\n${h}Content-Length: 3\r\nConnection: close\r\n\r\nabc`,
    ),
    text(
      'chunked with extension and trailer',
      `POST /a HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n`,
    ),
    text(
      'absolute-form target',
      `GET http://${HOST}/abs HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n`,
    ),
    text('bare LF line ends', `GET /a HTTP/1.1\n${h}\n`),
    text('bare CR in a value', `GET /a HTTP/1.1\r\n${h}X: a\rb\r\n\r\n`),
    text('obs-fold', `GET /a HTTP/1.1\r\n${h}X: a\r\n b\r\n\r\n`),
    text('NUL in a value', `GET /a HTTP/1.1\r\n${h}X: a\0b\r\n\r\n`),
    text('space before colon', `GET /a HTTP/1.1\r\n${h}X : a\r\n\r\n`),
    text(
      'two Content-Lengths, same value',
      `POST /a HTTP/1.1\r\n${h}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`,
    ),
    text('Content-Length with sign', `POST /a HTTP/1.1\r\n${h}Content-Length: +1\r\n\r\nx`),
    text(
      'chunked on HTTP/1.0',
      `POST /a HTTP/1.0\r\n${h}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ),
    text(
      'chunk size overflow',
      `POST /a HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n`,
    ),
    text(
      'chunk data longer than its size',
      `POST /a HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n1\r\nxx\r\n0\r\n\r\n`,
    ),
    text('lower-case method', `get /a HTTP/1.1\r\n${h}\r\n`),
    text('unknown method', `FOO /a HTTP/1.1\r\n${h}\r\n`),
    text('HTTP/2.0 request line', `GET /a HTTP/2.0\r\n${h}\r\n`),
    text('HTTP/1.2 request line', `GET /a HTTP/1.2\r\n${h}\r\n`),
    text('tab in the request line', `GET\t/a HTTP/1.1\r\n${h}\r\n`),
    text('two spaces in the request line', `GET  /a HTTP/1.1\r\n${h}\r\n`),
    text('fragment in the target', `GET /a#b HTTP/1.1\r\n${h}\r\n`),
    text('head too large', `GET /a HTTP/1.1\r\n${h}X: ${'a'.repeat(5000)}\r\n\r\n`),
    text(
      'empty lines before the request',
      `\r\n\r\nGET /a HTTP/1.1\r\n${h}Connection: close\r\n\r\n`,
    ),
    text('two Hosts', `GET /a HTTP/1.1\r\n${h}${h}\r\n`),
    text('no Host', 'GET /a HTTP/1.1\r\nConnection: close\r\n\r\n'),
    text(
      'Connection: close, keep-alive',
      `GET /a HTTP/1.1\r\n${h}Connection: keep-alive, close\r\n\r\n`,
    ),
    text(
      'upgrade not allowed (h2c)',
      `GET /a HTTP/1.1\r\n${h}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`,
    ),
    text(
      'pipelined after an error',
      `GET /a HTTP/1.1\r\n${h}X: a\r\n b\r\n\r\nGET /b HTTP/1.1\r\n${h}\r\n`,
    ),
  );
  return out;
}

const classOf = (status: number | undefined) =>
  status === undefined ? 'none' : `${Math.floor(status / 100)}xx`;

describe('differential: node:http and the raw server on the same bytes', () => {
  it('gives the same status classes and sends the Pods the same bytes', async () => {
    const differences: string[] = [];
    for (const entry of cases()) {
      // The previous stream's last bytes (an aborted upstream body) settle first.
      await new Promise((settled) => setTimeout(settled, 150));
      for (const engine of ENGINES) backends[engine].reset();
      const [node, raw] = await Promise.all(
        ENGINES.map((engine) =>
          rawClient(publicRouters[engine].port, [entry.bytes], { quietMs: 1200 }),
        ),
      );
      const nodeClasses = statuses(node?.text ?? '').map(classOf);
      const rawClasses = statuses(raw?.text ?? '').map(classOf);
      const sameAnswers = JSON.stringify(nodeClasses) === JSON.stringify(rawClasses);
      // node:http handles pipelined requests concurrently, over several upstream connections
      // whose bytes interleave at the backend: the same bytes means the same byte count and
      // the same requests, each read from its own connection.
      const pod = (backend: RecordingBackend) =>
        JSON.stringify([
          backend.bytes().length,
          backend.requests.map((r) => JSON.stringify(r)).sort(),
        ]);
      const sameBytes = pod(backends.node) === pod(backends.raw);
      if (sameAnswers && sameBytes) continue;
      const rawPod = backends.raw.bytes();
      // Both refuse, and the raw server forwarded less: llhttp had let the head of a request
      // whose body then broke through to the Pod (it depends on timing whether node:http
      // dispatched it before it read the rest); the raw parser refuses the request whole.
      const rawRefuses = rawClasses.includes('4xx') && !rawClasses.includes('2xx');
      if (sameAnswers && rawRefuses && backends.node.bytes().startsWith(rawPod)) continue;
      const line = `${entry.name}: node ${JSON.stringify(nodeClasses)} raw ${JSON.stringify(rawClasses)}${sameBytes ? '' : ` Pod bytes differ: node ${JSON.stringify(backends.node.bytes().slice(0, 200))} raw ${JSON.stringify(backends.raw.bytes().slice(0, 200))}`}`;
      const documented = STRICTER[entry.name];
      // Where the engines disagree, nothing after the first message reaches a Pod.
      if (documented !== undefined) assert.ok(!rawPod.includes('/smuggled'), line);
      if (documented === 'refused') {
        // A refusal: a 4xx, and the Pod saw no more than node:http sent it.
        assert.ok(rawRefuses, line);
        assert.ok(backends.node.bytes().startsWith(rawPod), line);
      } else if (documented === 'in-order') {
        assert.deepEqual(rawClasses, ['2xx', '4xx'], line);
        assert.equal(nodeClasses.at(-1), '4xx', line);
      } else if (documented === 'waits') {
        assert.deepEqual(rawClasses, [], line);
        assert.equal(rawPod, '', line);
      } else differences.push(line);
    }
    assert.deepEqual(differences, []);
  });
});
