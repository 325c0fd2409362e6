import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  type ClientHttp2Session,
  connect as h2connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { type Pem, TestCa, tlsSecret } from '../support/certs.ts';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  type RunningRouter,
  secret,
  send,
  startRouter,
} from '../support/harness.ts';

/**
 * Conformance: HTTP/2 from clients over TLS (ALPN h2) on both builds, through the same
 * match → policy → proxy path as HTTP/1.1: routing by :authority, API keys, body limits,
 * problems, and what the Pod receives (HTTP/1.1, no pseudo-headers, one cookie field).
 */

let app: EchoApp;
let ca: TestCa;
let wildcard: Pem;
const KEY = 'h2-secret-key';

before(async () => {
  app = await startEchoApp({ host: '127.0.14.1', port: 0, name: 'app' });
  ca = new TestCa();
  wildcard = ca.issue({ names: ['*.example.com'] });
});

after(async () => {
  await app.close();
  ca.close();
});

interface H2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer[] | undefined,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: IncomingHttpHeaders = {};
    let text = '';
    stream.on('response', (received) => {
      answer = received;
    });
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    stream.on('end', () =>
      resolve({ status: Number(answer[':status'] ?? 0), headers: answer, body: text }),
    );
    stream.on('error', reject);
    if (body !== undefined) {
      // Written in pieces, without content-length: a body whose end only the stream tells.
      for (const piece of body) stream.write(piece);
      stream.end();
    }
  });
}

async function session(port: number, servername: string): Promise<ClientHttp2Session> {
  const client = h2connect(`https://127.0.0.1:${port}`, { ca: ca.cert, servername });
  await once(client, 'connect');
  return client;
}

function items(build: BuildUnderTest) {
  const base = { ip: '127.0.14.1', ports: [app.port], paths: `${app.port}:/` };
  const tls = { [`${build.tier}TlsSecret`]: 'wild-tls' };
  return [
    pod(build, {
      ...base,
      name: 'open',
      namespace: 'open',
      hosts: 'open.example.com',
      extraAnnotations: tls,
    }),
    tlsSecret('open', 'wild-tls', wildcard),
    pod(build, {
      ...base,
      name: 'keyed',
      namespace: 'keyed',
      hosts: 'keyed.example.com',
      extraAnnotations: tls,
    }),
    tlsSecret('keyed', 'wild-tls', wildcard),
    secret('keyed', 'routing', { [build.apiKeyField]: KEY }),
    pod(build, { ...base, name: 'plain', namespace: 'plain', hosts: 'plain.test' }),
  ];
}

