import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { UpstreamEngine } from '../../packages/core/src/proxy/engine.ts';
import { RawEngine } from '../../packages/core/src/proxy/raw-engine.ts';
import { UndiciEngine } from '../../packages/core/src/proxy/undici-engine.ts';
import { SMUGGLING_VECTORS } from './smuggling-vectors.ts';

/**
 * Response smuggling through both upstream engines: a Pod answers the first request with one of the
 * corpus's ambiguous responses (whose second framing hides a response `smuggled`). Whatever
 * the engine makes of it, the next request must get its own, fresh answer: the hidden bytes
 * may never be taken for the answer to someone else's request.
 */

const FRESH = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh';

let answers: Buffer[] = [];
/** The next corpus answer is framed by the connection's end: close after writing it. */
let closeAfter = false;
/** The next corpus answer is one podrouter must refuse: send it in two parts. */
let splitAnswer = false;
let upstreamPort = 0;
let frontPort = 0;
const sockets = new Set<Socket>();
const upstream = createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => undefined);
  let seen = '';
  let hidden: Buffer | null = null;
  socket.on('data', (chunk) => {
    seen += chunk.toString('latin1');
    while (seen.includes('\r\n\r\n')) {
      seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
      const answer = answers.shift();
      if (answer === undefined) {
        // The hidden rest of an ambiguous answer is on the wire before this request's answer,
        // as it is when the Pod framed its answer the other way.
        if (hidden !== null) socket.write(hidden);
        hidden = null;
        socket.write(FRESH);
      } else if (closeAfter) socket.end(answer);
      else if (!splitAnswer) socket.write(answer);
      else {
        // What one framing (Content-Length: 6) calls the whole response first: an engine that
        // framed it so puts the connection back in its pool, and would hand the hidden rest
        // to the next request sent on it.
        const split = answer.indexOf('0\r\n\r\nX') + 6;
        socket.write(answer.subarray(0, split));
        hidden = answer.subarray(split);
      }
    }
  });
});
const OPTIONS = {
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  keepAliveTimeoutMs: 10_000,
  maxConnectionsPerEndpoint: 0,
};
const engines: Record<string, UpstreamEngine> = {
  raw: new RawEngine(OPTIONS),
  undici: new UndiciEngine(OPTIONS),
};
let engine: UpstreamEngine = engines.raw as UpstreamEngine;
const front = createHttpServer((req, res) => {
  engine.forward(
    {
      req,
      res,
      endpoint: {
        key: `127.0.0.1:${upstreamPort}`,
        origin: `http://127.0.0.1:${upstreamPort}`,
        ip: '127.0.0.1',
        port: upstreamPort,
        namespace: 'test',
        podName: 'pod',
        protocol: 'http1',
      },
      headers: ['host', 'pod.example'],
      body: null,
      totalTimeoutMs: 0,
    },
    (outcome) => {
      if (!outcome.failure) return;
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    },
  );
});

before(async () => {
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamPort = (upstream.address() as AddressInfo).port;
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  frontPort = (front.address() as AddressInfo).port;
});

after(async () => {
  front.closeAllConnections();
  front.close();
  for (const socket of sockets) socket.destroy();
  upstream.close();
  await Promise.all(Object.values(engines).map((e) => e.close()));
});

/** One GET on a shared keep-alive client connection; resolves with the status and body. */
function get(agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ port: frontPort, host: '127.0.0.1', path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: -1, body }));
    });
    req.on('error', () => resolve({ status: -1, body: '' }));
    req.end();
  });
}

for (const [name, under] of Object.entries(engines)) {
  describe(`response smuggling through the ${name} engine`, () => {
    for (const vector of SMUGGLING_VECTORS.filter((v) => v.kind === 'response')) {
      it(vector.name, async () => {
        engine = under;
        answers = [vector.bytes];
        // Without any framing field left the body runs until close: all of it is body.
        const untilClose = vector.expect === 'accept' && !vector.name.includes('(with CL)');
        closeAfter = untilClose;
        splitAnswer = vector.expect === 'refuse';
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        const first = await get(agent);
        const second = await get(agent);
        agent.destroy();
        if (!untilClose) assert.doesNotMatch(first.body, /smuggled/, 'hidden bytes became a body');
        assert.deepEqual(second, { status: 200, body: 'fresh' });
      });
    }
  });
}
