import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { writeRawProblem } from '../proxy/problem.ts';
import type { ClientHandlers } from './client-contract.ts';
import { createClientServer, type ServerEngine } from './client-server.ts';
import { RawHttpServer } from './raw-server.ts';

/**
 * The raw server's own framing, without the router: what it writes for each kind of
 * response, and what the handler receives. The router-level behaviour (timeouts, pipelining
 * through the proxy, the differential against node:http) is in test/http1/server-engines.
 */

let server: RawHttpServer;
let port = 0;
let seen: IncomingMessage[] = [];

/** Answers by path: the handler under test writes the response the path names. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  seen.push(req);
  const path = req.url ?? '/';
  if (path === '/length') res.writeHead(200, { 'content-length': '5' }).end('hello');
  else if (path === '/stream') {
    res.writeHead(200, ['x-a', '1']);
    res.write('ab');
    res.addTrailers({ 'x-t': 'done' });
    res.end('cd');
  } else if (path === '/204') res.writeHead(204).end();
  else if (path === '/304') res.writeHead(304, { etag: '"x"' }).end();
  else if (path === '/echo') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('x-set', 'early');
      res.writeHead(200, { 'content-length': String(body.length), 'x-set': 'late' });
      res.end(body);
    });
  } else if (path === '/bad-header') {
    assert.throws(() => res.writeHead(200, { 'x-a': 'a\r\nb' }), /Invalid value/);
    res.writeHead(500, { 'content-length': '0' }).end();
  } else res.writeHead(404, { 'content-length': '0' }).end();
}

const handlers: ClientHandlers = {
  onRequest: answer,
  onCheckContinue: (req, res) => {
    res.writeContinue();
    answer(req, res);
  },
  shouldUpgrade: () => false,
  onUpgrade: (_req, socket) => socket.destroy(),
};

before(async () => {
  server = new RawHttpServer(
    { maxHeaderSize: 1024, keepAliveTimeoutMs: 5000, headersTimeoutMs: 5000, bodyTimeoutMs: 0 },
    handlers,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

/** Sends `bytes` and reads until the server closes (every exchange ends with close). */
async function exchange(bytes: string, to = port): Promise<string> {
  const socket = new Socket();
  socket.connect(to, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes, 'latin1');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await once(socket, 'close');
  return text;
}

const withoutDate = (text: string) => text.replace(/date: [^\r]+\r\n/g, '');