for (const build of BUILDS) {
  describe(`HTTP/2 over TLS (${build.tier} build)`, () => {
    let router: RunningRouter;
    let port = 0;
    let client: ClientHttp2Session;

    before(async () => {
      router = await startRouter(build, items(build), {
        TLS_PORT: '0',
        CLIENT_MAX_BODY_SIZE: '64k',
      });
      port = router.tlsPort ?? 0;
      client = await session(port, 'open.example.com');
    });

    after(async () => {
      client.close();
      await router.stop();
    });

    it('negotiates h2 when offered, http/1.1 otherwise', async () => {
      for (const [offer, chosen] of [
        [['h2', 'http/1.1'], 'h2'],
        [['http/1.1'], 'http/1.1'],
      ] as const) {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port,
          servername: 'open.example.com',
          ca: ca.cert,
          ALPNProtocols: [...offer],
        });
        await once(socket, 'secureConnect');
        assert.equal(socket.alpnProtocol, chosen);
        socket.destroy();
      }
    });

    it('routes by :authority and sends the Pod a clean HTTP/1.1 request', async () => {
      const answer = await request(client, {
        ':method': 'GET',
        ':path': '/h2/path?q=1',
        ':authority': 'open.example.com',
        cookie: ['a=1', 'b=2'],
        'x-custom': 'kept',
      });
      assert.equal(answer.status, 200);
      const seen = JSON.parse(answer.body) as {
        url: string;
        httpVersion: string;
        headers: Record<string, string>;
      };
      assert.equal(seen.url, '/h2/path?q=1');
      assert.equal(seen.httpVersion, '1.1');
      assert.equal(seen.headers.host, 'open.example.com');
      assert.equal(seen.headers.cookie, 'a=1; b=2');
      assert.equal(seen.headers['x-custom'], 'kept');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(
        Object.keys(seen.headers).some((name) => name.startsWith(':')),
        false,
      );
      // Many streams on the one session.
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request(client, { ':path': `/n/${i}`, ':authority': 'open.example.com' }),
        ),
      );
      assert.deepEqual(
        many.map((each) => JSON.parse(each.body).url),
        Array.from({ length: 20 }, (_, i) => `/n/${i}`),
      );
    });

    it('streams a body of unknown length upstream, and refuses one over the limit with 413', async () => {
      const pieces = Array.from({ length: 8 }, () => Buffer.alloc(4096, 'x'));
      const upload = await request(
        client,
        { ':method': 'POST', ':path': '/upload', ':authority': 'open.example.com' },
        pieces,
      );
      assert.equal(upload.status, 200);
      assert.equal(JSON.parse(upload.body).bodyBytes, 8 * 4096);
      const large = await request(
        client,
        { ':method': 'POST', ':path': '/upload', ':authority': 'open.example.com' },
        Array.from({ length: 32 }, () => Buffer.alloc(4096, 'x')),
      );
      assert.equal(large.status, 413);
      // The session survives a refused stream.
      const after = await request(client, { ':path': '/', ':authority': 'open.example.com' });
      assert.equal(after.status, 200);
    });

    it('applies the same policy as HTTP/1.1: API keys, problems, unknown hosts', async () => {
      const keyed = await session(port, 'keyed.example.com');
      try {
        const ask = (headers: OutgoingHttpHeaders = {}) =>
          request(keyed, { ':path': '/k', ':authority': 'keyed.example.com', ...headers });
        const missing = await ask();
        assert.equal(missing.status, 401);
        assert.equal(missing.headers['content-type'], 'application/problem+json');
        assert.equal((await ask({ 'x-routing-api-key': 'wrong' })).status, 403);
        const allowed = await ask({ 'x-routing-api-key': KEY });
        assert.equal(allowed.status, 200);
        const upstream = JSON.parse(allowed.body).headers as Record<string, string>;
        assert.equal(upstream['x-routing-api-key'], undefined, 'the key is not forwarded');
        const unknown = await request(keyed, { ':path': '/', ':authority': 'nobody.example.com' });
        assert.equal(unknown.status, 404);
      } finally {
        keyed.close();
      }
      await router.waitForLog(
        (line) => line.msg === 'access' && line.host === 'keyed.example.com' && line.status === 401,
      );
    });

    it('takes HTTP/2 with prior knowledge (h2c) on the plain port, next to HTTP/1.1', async () => {
      const h2c = h2connect(`http://127.0.0.1:${router.port}`);
      try {
        const answer = await request(h2c, { ':path': '/c', ':authority': 'plain.test' });
        assert.equal(answer.status, 200);
        const seen = JSON.parse(answer.body) as { headers: Record<string, string> };
        assert.equal(seen.headers.host, 'plain.test');
        assert.equal(seen.headers['x-forwarded-proto'], 'http');
        assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
        // Hosts with a certificate are redirected to HTTPS, as over HTTP/1.1.
        const redirected = await request(h2c, { ':path': '/c', ':authority': 'open.example.com' });
        assert.equal(redirected.status, 308);
        const upload = await request(
          h2c,
          { ':method': 'POST', ':path': '/upload', ':authority': 'plain.test' },
          [Buffer.alloc(1000, 'y'), Buffer.alloc(1000, 'z')],
        );
        assert.equal(JSON.parse(upload.body).bodyBytes, 2000);
      } finally {
        h2c.close();
      }
      const h1 = await send({ port: router.port, host: 'plain.test', path: '/h1' });
      assert.equal(h1.status, 200);
      assert.equal(JSON.parse(h1.body).url, '/h1');
    });

    it('tells h2c from HTTP/1.1 when the first bytes arrive in pieces', async () => {
      // HTTP/1.1 whose first byte arrives alone ("P" could start the HTTP/2 preface).
      const raw = netConnect(router.port, '127.0.0.1');
      await once(raw, 'connect');
      raw.write('P');
      await new Promise((resolve) => setTimeout(resolve, 50));
      raw.write(
        'OST /split HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
      );
      let text = '';
      raw.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      await once(raw, 'close');
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.match(text, /"url":"\/split"/);
      // HTTP/2 whose preface arrives in two pieces.
      const h2c = h2connect(`http://127.0.0.1:${router.port}`, {
        createConnection: () => {
          const socket = netConnect(router.port, '127.0.0.1');
          const write = socket.write.bind(socket) as (chunk: Buffer, done?: () => void) => boolean;
          let first = true;
          socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
            if (!first) return write(chunk, ...(rest as []));
            first = false;
            write(chunk.subarray(0, 7));
            setTimeout(() => write(chunk.subarray(7)), 50);
            const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
            done?.();
            return true;
          }) as typeof socket.write;
          return socket;
        },
      });
      try {
        const answer = await request(h2c, { ':path': '/h2split', ':authority': 'plain.test' });
        assert.equal(answer.status, 200);
        assert.equal(JSON.parse(answer.body).url, '/h2split');
      } finally {
        h2c.close();
      }
    });

    it('sends 100 Continue only once the policy accepted the request', async () => {
      const keyed = await session(port, 'keyed.example.com');
      try {
        const expect = (headers: OutgoingHttpHeaders) =>
          new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
            const stream = keyed.request(
              {
                ':method': 'POST',
                ':path': '/upload',
                ':authority': 'keyed.example.com',
                expect: '100-continue',
                ...headers,
              },
              { endStream: false },
            );
            let continued = false;
            stream.on('continue', () => {
              continued = true;
              stream.end('body');
            });
            stream.on('response', (answer) => {
              stream.resume();
              stream.on('end', () => resolve({ continued, status: Number(answer[':status']) }));
              if (!continued) stream.close();
            });
            stream.on('error', reject);
          });
        assert.deepEqual(await expect({}), { continued: false, status: 401 });
        assert.deepEqual(await expect({ 'x-routing-api-key': KEY }), {
          continued: true,
          status: 200,
        });
      } finally {
        keyed.close();
      }
    });

    it('refuses CONNECT', async () => {
      const answer = await request(client, {
        ':method': 'CONNECT',
        ':authority': 'open.example.com:443',
      });
      assert.equal(answer.status, 405);
    });
  });
}

describe('shutdown with an HTTP/2 session open', () => {
  const build = BUILDS[0] as BuildUnderTest;
  it('sends GOAWAY and exits without waiting for the timeout', async () => {
    const router = await startRouter(build, items(build), {
      TLS_PORT: '0',
      SHUTDOWN_TIMEOUT: '5s',
    });
    const client = await session(router.tlsPort ?? 0, 'open.example.com');
    try {
      assert.equal(
        (await request(client, { ':path': '/', ':authority': 'open.example.com' })).status,
        200,
      );
      const goaway = once(client, 'goaway');
      assert.equal(await router.stop(), 0);
      await goaway;
      assert.equal(
        router.logs.some((line) => line.msg?.startsWith('shutdown timeout reached')),
        false,
      );
    } finally {
      client.destroy();
    }
  });
});
