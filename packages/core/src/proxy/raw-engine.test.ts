import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Endpoint } from '../routes/types.ts';
import type { UpstreamOutcome } from './engine.ts';
import { RawEngine, type RawEngineOptions } from './raw-engine.ts';

/**
 * The raw engine between a real node:http front server and real loopback upstreams that
 * answer with exact bytes, so framing, reuse and failures are seen on the wire.
 */

interface Upstream {
  readonly endpoint: Endpoint;
  /** Every connection the upstream accepted, with the bytes it received. */
  readonly connections: Array<{ socket: Socket; received: Buffer[] }>;
  close(): Promise<void>;
}

/** An upstream that calls `answer` with each connection's accumulated bytes. */
async function upstream(
  answer: (socket: Socket, received: Buffer, connection: number) => void,
): Promise<Upstream> {
  const connections: Upstream['connections'] = [];
  const server = createServer((socket) => {
    const entry = { socket, received: [] as Buffer[] };
    connections.push(entry);
    const index = connections.length - 1;
    socket.on('data', (chunk) => {
      entry.received.push(chunk);
      answer(socket, Buffer.concat(entry.received), index);
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: {
      key: `127.0.0.1:${port}`,
      origin: `http://127.0.0.1:${port}`,
      ip: '127.0.0.1',
      port,
      namespace: 'test',
      podName: 'pod',
      protocol: 'http1',
    },
    connections,
    close: async () => {
      for (const { socket } of connections) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Answers each complete request head (no request bodies) with `reply`. */
function perRequest(reply: (request: string, n: number) => string) {
  const seen = new WeakMap<Socket, number>();
  return (socket: Socket, received: Buffer) => {
    const text = received.toString('latin1');
    const heads = text.split('\r\n\r\n').length - 1;
    const done = seen.get(socket) ?? 0;
    for (let n = done; n < heads; n++) socket.write(reply(text, n), 'latin1');
    seen.set(socket, heads);
  };
}

interface Front {
  readonly port: number;
  readonly outcomes: UpstreamOutcome[];
  /** The client connections the front server holds. */
  sockets(): Socket[];
  close(): Promise<void>;
}

/**
 * A node:http server that forwards every request through `engine` to `target()`, with
 * `extra` header fields added as the router's policy would add them.
 */
async function front(
  engine: RawEngine,
  target: () => Endpoint,
  extra: readonly string[] = [],
): Promise<Front> {
  const outcomes: UpstreamOutcome[] = [];
  const server: Server = createHttpServer((req, res) => {
    const headers: string[] = [...extra];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] as string;
      if (!/^(connection|transfer-encoding|keep-alive)$/i.test(name))
        headers.push(name, req.rawHeaders[i + 1] as string);
    }
    const bodyless =
      req.headers['content-length'] === undefined && !req.headers['transfer-encoding'];
    engine.forward(
      {
        req,
        res,
        endpoint: target(),
        headers,
        body: bodyless || req.headers['content-length'] === '0' ? null : req,
        totalTimeoutMs: 0,
      },
      (outcome) => {
        outcomes.push(outcome);
        if (outcome.failure && !res.headersSent) {
          res.writeHead(502, { 'x-failure': outcome.failure.kind });
          res.end();
        } else if (outcome.failure) res.destroy();
      },
    );
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    outcomes,
    sockets: () => [...sockets],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly trailers: Record<string, string | undefined>;
}

function fetchVia(
  port: number,
  options: { method?: string; path?: string; body?: Buffer; chunked?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.body && !options.chunked) headers['content-length'] = String(options.body.length);
    const req = httpRequest(
      {
        port,
        host: '127.0.0.1',
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
            trailers: res.trailers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body && options.chunked) {
      // Two writes without a length: node:http sends them chunked.
      req.write(options.body.subarray(0, options.body.length >> 1));
      req.end(options.body.subarray(options.body.length >> 1));
    } else req.end(options.body);
  });
}

/** Polls `condition` every 10 ms, at most 1 000 times: a bounded wait for another socket's event. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`gave up waiting until ${what}`);
}

const OPTIONS: RawEngineOptions = {
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  keepAliveTimeoutMs: 10_000,
  maxConnectionsPerEndpoint: 0,
};

describe('RawEngine', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  async function setup(
    answer: Parameters<typeof upstream>[0],
    options: Partial<RawEngineOptions> = {},
  ) {
    const up = await upstream(answer);
    const engine = new RawEngine({ ...OPTIONS, ...options });
    const fr = await front(engine, () => up.endpoint);
    cleanups.push(async () => {
      await fr.close();
      await engine.close();
      await up.close();
    });
    return { up, engine, fr };
  }

  it('reuses one keep-alive connection and writes a strict request head', async () => {
    const { up, fr } = await setup(
      perRequest((_text, n) => `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-N: ${n}\r\n\r\nok`),
    );
    for (let i = 0; i < 3; i++) {
      const answer = await fetchVia(fr.port, { path: `/p${i}?q=1` });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'ok');
      assert.equal(answer.headers['x-n'], String(i));
    }
    assert.equal(up.connections.length, 1);
    const sent = Buffer.concat(up.connections[0]?.received ?? []).toString('latin1');
    assert.match(sent, /^GET \/p0\?q=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n\r\n/);
    assert.deepEqual(
      fr.outcomes.map((o) => o.status),
      [200, 200, 200],
    );
  });

  it("stops reusing a connection a second before the Pod's Keep-Alive timeout", async () => {
    // timeout=1: expired as soon as it is idle; timeout=30 (any case): reused.
    const { up, fr } = await setup(
      perRequest((text) => {
        const hint = text.includes('/short') ? 'Keep-Alive: timeout=1' : 'KEEP-ALIVE: Timeout=30';
        return `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n${hint}\r\nContent-Length: 2\r\n\r\nok`;
      }),
    );
    await fetchVia(fr.port, { path: '/long' });
    await fetchVia(fr.port, { path: '/long' });
    assert.equal(up.connections.length, 1);
    await fetchVia(fr.port, { path: '/short' });
    await fetchVia(fr.port, { path: '/long' });
    assert.equal(up.connections.length, 2);
  });

  it('reads no body after HEAD, 204 and 304, and skips interim 1xx answers', async () => {
    const { up, fr } = await setup(
      perRequest((text, n) => {
        const method = text.split('\r\n\r\n')[n]?.split(' ')[0];
        if (method === 'HEAD') return 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n';
        if (n === 1) return 'HTTP/1.1 204 No Content\r\n\r\n';
        if (n === 2) return 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n';
        return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal';
      }),
    );
    assert.equal((await fetchVia(fr.port, { method: 'HEAD' })).headers['content-length'], '100');
    assert.equal((await fetchVia(fr.port)).status, 204);
    assert.equal((await fetchVia(fr.port)).status, 304);
    const last = await fetchVia(fr.port);
    assert.equal(last.status, 200);
    assert.equal(last.body.toString(), 'final');
    assert.equal(up.connections.length, 1, 'every response was framed right: one connection');
  });

  it('drops every field a Pod lists in any of its Connection fields, not only in the last', async () => {
    // RFC 9110 §5.3: field lines of one name are one list; a Pod that names X-Internal in one
    // Connection line and keep-alive in the next still means X-Internal is hop-by-hop.
    const { fr } = await setup(
      perRequest(
        () =>
          'HTTP/1.1 200 OK\r\nConnection: x-internal\r\nX-Internal: secret\r\n' +
          'Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    const answer = await fetchVia(fr.port);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-internal'], undefined);
    assert.equal(answer.body.toString(), 'ok');
  });

  it('decodes a chunked response and passes its trailers on', async () => {
    const { fr } = await setup(
      perRequest(
        () =>
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nContent-Length: 99\r\n\r\n',
      ),
    );
    const answer = await fetchVia(fr.port);
    assert.equal(answer.body.toString(), 'hello world');
    assert.equal(answer.trailers['x-checksum'], 'abc');
    assert.equal(answer.trailers['content-length'], undefined, 'framing fields are not trailers');
  });

  it('refuses an ambiguous response (502) and never reuses its connection', async () => {
    let answered = 0;
    const { up, fr } = await setup(
      perRequest(() =>
        answered++ === 0
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
      ),
    );
    const bad = await fetchVia(fr.port);
    assert.equal(bad.status, 502);
    assert.equal(bad.headers['x-failure'], 'connection-lost');
    assert.equal((await fetchVia(fr.port)).status, 200);
    assert.equal(up.connections.length, 2);
  });

  it('drops a connection whose Pod sent bytes after the response', async () => {
    const { up, fr } = await setup(
      perRequest(() => 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n'),
    );
    assert.equal((await fetchVia(fr.port)).body.toString(), 'x');
    assert.equal((await fetchVia(fr.port)).body.toString(), 'x');
    assert.equal(up.connections.length, 2);
  });

  it('refuses a 101 nobody asked for', async () => {
    const { fr } = await setup(perRequest(() => 'HTTP/1.1 101 Switching Protocols\r\n\r\n'));
    assert.equal((await fetchVia(fr.port)).status, 502);
  });

  it('reads a body without length until the Pod closes, then does not reuse', async () => {
    const { up, fr } = await setup((socket) => {
      socket.end('HTTP/1.1 200 OK\r\n\r\nuntil close');
    });
    assert.equal((await fetchVia(fr.port)).body.toString(), 'until close');
    assert.equal((await fetchVia(fr.port)).body.toString(), 'until close');
    assert.equal(up.connections.length, 2);
  });

  it('skips an idle connection the Pod closed, without failing the next request', async () => {
    const { up, fr } = await setup(
      perRequest(() => 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'),
    );
    assert.equal((await fetchVia(fr.port)).status, 200);
    const first = up.connections[0]?.socket as Socket;
    first.end();
    await once(first, 'close');
    assert.equal((await fetchVia(fr.port)).status, 200);
    assert.equal(up.connections.length, 2);
    assert.ok(fr.outcomes.every((o) => o.failure === undefined));
  });

  it('streams request bodies with their framing: Content-Length as is, chunked as chunked', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 'ab');
    const { up, fr } = await setup((socket, received) => {
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = text.slice(0, end);
      const rest = received.subarray(end + 4);
      const length = /content-length: (\d+)/i.exec(head);
      const complete = length
        ? rest.length >= Number(length[1])
        : rest.subarray(-5).toString() === '0\r\n\r\n';
      if (!complete || socket.writableEnded) return;
      const digest = length
        ? createHash('sha256').update(rest).digest('hex')
        : `chunked:${/transfer-encoding: chunked/i.test(head)}`;
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${digest.length}\r\n\r\n${digest}`);
    });
    const sized = await fetchVia(fr.port, { method: 'POST', body });
    assert.equal(sized.body.toString(), createHash('sha256').update(body).digest('hex'));
    const chunked = await fetchVia(fr.port, { method: 'POST', body, chunked: true });
    assert.equal(chunked.body.toString(), 'chunked:true');
    assert.equal(up.connections.length, 2);
  });

  it('streams a large response to the client intact', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const { fr } = await setup((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    });
    const answer = await fetchVia(fr.port);
    assert.equal(answer.body.length, body.length);
    assert.ok(answer.body.equals(body));
  });

  it('keeps concurrent responses apart: every read is copied before the next one', async () => {
    // Plain-TCP connections share one read buffer; a body chunk still queued for a slow
    // client must not change when another connection reads.
    const bodies = [7, 11, 13].map((step) => {
      const body = Buffer.alloc(2 * 1024 * 1024 + 17);
      for (let i = 0; i < body.length; i++) body[i] = (i * step) % 251;
      return body;
    });
    const { fr } = await setup((socket, received) => {
      const which = Number(/GET \/(\d)/.exec(received.toString('latin1'))?.[1]);
      const body = bodies[which] as Buffer;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      // Several writes, so that the reads of the connections interleave.
      for (let at = 0; at < body.length; at += 100_000)
        socket.write(body.subarray(at, at + 100_000));
    });
    const answers = await Promise.all(bodies.map((_, i) => fetchVia(fr.port, { path: `/${i}` })));
    answers.forEach((answer, i) => {
      assert.ok(answer.body.equals(bodies[i] as Buffer), `response ${i} arrived intact`);
    });
  });

  it('keeps chunked answers apart for slow clients: frames, 1xx and trailers split across reads', async () => {
    // Interim heads, chunk-size lines, chunk data and trailers arrive in pieces that cut
    // through their framing, on three connections at once, while two clients read nothing for
    // a while: every queued body byte must be its own connection's, never a later read's.
    const bodies = [3, 5, 7].map((step) => {
      const body = Buffer.alloc(6 * 1024 * 1024 + 31);
      for (let i = 0; i < body.length; i++) body[i] = (i * step + (i >> 10)) % 251;
      return body;
    });
    const { fr } = await setup((socket, received) => {
      const text = received.toString('latin1');
      if (!text.endsWith('\r\n\r\n') || text.indexOf('\r\n\r\n') !== text.length - 4) return;
      const which = Number(/GET \/(\d)/.exec(text)?.[1]);
      const body = bodies[which] as Buffer;
      const frames: Buffer[] = [
        Buffer.from('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'),
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n'),
      ];
      for (let at = 0, size = 1; at < body.length; at += size, size = (size * 3 + 7) % 40_009) {
        const piece = body.subarray(at, at + size);
        frames.push(
          Buffer.from(`${piece.length.toString(16)};n=${which}\r\n`),
          piece,
          Buffer.from('\r\n'),
        );
      }
      frames.push(Buffer.from(`0\r\nx-sum: ${which}-${body.length}\r\n\r\n`));
      const wire = Buffer.concat(frames);
      // Writes of odd sizes, a macrotask apart: reads of the three connections interleave
      // and cut through heads, chunk lines and trailers.
      let at = 0;
      let size = 5;
      const next = () => {
        if (at >= wire.length || socket.destroyed) return;
        socket.write(wire.subarray(at, at + size));
        at += size;
        size = (size * 7 + 13) % 65_521;
        setImmediate(next);
      };
      next();
    });
    const slowly = (path: string, pauseMs: number) =>
      new Promise<{ body: Buffer; trailers: Record<string, string | undefined> }>(
        (resolve, reject) => {
          const req = httpRequest({ port: fr.port, host: '127.0.0.1', path }, (res) => {
            const parts: Buffer[] = [];
            res.pause();
            setTimeout(() => {
              res.on('data', (chunk: Buffer) => parts.push(chunk));
              res.on('end', () => resolve({ body: Buffer.concat(parts), trailers: res.trailers }));
              res.resume();
            }, pauseMs);
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end();
        },
      );
    const answers = await Promise.all([slowly('/0', 500), slowly('/1', 0), slowly('/2', 300)]);
    answers.forEach((answer, i) => {
      const body = bodies[i] as Buffer;
      assert.ok(answer.body.equals(body), `response ${i} arrived intact`);
      assert.equal(answer.trailers['x-sum'], `${i}-${body.length}`);
    });
  });

  it('sends a slow client the body the Pod sent, while the Pod keeps writing small pieces', async () => {
    // The client does not read at first, so pieces queue in the front's socket while the
    // engine keeps reading from the Pod: a queued piece must not be a view of a later read.
    const body = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 12)) % 251;
    const { fr } = await setup((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      let at = 0;
      const next = () => {
        if (at >= body.length || socket.destroyed) return;
        socket.write(body.subarray(at, at + 4096));
        at += 4096;
        setImmediate(next);
      };
      next();
    });
    const client = connect(fr.port, '127.0.0.1');
    client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    client.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const parts: Buffer[] = [];
    let total = 0;
    client.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      total += chunk.length;
      if (total >= body.length) client.end();
    });
    client.resume();
    await once(client, 'close');
    const received = Buffer.concat(parts);
    const start = received.indexOf('\r\n\r\n') + 4;
    assert.ok(received.subarray(start).equals(body), 'the body arrived intact');
  });

  it('holds requests beyond the connection limit until a connection is free', async () => {
    let open = 0;
    let most = 0;
    const { up, fr } = await setup(
      (socket, received) => {
        if (!received.toString('latin1').endsWith('\r\n\r\n')) return;
        open++;
        most = Math.max(most, open);
        setImmediate(() => {
          open--;
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx');
        });
      },
      { maxConnectionsPerEndpoint: 1 },
    );
    const answers = await Promise.all([1, 2, 3, 4].map(() => fetchVia(fr.port)));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200],
    );
    assert.equal(most, 1);
    assert.equal(up.connections.length, 4);
  });

  it('reports a refused connection, a silent Pod and a broken response by kind', async () => {
    const dead = await upstream(() => undefined);
    const endpoint = dead.endpoint;
    await dead.close();
    const engine = new RawEngine({ ...OPTIONS, idleTimeoutMs: 200 });
    const refused = await front(engine, () => endpoint);
    cleanups.push(refused.close);
    assert.equal((await fetchVia(refused.port)).headers['x-failure'], 'connect-refused');

    const { fr: silent } = await setup(() => undefined, { idleTimeoutMs: 200 });
    assert.equal((await fetchVia(silent.port)).headers['x-failure'], 'timeout');

    const { fr: cut } = await setup((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    });
    await assert.rejects(fetchVia(cut.port));
    assert.equal(cut.outcomes[0]?.failure?.kind, 'connection-lost');
    assert.equal(cut.outcomes[0]?.failure?.responseStarted, true);
  });

  it('reports a request it cannot write as the router built it as invalid-request, not a body failure', async () => {
    // Hook-set values the policy check lets through (no CR, LF or NUL) but a strict head
    // refuses: whitespace at either end, a Transfer-Encoding of its own, a bad Content-Length.
    const up = await upstream(perRequest(() => 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const engine = new RawEngine(OPTIONS);
    cleanups.push(async () => {
      await engine.close();
      await up.close();
    });
    for (const extra of [
      ['x-user', ' alice '],
      ['transfer-encoding', 'chunked'],
      ['content-length', '1, 1'],
    ]) {
      const fr = await front(engine, () => up.endpoint, extra);
      cleanups.push(fr.close);
      const answer = await fetchVia(fr.port, { method: 'POST', body: Buffer.from('x') });
      assert.equal(answer.headers['x-failure'], 'invalid-request', extra[0]);
      assert.equal(fr.outcomes[0]?.failure?.responseStarted, false);
    }
    assert.equal(up.connections.flatMap((c) => c.received).length, 0, 'nothing reached the Pod');
  });

  it('cuts the Pod connection when the client goes, and drops a waiting exchange unsent', async () => {
    const pending: Socket[] = [];
    let requests = 0;
    const { up, fr } = await setup(
      (socket, received) => {
        if (!received.toString('latin1').endsWith('\r\n\r\n')) return;
        requests++;
        pending.push(socket);
      },
      { maxConnectionsPerEndpoint: 1 },
    );
    const abortAfterSent = (path: string) =>
      new Promise<void>((resolve) => {
        const req = httpRequest({ port: fr.port, host: '127.0.0.1', path });
        req.on('error', () => resolve());
        req.end();
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
    // The first holds the only connection; the second waits for it and its client leaves.
    const first = httpRequest({ port: fr.port, host: '127.0.0.1', path: '/first' });
    const firstAnswer = new Promise<number>((resolve) => {
      first.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
    });
    first.on('error', () => undefined);
    first.end();
    await until(() => pending.length > 0, 'the Pod has the first request');
    await abortAfterSent('/second');
    // The front server has seen that client leave (the engine cannot know before it does).
    await until(
      () => fr.outcomes.some((o) => o.failure?.kind === 'client-gone'),
      'the second exchange ended',
    );
    (pending[0] as Socket).write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(await firstAnswer, 200);
    // The third is served on the same connection; the second never reached the Pod.
    const third = fetchVia(fr.port, { path: '/third' }).catch(() => undefined);
    await until(() => requests >= 2, 'the Pod has the third request');
    const sent = Buffer.concat(up.connections[0]?.received ?? []).toString('latin1');
    assert.doesNotMatch(sent, /\/second/);
    assert.match(sent, /\/third/);
    // Now the third's client leaves while the Pod is silent: the engine closes that connection.
    const closed = once(up.connections[0]?.socket as Socket, 'close');
    for (const socket of fr.sockets()) socket.destroy();
    await closed;
    await third;
    await until(
      () => fr.outcomes.filter((o) => o.failure?.kind === 'client-gone').length === 2,
      'the third exchange ended as client-gone',
    );
  });

  it('writes nothing when a header value could split the request', async () => {
    const up = await upstream(() => undefined);
    const engine = new RawEngine(OPTIONS);
    const server = createHttpServer((req, res) => {
      engine.forward(
        {
          req,
          res,
          endpoint: up.endpoint,
          headers: ['x-evil', 'a\r\nX-Smuggled: 1'],
          body: null,
          totalTimeoutMs: 0,
        },
        (outcome) => {
          res.writeHead(502, { 'x-failure': outcome.failure?.kind ?? 'none' });
          res.end();
        },
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.close();
      await engine.close();
      await up.close();
    });
    const answer = await fetchVia((server.address() as AddressInfo).port);
    assert.equal(answer.headers['x-failure'], 'invalid-request');
    assert.equal(
      up.connections.reduce((sum, c) => sum + c.received.length, 0),
      0,
    );
  });
});
