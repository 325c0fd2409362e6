import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { createServer as createH2cServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Endpoint } from '../routes/types.ts';
import type { UpstreamOutcome } from './engine.ts';
import { H2cEngine } from './h2c-engine.ts';

/**
 * The h2c engine against real node:http2 servers on loopback, behind a real HTTP/1.1 front
 * that forwards every request through it: what the outcome says when the Pod is not there,
 * and what reaches the Pod and comes back.
 */

const endpoint = (port: number): Endpoint => ({
  key: `127.0.0.1:${port}`,
  origin: `http://127.0.0.1:${port}`,
  ip: '127.0.0.1',
  port,
  namespace: 'test',
  podName: 'pod',
  protocol: 'h2c',
});

const listen = async (server: Server | Http2Server) => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

describe('H2cEngine', () => {
  const engine = new H2cEngine({
    connectTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    keepAliveTimeoutMs: 5000,
  });
  let pod: Http2Server;
  let podPort = 0;
  let closedPort = 0;
  let front: Server;
  let frontPort = 0;
  const outcomes: UpstreamOutcome[] = [];
  let target = 0;
  /** Fields added to each request, as the router's policy would add them. */
  let extra: string[] = [];

  before(async () => {
    pod = createH2cServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-seen-te': String(req.headers.te) });
      res.addTrailers({ 'x-trailer': 'sent' });
      res.end(`${req.headers[':authority']} ${req.method} ${req.url}`);
    });
    podPort = await listen(pod);
    const closed = createHttpServer();
    closedPort = await listen(closed);
    await new Promise<void>((done) => closed.close(() => done()));
    front = createHttpServer((req, res) => {
      engine.forward(
        {
          req,
          res,
          endpoint: endpoint(target),
          headers: [...req.rawHeaders, ...extra],
          body: null,
          totalTimeoutMs: 0,
        },
        (outcome) => {
          outcomes.push(outcome);
          if (outcome.failure && !res.headersSent) res.writeHead(502).end();
        },
      );
    });
    frontPort = await listen(front);
  });

  after(async () => {
    await engine.close();
    front.close();
    pod.close();
  });

  const get = (headers: Record<string, string> = {}) =>
    new Promise<{
      status: number;
      body: string;
      headers: Record<string, unknown>;
      trailers: Record<string, unknown>;
    }>((resolve, reject) => {
      const req = createHttpRequest(frontPort, headers, (res, body) =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          headers: res.headers,
          trailers: res.trailers,
        }),
      );
      req.on('error', reject);
    });

  it('reports a refused connection as connect-refused (so the endpoint is ejected)', async () => {
    target = closedPort;
    const answer = await get();
    assert.equal(answer.status, 502);
    assert.equal(outcomes.at(-1)?.failure?.kind, 'connect-refused');
    assert.equal(outcomes.at(-1)?.failure?.responseStarted, false);
  });

  it('reports headers HTTP/2 cannot carry (a te other than trailers, set by a hook) as invalid-request', async () => {
    target = podPort;
    extra = ['te', 'gzip'];
    try {
      assert.equal((await get()).status, 502);
    } finally {
      extra = [];
    }
    assert.equal(outcomes.at(-1)?.failure?.kind, 'invalid-request');
    assert.equal(outcomes.at(-1)?.failure?.responseStarted, false);
  });

  it('speaks HTTP/2 to the Pod: :authority from Host, and trailers for a client that asked', async () => {
    target = podPort;
    const answer = await get({ te: 'trailers', 'content-type': 'application/grpc' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'pod.example GET /path?q=1');
    assert.equal(answer.headers['x-seen-te'], 'trailers');
    assert.equal(answer.trailers['x-trailer'], 'sent');
    assert.equal(outcomes.at(-1)?.status, 200);
    assert.equal(outcomes.at(-1)?.failure, undefined);
  });
});

function createHttpRequest(
  port: number,
  headers: Record<string, string>,
  done: (res: IncomingMessage, body: string) => void,
) {
  const req = httpRequest(
    {
      host: '127.0.0.1',
      port,
      path: '/path?q=1',
      agent: false,
      headers: { host: 'pod.example', ...headers },
    },
    (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => done(res, body));
    },
  );
  req.end();
  return req;
}
