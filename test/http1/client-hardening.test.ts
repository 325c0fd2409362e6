import assert from 'node:assert/strict';
import { once } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { connect as connectHttp2, constants as http2Constants } from 'node:http2';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BUILDS, podServing, ROOT, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';

/**
 * What a hostile client can make the router hold or write, on both client servers
 * (SERVER_ENGINE=raw and node), with raw bytes on a socket (issue 11):
 *
 * - a client that never reads its answer (CLIENT_SEND_TIMEOUT, nginx `send_timeout`);
 * - a body the router keeps reading after it answered early (nginx discards such a body
 *   for at most `lingering_time` 30 s, `lingering_timeout` 5 s between reads);
 * - CR/LF/NUL from hooks in the heads the router writes itself (node:http throws
 *   ERR_INVALID_CHAR from setHeader/writeHead; nginx's own header values never come from
 *   the request path);
 * - `Expect` with an expectation other than `100-continue`.
 */

const HOST = 'harden.example';
const BIG_HOST = 'big.example';
const ENGINES = ['raw', 'node'] as const;
type Engine = (typeof ENGINES)[number];

/**
 * A Pod that answers `GET /big/N` with N bytes, written with backpressure, and counts the
 * connections the router closed before the body was all sent. A WebSocket handshake to it
 * gets a 101, then the N bytes down the tunnel.
 */
async function startBigBackend(host: string) {
  let cut = 0;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server: Server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let head = '';
    socket.on('data', (data: Buffer) => {
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const size = Number(/^GET \/big\/(\d+)/.exec(head)?.[1] ?? 0);
      // `?plain`: the Upgrade header is ignored, as most servers do on a plain resource.
      const upgrade = /\r\nupgrade: *websocket\r\n/i.test(head) && !/^GET [^ ]*\?plain /.test(head);
      head = head.slice(end + 4);
      socket.write(
        upgrade
          ? 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
          : `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`,
      );
      let left = size;
      let done = false;
      socket.once('close', () => {
        if (!done) cut++;
      });
      const pump = () => {
        while (left > 0) {
          const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= part.length;
          if (!socket.write(part)) {
            socket.once('drain', pump);
            return;
          }
        }
        done = true;
      };
      pump();
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    host,
    port: (server.address() as AddressInfo).port,
    /** Connections closed by the router before their body was all written. */
    cut: () => cut,
    close: () => server.close(),
  };
}

let backend: RecordingBackend;
let big: Awaited<ReturnType<typeof startBigBackend>>;
/** Both builds (public, private), each with both client server engines. */
const byBuild: Record<string, Record<Engine, RunningRouter>> = Object.fromEntries(
  BUILDS.map((build) => [build.tier, {} as Record<Engine, RunningRouter>]),
);

before(async () => {
  backend = await startRecordingBackend('127.0.32.1');
  big = await startBigBackend('127.0.32.2');
  for (const build of BUILDS) {
    const routers = byBuild[build.tier] as Record<Engine, RunningRouter>;
    for (const engine of ENGINES) {
      routers[engine] = await startRouter(
        build,
        [podServing(build, 'app', backend, HOST), podServing(build, 'big', big, BIG_HOST)],
        {
          SERVER_ENGINE: engine,
          // A body the router no longer reads is bounded by the discard, not by this.
          CLIENT_MAX_BODY_SIZE: '0',
          CLIENT_SEND_TIMEOUT: '1s',
          CLIENT_BODY_TIMEOUT: '1s',
          HOOKS_MODULE: `${ROOT}/test/http1/injecting-hooks.ts`,
        },
      );
    }
  }
});

after(async () => {
  await Promise.all(
    Object.values(byBuild).flatMap((routers) => ENGINES.map((engine) => routers[engine]?.stop())),
  );
  await backend?.close();
  big?.close();
});

const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Waits (at most 10 s) for the big Pod's open exchange (`before`: its cuts so far) to be cut,
 * and checks it was, within 7 s of `started`: 1 s without progress, checked once a second,
 * after the socket buffers on the way filled.
 */
async function podLetGo(before: number, started: number, what: string): Promise<void> {
  while (big.cut() === before && performance.now() - started < 10_000) await sleep(100);
  const ms = performance.now() - started;
  assert.equal(big.cut(), before + 1, `${what} is still open after ${ms} ms`);
  assert.ok(ms < 7000, `let go after ${Math.round(ms)} ms`);
}

/** A WebSocket upgrade request for `path` on the big Pod's host. */
const websocketUpgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: ${BIG_HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A client that connects and reads nothing (its socket paused), until `resume()`. */
async function nonReader(port: number) {
  const socket = new Socket();
  let closed = false;
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause();
  return { socket, closed: () => closed };
}

/**
 * An HTTP/2 client on raw frames that asks for `/big/<size>` and opens its windows (stream
 * and connection) by `step` bytes every 250 ms, as a client reading at that pace does, for
 * at most `forMs`. Resolves with the DATA bytes it got and the stream's RST_STREAM code.
 */
async function windowDripper(port: number, size: number, step: number, forMs: number) {
  const frame = (type: number, flags: number, id: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(id, 5);
    return Buffer.concat([head, payload]);
  };
  // HPACK literals with an indexed name (1 :authority, 4 :path); 0x82 GET, 0x86 http.
  const literal = (index: number, value: string) =>
    Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, 'latin1')]);
  const increment = (n: number) => {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(n);
    return Buffer.concat([frame(8, 0, 1, payload), frame(8, 0, 0, payload)]);
  };
  const socket = new Socket();
  socket.on('error', () => undefined);
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  socket.write(frame(4, 0, 0, Buffer.alloc(0)));
  const fields = [Buffer.from([0x82, 0x86]), literal(4, `/big/${size}`), literal(1, BIG_HOST)];
  socket.write(frame(1, 0x5, 1, Buffer.concat(fields)));
  let pending = Buffer.alloc(0);
  let data = 0;
  let reset: number | undefined;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const [type, flags] = [pending[3], pending[4] as number];
      const id = pending.readUInt32BE(5) & 0x7fffffff;
      if (type === 4 && (flags & 1) === 0) socket.write(frame(4, 1, 0, Buffer.alloc(0)));
      if (type === 0 && id === 1) data += length;
      if (type === 3 && id === 1) reset = pending.readUInt32BE(9);
      pending = pending.subarray(9 + length);
    }
  });
  const started = performance.now();
  while (reset === undefined && data < size && performance.now() - started < forMs) {
    await sleep(250);
    socket.write(increment(step));
  }
  socket.destroy();
  return { data, reset, ms: Math.round(performance.now() - started) };
}