describe('raw server framing', () => {
  it('keeps a given Content-Length and sends head and body', async () => {
    const text = await exchange('GET /length HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(
      withoutDate(text),
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello',
    );
    assert.match(text, /date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4}/);
  });

  it('sends a body without length chunked, with its trailers', async () => {
    const text = await exchange('GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(
      withoutDate(text),
      'HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\nx-t: done\r\n\r\n',
    );
  });

  it('closes after a body without length to an HTTP/1.0 client, and drops the trailers', async () => {
    const text = await exchange('GET /stream HTTP/1.0\r\nHost: a\r\n\r\n');
    assert.equal(withoutDate(text), 'HTTP/1.1 200 OK\r\nx-a: 1\r\nconnection: close\r\n\r\nabcd');
  });

  it('writes no body after HEAD, 204 and 304', async () => {
    const text = await exchange(
      'HEAD /length HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    assert.equal(
      withoutDate(text),
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\netag: "x"\r\nconnection: close\r\n\r\n',
    );
  });

  it('reads a chunked request body, with node:http field joining, and merges setHeader into writeHead', async () => {
    seen = [];
    const text = await exchange(
      'POST /echo HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\nX-L: 1\r\nX-L: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
    );
    assert.equal(
      withoutDate(text),
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-set: late\r\nconnection: close\r\n\r\nabcde',
    );
    const req = seen[0] as IncomingMessage;
    assert.equal(req.headers.cookie, 'a=1; b=2');
    assert.equal(req.headers['x-l'], '1, 2');
    assert.equal(req.httpVersion, '1.1');
    assert.equal(req.complete, true);
  });

  it('refuses a header value with CR/LF from the writer, and answers 100 Continue before the response', async () => {
    const bad = await exchange('GET /bad-header HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 500 /);
    const continued = await exchange(
      'POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    );
    assert.match(continued, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });

  it('answers 400 to ambiguous framing and 431 to a head over the limit, then closes', async () => {
    const ambiguous = await exchange(
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc',
    );
    assert.match(ambiguous, /^HTTP\/1\.1 400 /);
    const large = await exchange(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}\r\n\r\n`);
    assert.match(large, /^HTTP\/1\.1 431 /);
  });
});

describe('raw server deadlines', () => {
  let short: RawHttpServer;
  let shortPort = 0;
  before(async () => {
    short = new RawHttpServer(
      { maxHeaderSize: 1024, keepAliveTimeoutMs: 300, headersTimeoutMs: 300, bodyTimeoutMs: 0 },
      handlers,
    );
    short.listen(0, '127.0.0.1');
    await once(short, 'listening');
    shortPort = (short.address() as AddressInfo).port;
  });
  after(() => {
    short.closeAllConnections();
    short.close();
  });

  it('cuts a refused client that keeps its side of the connection open', async () => {
    const socket = new Socket({ allowHalfOpen: true });
    socket.connect(shortPort, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.write('GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n');
    await once(socket, 'end');
    assert.match(text, /^HTTP\/1\.1 400 /);
    // The client never closes its side; the server lets go of the connection anyway.
    const connections = () =>
      new Promise<number>((done) => short.getConnections((_error, count) => done(count)));
    const deadline = performance.now() + 2000;
    while ((await connections()) > 0 && performance.now() < deadline)
      await new Promise((wait) => setTimeout(wait, 50));
    assert.equal(await connections(), 0);
    socket.destroy();
  });

  it('closes an idle keep-alive connection, and answers 408 to a head that never ends', async () => {
    const idle = new Socket();
    idle.connect(shortPort, '127.0.0.1');
    await once(idle, 'connect');
    idle.write('GET /length HTTP/1.1\r\nHost: a\r\n\r\n');
    let text = '';
    idle.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    await once(idle, 'close');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(text, /408/);
    const slow = await exchange('GET / HTTP/1.1\r\nHost: a\r\n', shortPort);
    assert.match(slow, /^HTTP\/1\.1 408 /);
  });
});

/**
 * What both engines owe a client that does not read its answers (or reads them slowly),
 * checked against node:http: the server stops taking requests while the socket is backed up,
 * and a response still being written is not cut by the keep-alive timeout.
 */
describe('both engines: a client that reads slowly or not at all', () => {
  const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

  async function serve(
    engine: ServerEngine,
    options: { keepAliveTimeoutMs: number; headersTimeoutMs: number },
    onRequest: ClientHandlers['onRequest'],
  ) {
    const engineServer = createClientServer(
      { engine, maxHeaderSize: 1024, bodyTimeoutMs: 0, ...options },
      { ...handlers, onRequest },
    );
    engineServer.listen(0, '127.0.0.1');
    await once(engineServer, 'listening');
    return {
      port: (engineServer.address() as AddressInfo).port,
      close: () => {
        engineServer.closeAllConnections();
        engineServer.close();
      },
    };
  }

  for (const engine of ['node', 'raw'] as const) {
    it(`${engine}: lets go of an upgrade connection refused with bytes after its handshake, once the client closes`, async () => {
      const refusing = createClientServer(
        {
          engine,
          maxHeaderSize: 1024,
          keepAliveTimeoutMs: 5000,
          headersTimeoutMs: 5000,
          bodyTimeoutMs: 0,
        },
        {
          ...handlers,
          shouldUpgrade: () => true,
          // As the router refuses a handshake (400, 401, 404…): on the raw socket, later.
          onUpgrade: (_req, socket) => {
            setTimeout(() => writeRawProblem(socket, { status: 400, title: 'Bad upgrade' }), 100);
          },
        },
      );
      refusing.listen(0, '127.0.0.1');
      await once(refusing, 'listening');
      const socket = new Socket();
      socket.connect((refusing.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframe',
      );
      setTimeout(() => socket.write('more'), 50);
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      await once(socket, 'end');
      socket.end();
      const connections = () =>
        new Promise<number>((done) => refusing.getConnections((_error, count) => done(count)));
      const deadline = performance.now() + 2000;
      while ((await connections()) > 0 && performance.now() < deadline) await sleep(50);
      const left = await connections();
      refusing.closeAllConnections();
      refusing.close();
      assert.match(text, /^HTTP\/1\.1 400 /);
      assert.equal(left, 0, 'the refused connection is still open after the client closed');
    });

    it(`${engine}: stops answering pipelined requests while the client reads none of the answers`, async () => {
      let answered = 0;
      const big = Buffer.alloc(4 * 1024 * 1024, 0x78);
      const target = await serve(
        engine,
        { keepAliveTimeoutMs: 5000, headersTimeoutMs: 5000 },
        (_req, res) => {
          answered++;
          // Written whole, drain or not: the server, not the writer, must stop reading.
          res.writeHead(200, { 'content-length': String(big.length) }).end(big);
        },
      );
      const socket = new Socket();
      socket.connect(target.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.pause();
      for (let i = 0; i < 40; i++) {
        socket.write(`GET /flood/${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
        await sleep(10);
      }
      await sleep(300);
      socket.destroy();
      target.close();
      // The kernel's socket buffers hold a few answers; 40 answers would be 160 MiB queued.
      assert.ok(answered < 10, `${answered} of 40 answers queued for a client that reads none`);
    });

    it(`${engine}: does not cut a response still being written when the keep-alive timeout passes`, async () => {
      const big = Buffer.alloc(24 * 1024 * 1024, 0x79);
      const target = await serve(
        engine,
        { keepAliveTimeoutMs: 300, headersTimeoutMs: 300 },
        (_req, res) => {
          res.writeHead(200, { 'content-length': String(big.length) }).end(big);
        },
      );
      const socket = new Socket();
      socket.connect(target.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.pause();
      socket.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
      // A slow reader: nothing read for well past the keep-alive timeout.
      await sleep(1500);
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.resume();
      const deadline = performance.now() + 5000;
      while (received < big.length && !socket.destroyed && performance.now() < deadline)
        await sleep(20);
      await sleep(50);
      socket.destroy();
      target.close();
      assert.ok(received > big.length, `${received} bytes of a ${big.length}-byte body arrived`);
    });
  }
});
