import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, type RunningRouter, send, startRouter } from '../support/harness.ts';

/** Conformance: what happens to requests and responses on the way through. */

let app: EchoApp;
let spare: EchoApp;
let hopServer: Server;
let hopPort = 0;
/** A port on 127.0.11.9 where nothing listens. */
const DEAD_PORT = 1;

before(async () => {
  app = await startEchoApp({ host: '127.0.11.1', port: 0, name: 'app' });
  spare = await startEchoApp({ host: '127.0.11.2', port: 0, name: 'spare' });
  // An upstream that sends hop-by-hop response headers the router must drop.
  hopServer = createServer((_req, res) => {
    res.writeHead(200, {
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret-hop',
      'keep-alive': 'timeout=5',
      'x-end': 'kept',
    });
    res.end('hop');
  });
  await new Promise<void>((done) => hopServer.listen(0, '127.0.11.3', () => done()));
  hopPort = (hopServer.address() as AddressInfo).port;
});

after(async () => {
  await Promise.all([app.close(), spare.close()]);
  hopServer.closeAllConnections();
  hopServer.close();
});

/** Sends raw bytes on a fresh connection and returns everything the router answers. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('close', () => done(text));
  });
}

for (const build of BUILDS) {
  describe(`proxying (${build.tier} build)`, () => {
    let router: RunningRouter;
    const host = 'svc.example.com';

    before(async () => {
      router = await startRouter(
        build,
        [
          pod(build, {
            name: 'app',
            ip: '127.0.11.1',
            ports: [app.port],
            hosts: host,
            paths: `${app.port}:/`,
          }),
          pod(build, {
            name: 'hop',
            ip: '127.0.11.3',
            ports: [hopPort],
            hosts: 'hop.example.com',
            paths: `${hopPort}:/`,
          }),
          // Two endpoints, one of which refuses connections.
          pod(build, {
            name: 'dead',
            namespace: 'flaky',
            ip: '127.0.11.9',
            ports: [DEAD_PORT],
            hosts: 'flaky.example.com',
            paths: `${DEAD_PORT}:/`,
          }),
          pod(build, {
            name: 'alive',
            namespace: 'flaky',
            ip: '127.0.11.2',
            ports: [spare.port],
            hosts: 'flaky.example.com',
            paths: `${spare.port}:/`,
          }),
          pod(build, {
            name: 'only-dead',
            namespace: 'gone',
            ip: '127.0.11.9',
            ports: [DEAD_PORT],
            hosts: 'gone.example.com',
            paths: `${DEAD_PORT}:/`,
          }),
        ],
        { CLIENT_MAX_BODY_SIZE: '1k', MAX_HEADER_SIZE: '4k', UPSTREAM_IDLE_TIMEOUT: '300ms' },
      );
    });

    after(async () => {
      await router.stop();
    });

    it('preserves Host, sets X-Forwarded-*, removes hop-by-hop request headers', async () => {
      const res = await send({
        port: router.port,
        host: `${host}:8080`,
        path: '/echo',
        headers: {
          connection: 'keep-alive, x-private',
          'x-private': 'drop me',
          'keep-alive': 'timeout=1',
          te: 'trailers',
          'proxy-connection': 'keep-alive',
          'x-forwarded-for': '6.6.6.6',
          'x-keep': 'yes',
        },
      });
      assert.equal(res.status, 200);
      const headers = res.json<{ headers: Record<string, string> }>().headers;
      assert.equal(headers.host, `${host}:8080`);
      assert.equal(headers['x-keep'], 'yes');
      for (const name of ['x-private', 'keep-alive', 'te', 'proxy-connection'])
        assert.equal(headers[name], undefined, name);
      // Untrusted by default: the client's X-Forwarded-For is replaced, not extended.
      assert.equal(headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(headers['x-forwarded-proto'], 'http');
      assert.equal(headers['x-forwarded-host'], `${host}:8080`);
    });

    it('removes hop-by-hop response headers', async () => {
      const res = await send({ port: router.port, host: 'hop.example.com', path: '/' });
      assert.equal(res.body, 'hop');
      assert.equal(res.headers['x-hop'], undefined);
      assert.equal(res.headers['x-end'], 'kept');
      assert.notEqual(res.headers['keep-alive'], 'timeout=5');
    });

    it('streams request and response bodies', async () => {
      const body = 'x'.repeat(1000);
      const res = await send({
        port: router.port,
        host,
        path: '/upload',
        method: 'POST',
        body,
        chunked: true,
      });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ bodyBytes: number }>().bodyBytes, 1000);
      const stream = await send({ port: router.port, host, path: '/stream?n=5' });
      assert.equal(stream.headers['transfer-encoding'], 'chunked');
      assert.equal(stream.body.split('\n').filter(Boolean).length, 5);
    });

    it('handles Expect: 100-continue itself and still forwards the body', async () => {
      const body = 'e'.repeat(800);
      const res = await send({
        port: router.port,
        host,
        path: '/upload',
        method: 'POST',
        body,
        headers: { expect: '100-continue' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ bodyBytes: number }>().bodyBytes, 800);
      assert.equal(res.json<{ headers: Record<string, string> }>().headers.expect, undefined);
    });

    it('answers 413 for bodies over CLIENT_MAX_BODY_SIZE, by length or while streaming', async () => {
      const big = 'y'.repeat(2048);
      const declared = await send({
        port: router.port,
        host,
        path: '/upload',
        method: 'POST',
        body: big,
      });
      assert.equal(declared.status, 413);
      assert.equal(declared.headers['content-type'], 'application/problem+json');
      const chunked = await send({
        port: router.port,
        host,
        path: '/upload',
        method: 'POST',
        body: big,
        chunked: true,
      });
      assert.equal(chunked.status, 413);
    });

    it('answers 431 for oversized request heads', async () => {
      const res = await send({
        port: router.port,
        host,
        path: '/',
        headers: { 'x-big': 'z'.repeat(8000) },
      });
      assert.equal(res.status, 431);
    });

    it('retries an idempotent request on another Pod when a connection is refused', async () => {
      for (let i = 0; i < 6; i++) {
        const res = await send({ port: router.port, host: 'flaky.example.com', path: '/' });
        assert.equal(res.status, 200);
        assert.equal(res.json<{ pod: string }>().pod, 'spare');
      }
      const routes = (await router.admin('/routes')).json<{ ejectedEndpoints: string[] }>();
      assert.deepEqual(routes.ejectedEndpoints, [`127.0.11.9:${DEAD_PORT}`]);
      const metrics = (await router.admin('/metrics')).body;
      assert.match(metrics, /podrouter_upstream_retries_total\{tier="\w+"\} [1-9]/);
    });

    it('answers 502 when the only Pod refuses, 504 when it is too slow', async () => {
      const refused = await send({ port: router.port, host: 'gone.example.com', path: '/' });
      assert.equal(refused.status, 502);
      assert.equal(refused.headers['content-type'], 'application/problem+json');
      const slow = await send({ port: router.port, host, path: '/slow?ms=2000' });
      assert.equal(slow.status, 504);
      assert.equal(slow.json<{ status: number }>().status, 504);
    });

    it('passes upstream statuses through unchanged', async () => {
      for (const status of [201, 404, 500, 503]) {
        assert.equal(
          (await send({ port: router.port, host, path: `/status/${status}` })).status,
          status,
        );
      }
    });

    it('routes absolute-form targets by their authority and sends origin form upstream', async () => {
      const raw = await rawExchange(
        router.port,
        `GET http://${host}:8080/echo?q=1 HTTP/1.1\r\nHost: elsewhere.example.com\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 200/);
      // The body may come chunked: the JSON is between the outer braces.
      const body = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as {
        url: string;
        headers: Record<string, string>;
      };
      assert.equal(body.url, '/echo?q=1');
      assert.equal(body.headers.host, `${host}:8080`);
      const bad = await rawExchange(
        router.port,
        `GET ftp://${host}/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(bad, /^HTTP\/1\.1 400/);
    });

    it('rejects malformed requests with 400 and smuggling attempts without forwarding', async () => {
      const raw = await new Promise<string>((done) => {
        const socket = connect(router.port, '127.0.0.1', () => {
          socket.end(
            `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
          );
        });
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk;
        });
        socket.on('close', () => done(text));
      });
      assert.match(raw, /^HTTP\/1\.1 400/);
    });
  });

  describe(`out of file descriptors (${build.tier} build)`, () => {
    it('answers 502 connect-local when the router cannot open a socket, and ejects no Pod', async () => {
      // One process (even in the WORKERS=2 run): the limit is set on the one that proxies.
      const router = await startRouter(
        build,
        [
          pod(build, {
            name: 'app',
            ip: '127.0.11.1',
            ports: [app.port],
            hosts: 'fd.example.com',
            paths: `${app.port}:/`,
          }),
        ],
        { WORKERS: '1' },
      );
      const pid = String(router.child.pid);
      const limit = (soft: number | 'unlimited') =>
        execFileSync('prlimit', ['--pid', pid, `--nofile=${soft}:`]);
      const original = execFileSync('prlimit', [
        '--pid',
        pid,
        '--nofile',
        '-o',
        'SOFT',
        '--noheadings',
      ])
        .toString()
        .trim();
      try {
        // Room for exactly one more descriptor: the client's connection takes it, so the
        // socket to the Pod fails with EMFILE (the router's failure, not the Pod's). The
        // limit bounds descriptor numbers: below it, exactly one number is free.
        const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
        let free = 0;
        let below = 0;
        while (free < 2) if (!open.has(below++)) free++;
        limit(below - 1);
        const raw = await rawExchange(
          router.port,
          'GET / HTTP/1.1\r\nHost: fd.example.com\r\nConnection: close\r\n\r\n',
        );
        assert.match(raw, /^HTTP\/1\.1 502 /);
        assert.match(raw, /The router could not open a connection/);
        limit(Number(original) || 'unlimited');
        const metrics = (await router.admin('/metrics')).body;
        assert.match(
          metrics,
          /podrouter_upstream_failures_total\{tier="\w+",kind="connect-local"\} [1-9]/,
        );
        assert.doesNotMatch(metrics, /kind="connect-(refused|timeout)"/);
        const routes = (await router.admin('/routes')).json<{ ejectedEndpoints: string[] }>();
        assert.deepEqual(routes.ejectedEndpoints, []);
        // With descriptors back, the same Pod answers.
        assert.equal(
          (await send({ port: router.port, host: 'fd.example.com', path: '/' })).status,
          200,
        );
      } finally {
        await router.stop();
      }
    });
  });

  describe(`NOT_FOUND_RESPONSE=close (${build.tier} build)`, () => {
    it('drops the connection without an answer when no route matches', async () => {
      const router = await startRouter(build, [], { NOT_FOUND_RESPONSE: 'close' });
      try {
        await assert.rejects(
          send({ port: router.port, host: 'nothing.example.com', path: '/' }),
          /socket hang up|ECONNRESET/,
        );
      } finally {
        await router.stop();
      }
    });
  });
}