/**
 * Sends a chunked POST's head, waits for `answered` in the answer (null: does not wait), then chunks without end
 * (bounded here: 64 MiB or 4 s) until the router closes the connection.
 */
async function endlessBody(port: number, path: string, answered: string | null) {
  const socket = new Socket();
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const piece = Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`, 'latin1');
  const started = performance.now();
  let sent = 0;
  while (!closed && sent < 64 * 1024 * 1024 && performance.now() - started < 4000) {
    // The first piece goes with the head; the rest once the answer is there.
    if (answered !== null && sent > 0 && !text.includes(answered)) {
      await sleep(20);
      continue;
    }
    sent += 0x10000;
    if (!socket.write(piece))
      await new Promise((resume) => {
        socket.once('drain', resume);
        socket.once('close', resume);
        setTimeout(resume, 200);
      });
    // Read what arrived between two pieces, as a real client does while it uploads (curl,
    // node:http): a loop that only writes would leave the answer unread in its kernel buffer
    // while the router lingers through its bound, and the RST after it discards that buffer.
    else await new Promise(setImmediate);
  }
  // What the router still had to say arrives before its close.
  const waitStarted = performance.now();
  while (!closed && performance.now() - waitStarted < 1000) await sleep(20);
  const ms = Math.round(performance.now() - started);
  socket.destroy();
  return { text, closed, sent, ms };
}

const sendTimeouts = async (router: RunningRouter) =>
  Number(
    /^podrouter_client_send_timeouts_total\{[^}]*\} (\d+)/m.exec(
      (await router.admin('/metrics')).body,
    )?.[1] ?? Number.NaN,
  );

for (const build of BUILDS)
  for (const engine of ENGINES) {
    describe(`${build.tier} build, client server engine ${engine}: hostile clients`, () => {
      const routers = byBuild[build.tier] as Record<Engine, RunningRouter>;
      const port = () => routers[engine].port;

      it('closes the connection of a client that stops reading its answer (CLIENT_SEND_TIMEOUT), and lets go of the Pod exchange', async () => {
        const before = big.cut();
        const counted = await sendTimeouts(routers[engine]);
        const client = await nonReader(port());
        const started = performance.now();
        // Far more than every socket buffer on the way holds: the answer stalls.
        client.socket.write(`GET /big/100000000 HTTP/1.1\r\nHost: ${BIG_HOST}\r\n\r\n`);
        await podLetGo(before, started, 'the Pod exchange');
        assert.equal(await sendTimeouts(routers[engine]), counted + 1);
        client.socket.destroy();
      });

      it('resets an HTTP/2 stream whose client stops reading (CLIENT_SEND_TIMEOUT), lets go of the Pod exchange, and keeps the session', async () => {
        const before = big.cut();
        const counted = await sendTimeouts(routers[engine]);
        // h2c with prior knowledge on the plain port. A stream nobody reads is paused: its
        // window closes once the client's buffers hold 64 KiB or so.
        const session = connectHttp2(`http://127.0.0.1:${port()}`);
        session.on('error', () => undefined);
        try {
          const stream = session.request({ ':path': '/big/100000000', ':authority': BIG_HOST });
          stream.on('error', () => undefined);
          const started = performance.now();
          await podLetGo(before, started, 'the Pod exchange');
          if (!stream.closed) await once(stream, 'close');
          assert.equal(stream.rstCode, http2Constants.NGHTTP2_CANCEL);
          assert.equal(await sendTimeouts(routers[engine]), counted + 1);
          // The session and its other streams go on.
          const next = session.request({ ':path': '/big/10', ':authority': BIG_HOST });
          const [headers] = (await once(next, 'response')) as [Record<string, unknown>];
          assert.equal(headers[':status'], 200);
          next.resume();
          await once(next, 'end');
        } finally {
          session.destroy();
        }
      });

      it('keeps an HTTP/2 stream whose client takes its answer slowly but steadily, and resets one that opens its window a byte at a time (CLIENT_SEND_TIMEOUT)', async () => {
        // 8 KiB every 250 ms: within each second the client takes 32 KiB, though a 64 KiB
        // chunk of the Pod's answer takes it two seconds (Node completes a stream's write
        // only once it is all taken; before, such a client was reset after a few seconds).
        const steady = await windowDripper(port(), 1024 * 1024, 8 * 1024, 9000);
        assert.equal(steady.reset, undefined, `reset after ${steady.ms} ms, ${steady.data} bytes`);
        assert.ok(steady.data > 250 * 1024, `${steady.data} bytes in ${steady.ms} ms`);
        // 1 byte every 250 ms only looks alive: no 16 KiB piece is ever taken whole.
        const drip = await windowDripper(port(), 1024 * 1024, 1, 6000);
        assert.equal(drip.reset, http2Constants.NGHTTP2_CANCEL, `not reset in ${drip.ms} ms`);
      });

      it('closes an open WebSocket tunnel whose client stops reading (CLIENT_SEND_TIMEOUT), and the Pod side with it', async () => {
        const before = big.cut();
        const counted = await sendTimeouts(routers[engine]);
        const client = await nonReader(port());
        const started = performance.now();
        client.socket.write(websocketUpgrade('/big/100000000'));
        await podLetGo(before, started, 'the tunnel');
        assert.equal(await sendTimeouts(routers[engine]), counted + 1);
        client.socket.resume();
        while (!client.closed() && performance.now() - started < 15_000) await sleep(100);
        assert.ok(client.closed());
      });

      it('closes the connection of a client that stops reading the answer to its upgrade request when the Pod does not switch (CLIENT_SEND_TIMEOUT)', async () => {
        // The Pod ignores the Upgrade header and answers 200 with a body, as most servers do
        // for a plain resource: the socket is already the upgrade's, which no server sweep
        // covers once the request was handed over.
        const before = big.cut();
        const counted = await sendTimeouts(routers[engine]);
        const client = await nonReader(port());
        const started = performance.now();
        client.socket.write(websocketUpgrade('/big/100000000?plain'));
        await podLetGo(before, started, 'the Pod exchange');
        assert.equal(await sendTimeouts(routers[engine]), counted + 1);
        client.socket.destroy();
      });

      it('closes the connection of a client that pipelines requests and reads none of the answers', async () => {
        const counted = await sendTimeouts(routers[engine]);
        const client = await nonReader(port());
        const started = performance.now();
        const request = `GET /big/1000000 HTTP/1.1\r\nHost: ${BIG_HOST}\r\n\r\n`;
        client.socket.write(request.repeat(100));
        while (
          (await sendTimeouts(routers[engine])) === counted &&
          performance.now() - started < 10_000
        )
          await sleep(200);
        const ms = performance.now() - started;
        assert.equal(
          await sendTimeouts(routers[engine]),
          counted + 1,
          'closed for its send timeout',
        );
        assert.ok(ms < 7000, `closed after ${Math.round(ms)} ms`);
        // What the kernel had taken still arrives, then the close: far fewer than 100 answers.
        client.socket.resume();
        while (!client.closed() && performance.now() - started < 15000) await sleep(100);
        assert.ok(client.closed());
      });

      it('drops the rest of a body after a Pod answered early: at most 1 MiB, then closes after the answer (nginx lingering_time)', async () => {
        // The recording Pod answers a chunked request at its head (it frames by Content-Length
        // only): the router answers the client, and the body still coming is nobody's.
        const result = await endlessBody(port(), '/early', 'ok /early');
        assert.deepEqual(statuses(result.text), [200], JSON.stringify(result));
        assert.ok(result.text.endsWith('ok /early'), JSON.stringify(result.text.slice(-40)));
        assert.ok(result.closed, `still reading after ${result.sent} body bytes, ${result.ms} ms`);
        assert.ok(result.sent < 16 * 1024 * 1024, `read ${result.sent} body bytes`);
      });

      it('answers a refusal (401 from a hook) to a request with an endless body, whole, then closes', async () => {
        // The client writes on without reading. Closing at once answers the bytes still unread
        // with an RST, which can make the client's kernel drop the 401 (seen once here with
        // node:http's destroySoon, not reliably on loopback): the router lingers instead.
        const result = await endlessBody(port(), '/refuse', null);
        assert.deepEqual(statuses(result.text), [401], JSON.stringify(result));
        assert.ok(result.closed, `still reading after ${result.sent} body bytes, ${result.ms} ms`);
        assert.ok(result.sent < 16 * 1024 * 1024, `read ${result.sent} body bytes`);
      });

      it('answers 417 to an Expect list with anything but 100-continue in it (RFC 9110 §10.1.1), and the Pod sees nothing', async () => {
        // node:http alone would send `100 Continue` for `foo, 100-continue` (it searches the
        // value for the word); nginx ignores it (neither 100 nor 417). Both engines refuse it.
        backend.reset();
        const expect = (value: string) =>
          `POST /expect HTTP/1.1\r\nHost: ${HOST}\r\nExpect: ${value}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n`;
        for (const value of ['foo, 100-continue', '100-continue, foo', '100-continuex']) {
          const answer = await rawClient(port(), [expect(value), 'ok'], { pauseMs: 300 });
          assert.deepEqual(statuses(answer.text), [417], value);
          assert.ok(answer.closed, value);
        }
        assert.equal(backend.requests.length, 0);
        const plain = await rawClient(port(), [expect(' 100-Continue\t'), 'ok'], { pauseMs: 300 });
        assert.deepEqual(statuses(plain.text), [100, 200]);
        assert.deepEqual(
          backend.requests.map((request) => request.target),
          ['/expect'],
        );
      });

      it("refuses a hook's header without a value alike on both engines: 500 with its own reason phrase", async () => {
        // Before, node:http threw in writeHead after taking the 401 and wrote
        // "500 Unauthorized"; the raw server answered 401 without the field.
        const answer = await rawClient(port(), [
          `GET /answer-undefined HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
        ]);
        assert.ok(
          answer.text.startsWith(`HTTP/1.1 500 ${STATUS_CODES[500]}\r\n`),
          JSON.stringify(answer.text),
        );
        assert.match(answer.text, /"title":"Policy hook failed"/);
      });

      it('answers 500 when a hook sets an upstream header the engine cannot write (its own Transfer-Encoding), and the Pod sees nothing', async () => {
        backend.reset();
        const answer = await rawClient(port(), [
          `GET /upstream-te HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
        ]);
        assert.deepEqual(statuses(answer.text), [500], JSON.stringify(answer.text));
        assert.match(answer.text, /"title":"Internal error"/);
        assert.equal(backend.requests.length, 0);
      });

      it('never lets CR, LF or NUL from a hook split a head: 500 "Policy hook failed", nothing injected anywhere', async () => {
        backend.reset();
        const h = `Host: ${HOST}\r\n`;
        const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\n';
        const close = 'Connection: close\r\n';
        const cases = [
          // A response header for the client, an upstream header for the Pod, a header on the
          // hook's own answer, a bad name, a NUL; then the same on WebSocket handshakes, whose
          // answers (the Pod's 101, a refusal) the router writes raw on the socket itself.
          `GET /inject-response HTTP/1.1\r\n${h}${close}\r\n`,
          `GET /inject-upstream HTTP/1.1\r\n${h}${close}\r\n`,
          `GET /inject-answer HTTP/1.1\r\n${h}${close}\r\n`,
          `GET /inject-response-name HTTP/1.1\r\n${h}${close}\r\n`,
          `GET /inject-nul HTTP/1.1\r\n${h}${close}\r\n`,
          `GET /ws/inject-response HTTP/1.1\r\n${h}${upgrade}\r\n`,
          `GET /ws/inject-answer HTTP/1.1\r\n${h}${upgrade}\r\n`,
        ];
        for (const request of cases) {
          const answer = await rawClient(port(), [request], { quietMs: 1000 });
          const line = request.slice(0, request.indexOf('\r\n'));
          assert.doesNotMatch(answer.text, /\r\nX-Injected/i, line);
          assert.deepEqual(statuses(answer.text), [500], `${line}: ${JSON.stringify(answer.text)}`);
          assert.match(answer.text, /"title":"Policy hook failed"/, line);
        }
        assert.doesNotMatch(backend.bytes(), /X-Injected/i);
        assert.equal(backend.requests.length, 0, 'no request reaches the Pod');
        await routers[engine].waitForLog(
          (entry) =>
            entry.msg === 'policy hook failed; answered 500' &&
            /invalid header/.test(JSON.stringify(entry.err)),
        );
        // The router still serves.
        const next = await rawClient(port(), [
          `GET /fine HTTP/1.1\r\n${h}Connection: close\r\n\r\n`,
        ]);
        assert.deepEqual(statuses(next.text), [200]);
      });

      it('checks again what a hook changes after the checks: a late response header, a client field it rewrote', async () => {
        backend.reset();
        const h = `Host: ${HOST}\r\nConnection: close\r\n`;
        const late = await rawClient(port(), [`GET /inject-late-response HTTP/1.1\r\n${h}\r\n`], {
          quietMs: 1000,
        });
        assert.doesNotMatch(late.text, /\r\nX-Injected/i);
        assert.deepEqual(statuses(late.text), [502], JSON.stringify(late.text));
        const rewritten = await rawClient(
          port(),
          [`GET /inject-request-field HTTP/1.1\r\n${h}X-Client: 1\r\n\r\n`],
          { quietMs: 1000 },
        );
        assert.doesNotMatch(rewritten.text, /\r\nX-Injected/i);
        assert.notDeepEqual(statuses(rewritten.text), [200], JSON.stringify(rewritten.text));
        assert.doesNotMatch(backend.bytes(), /X-Injected/i);
      });

      it('drops hop-by-hop and own fields by their names after a hook moved them', async () => {
        backend.reset();
        // The hook removes X-Drop; each field after it takes the position of the one before.
        const answer = await rawClient(
          port(),
          [
            'GET /drop-first-field HTTP/1.1\r\nX-Drop: 1\r\n' +
              `Host: ${HOST}\r\nX-Pad: 1\r\nX-Podrouter-Consumer: admin\r\nX-Pad2: 1\r\n` +
              'Keep-Alive: smuggled\r\nConnection: close\r\n\r\n',
          ],
          { quietMs: 1000 },
        );
        assert.deepEqual(statuses(answer.text), [200], JSON.stringify(answer.text));
        assert.equal(backend.requests.length, 1);
        assert.doesNotMatch(backend.bytes(), /x-podrouter-consumer|keep-alive: smuggled|X-Drop/i);
        assert.match(backend.bytes(), /\r\nX-Pad2: 1\r\n/);
      });

      it('reads a repeated head like a new one: split anywhere, after a body of its bytes, with names in another case', async () => {
        const head = `POST /same HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\n`;
        // The first body is the bytes of a head; the last head differs only in its case.
        const echo = `POST /same HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${head.length}\r\n\r\n`;
        const closing = head.replace('Content-Length: 5', 'Connection: close\r\nContent-Length: 5');
        const stream = `${head}aaaaa${head}bbbbb${echo}${head}${echo}${head}${head}ccccc${closing}ddddd`;
        for (const cut of [1, head.length - 3, head.length + 5, 2 * head.length + 7]) {
          backend.reset();
          const answer = await rawClient(port(), [stream.slice(0, cut), stream.slice(cut)], {
            pauseMs: 20,
            quietMs: 500,
          });
          assert.deepEqual(
            statuses(answer.text),
            [200, 200, 200, 200, 200, 200],
            `cut ${cut}: ${JSON.stringify(answer.text.slice(-300))}`,
          );
          assert.deepEqual(
            backend.requests.map((r) => r.body),
            ['aaaaa', 'bbbbb', head, head, 'ccccc', 'ddddd'],
            `cut ${cut}`,
          );
        }
        // The same positions named in another case: each request's own names decide.
        backend.reset();
        const lower = `GET /case HTTP/1.1\r\nHost: ${HOST}\r\nX-Hop: 1\r\nkeep-alive: 1\r\n\r\n`;
        const upper = lower.replace('keep-alive: 1', 'Keep-Alive: 1').replace('X-Hop', 'x-hop');
        const both = await rawClient(port(), [lower + upper + lower.replace('GET', 'HEAD')], {
          quietMs: 500,
        });
        assert.deepEqual(statuses(both.text).length, 3, JSON.stringify(both.text));
        assert.doesNotMatch(backend.bytes(), /keep-alive: 1/i);
        assert.equal((backend.bytes().match(/\r\nx-hop: 1\r\n/gi) ?? []).length, 3);
      });

      it('carries the same head again after an upgrade as tunnel bytes, not as a request', async () => {
        backend.reset();
        const head =
          `GET /ws/same HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
        const answer = await rawClient(port(), [head + head, head], { pauseMs: 50, quietMs: 500 });
        assert.deepEqual(statuses(answer.text), [101], JSON.stringify(answer.text));
        assert.equal(backend.requests.length, 1);
        // The echoing Pod sends both heads back through the tunnel.
        assert.equal(answer.text.split('GET /ws/same').length - 1, 2, JSON.stringify(answer.text));
      });

      it("writes a hook's value that is not a string as its text, checked: no split head, no crash", async () => {
        const h = `Host: ${HOST}\r\nConnection: close\r\n`;
        // Set after the handler's check: an object whose text has CR/LF.
        const late = await rawClient(port(), [`GET /inject-late-object HTTP/1.1\r\n${h}\r\n`], {
          quietMs: 1000,
        });
        assert.doesNotMatch(late.text, /\r\nX-Injected/i);
        assert.deepEqual(statuses(late.text), [502], JSON.stringify(late.text));
        const none = await rawClient(port(), [`GET /late-undefined HTTP/1.1\r\n${h}\r\n`], {
          quietMs: 1000,
        });
        assert.deepEqual(statuses(none.text), [502], JSON.stringify(none.text));
        // A list where the map's type says string: its text, as the handler checked it.
        const list = await rawClient(port(), [`GET /array-value HTTP/1.1\r\n${h}\r\n`], {
          quietMs: 1000,
        });
        assert.deepEqual(statuses(list.text), [200], JSON.stringify(list.text));
        assert.match(list.text, /\r\nx-list: a=1,b=2\r\n/i);
        backend.reset();
        const field = await rawClient(
          port(),
          [`GET /inject-request-object HTTP/1.1\r\n${h}X-Client: 1\r\n\r\n`],
          { quietMs: 1000 },
        );
        assert.notDeepEqual(statuses(field.text), [200], JSON.stringify(field.text));
        assert.doesNotMatch(backend.bytes(), /X-Injected/i);
        const next = await rawClient(port(), [`GET /fine HTTP/1.1\r\n${h}\r\n`]);
        assert.deepEqual(statuses(next.text), [200], 'the router still serves');
      });
    });
  }
