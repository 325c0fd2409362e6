import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type Pem, TestCa } from '../support/certs.ts';
import { BUILDS, type RunningRouter, secret, send, startRouter } from '../support/harness.ts';

/**
 * Verified TLS to an external backend (file source): a real HTTPS server on loopback behind
 * a TCP relay that records every byte the router sends, so "nothing in plaintext" is
 * checked on the wire. The CA comes from a Secret of the Service's namespace (`ca.crt`) or,
 * with `system`, from the system roots (here NODE_EXTRA_CA_CERTS, which Node adds to them).
 */

const build = BUILDS[0] as (typeof BUILDS)[number];
const KEY = 'tls-key-51c0e2a9d4';
const NAME = 'api.backend.test';

interface TlsBackend {
  readonly host: string;
  readonly port: number;
  /** SNI of each request the backend answered. */
  readonly served: string[];
  /** Every byte the router sent, per connection (through the relay). */
  readonly wire: Buffer[][];
  setCertificate(pem: Pem): void;
  close(): Promise<void>;
}

async function startTlsBackend(host: string, pem: Pem): Promise<TlsBackend> {
  const served: string[] = [];
  const wire: Buffer[][] = [];
  const https: Server = createHttpsServer({ cert: pem.cert, key: pem.key }, (req, res) => {
    served.push((req.socket as TLSSocket).servername || '');
    req.resume();
    // No keep-alive: each request makes (and is checked by) a handshake of its own.
    res.setHeader('connection', 'close');
    req.on('end', () => res.end(`tls ok ${req.url}`));
  });
  // WebSocket handshakes: 101, then every byte echoed.
  https.on('upgrade', (req, socket: import('node:net').Socket) => {
    served.push((req.socket as TLSSocket).servername || '');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  const httpsPort = (https.address() as { port: number }).port;
  const sockets = new Set<import('node:net').Socket>();
  const relay: TcpServer = createTcpServer((client) => {
    const bytes: Buffer[] = [];
    wire.push(bytes);
    const upstream = connect(httpsPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      bytes.push(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => relay.listen(0, host, resolve));
  return {
    host,
    port: (relay.address() as { port: number }).port,
    served,
    wire,
    setCertificate: (next) => https.setSecureContext({ cert: next.cert, key: next.key }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      https.closeAllConnections();
      await Promise.all([
        new Promise((resolve) => https.close(resolve)),
        new Promise((resolve) => relay.close(resolve)),
      ]);
    },
  };
}

const caSecret = (name: string, pem: string) => secret('legacy', name, { 'ca.crt': pem });

function service(annotations: Record<string, string>, port = { name: 'https', port: 443 }) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'vault',
      namespace: 'legacy',
      uid: 'uid-svc-vault',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { routable: 'true' },
      annotations: {
        [build.hostsAnnotation]: 'vault.example.com',
        [build.pathsAnnotation]: `${port.name}:/`,
        ...annotations,
      },
    },
    spec: { ports: [{ ...port, protocol: 'TCP' }] },
  };
}

const slice = (backend: TlsBackend, portName = 'https') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: 'vault-1',
    namespace: 'legacy',
    labels: { 'kubernetes.io/service-name': 'vault' },
  },
  addressType: 'IPv4',
  ports: [{ name: portName, port: backend.port, protocol: 'TCP' }],
  endpoints: [{ addresses: [backend.host], conditions: { ready: true } }],
});

const plaintextSent = (backend: TlsBackend) =>
  backend.wire.some((chunks) => {
    const bytes = Buffer.concat(chunks);
    return (
      bytes.length > 0 && (bytes[0] !== 0x16 || bytes.includes(KEY) || bytes.includes('GET /'))
    );
  });

interface RoutesView {
  pods: {
    name: string;
    notServing?: string;
    rejections: { annotation: string; reason: string }[];
  }[];
}

let caA: TestCa;
let caB: TestCa;
let caSystem: TestCa;
let backend: TlsBackend;
let systemFile: string;
before(async () => {
  caA = new TestCa('backend CA A');
  caB = new TestCa('backend CA B');
  caSystem = new TestCa('a CA among the system roots');
  systemFile = join(caSystem.dir, 'extra-roots.pem');
  writeFileSync(systemFile, caSystem.cert);
  backend = await startTlsBackend('127.0.24.1', caA.issue({ names: [NAME] }));
});
after(async () => {
  await backend.close();
  for (const ca of [caA, caB, caSystem]) ca.close();
});

for (const engine of ['raw', 'undici'] as const) {
  describe(`TLS to external backends (${engine} engine)`, () => {
    let router: RunningRouter;
    const get = () =>
      send({
        port: router.port,
        host: 'vault.example.com',
        path: '/secret',
        headers: { 'x-routing-api-key': KEY },
      });
    const apiKey = secret('legacy', 'routing', { [build.apiKeyField]: KEY });
    const withCa = (ca: string, annotations: Record<string, string> = {}) => [
      apiKey,
      caSecret('vault-ca', ca),
      service({ publicBackendTls: 'vault-ca', publicBackendServerName: NAME, ...annotations }),
      slice(backend),
    ];
    const routes = async () => JSON.parse((await router.admin('/routes')).body) as RoutesView;

    before(async () => {
      router = await startRouter(build, withCa(caA.cert), {
        UPSTREAM_ENGINE: engine,
        NODE_EXTRA_CA_CERTS: systemFile,
      });
    });
    after(() => router.stop());

    it('verifies the backend against the CA of the Secret, with SNI from the server name', async () => {
      backend.served.length = 0;
      backend.wire.length = 0;
      const answer = await get();
      assert.equal(answer.status, 200, `${answer.body} ${router.stderr()}`);
      assert.equal(answer.body, 'tls ok /secret');
      assert.deepEqual(backend.served, [NAME]);
      assert.equal(plaintextSent(backend), false);
      const view = JSON.parse((await router.admin('/routes')).body) as {
        routes: { host: string; endpoints: { tls?: unknown }[] }[];
      };
      assert.deepEqual(
        view.routes.find((route) => route.host === 'vault.example.com')?.endpoints[0]?.tls,
        { serverName: NAME, ca: 'Secret legacy/vault-ca' },
      );
    });

    it('tunnels a WebSocket upgrade over the verified connection, and refuses one to a wrong CA', async () => {
      const upgrade = () =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(router.port, '127.0.0.1');
          let text = '';
          socket.setEncoding('latin1');
          socket.on('data', (chunk: string) => {
            text += chunk;
            if (
              text.includes('\r\n\r\n') &&
              text.startsWith('HTTP/1.1 101') &&
              !text.includes('ping')
            )
              socket.write('ping');
            if (text.endsWith('ping') || (!text.startsWith('HTTP/1.1 101') && text.includes('}'))) {
              socket.destroy();
              resolve(text);
            }
          });
          socket.on('error', reject);
          socket.on('close', () => resolve(text));
          socket.write(
            `GET /ws HTTP/1.1\r\nHost: vault.example.com\r\nx-routing-api-key: ${KEY}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
          );
        });
      backend.served.length = 0;
      backend.wire.length = 0;
      const open = await upgrade();
      assert.match(open, /^HTTP\/1\.1 101/);
      assert.ok(open.endsWith('ping'), open);
      assert.deepEqual(backend.served, [NAME]);
      assert.equal(plaintextSent(backend), false);
      await router.setState(withCa(caB.cert));
      backend.served.length = 0;
      const refused = await upgrade();
      assert.match(refused, /^HTTP\/1\.1 502/);
      assert.equal(backend.served.length, 0);
      await router.setState(withCa(caA.cert));
    });

    it('answers 502 for a certificate of another CA, without sending one plaintext byte', async () => {
      await router.setState(withCa(caB.cert));
      backend.served.length = 0;
      backend.wire.length = 0;
      const answer = await get();
      assert.equal(answer.status, 502);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.match(
        answer.json<{ detail: string }>().detail,
        /TLS certificate could not be verified/,
      );
      assert.equal(backend.served.length, 0);
      assert.ok(backend.wire.length > 0, 'the router did connect');
      assert.equal(plaintextSent(backend), false);
    });

    it('answers 502 when the certificate does not name the server name', async () => {
      await router.setState(withCa(caA.cert, { publicBackendServerName: 'other.backend.test' }));
      backend.served.length = 0;
      backend.wire.length = 0;
      assert.equal((await get()).status, 502);
      assert.equal(backend.served.length, 0);
      assert.equal(plaintextSent(backend), false);
    });

    it('follows a rotated CA Secret (and backend certificate)', async () => {
      await router.setState(withCa(caA.cert));
      assert.equal((await get()).status, 200);
      // The backend moves to CA B; the Secret carries both during the change, then B alone.
      backend.setCertificate(caB.issue({ names: [NAME] }));
      await router.setState(withCa(`${caA.cert}${caB.cert}`));
      assert.equal((await get()).status, 200);
      await router.setState(withCa(caB.cert));
      assert.equal((await get()).status, 200);
      backend.setCertificate(caA.issue({ names: [NAME] }));
    });

    it('disables the route, never plaintext, when the CA Secret is missing or unusable', async () => {
      const cases: [unknown[], RegExp][] = [
        [[apiKey, service({ publicBackendTls: 'vault-ca' }), slice(backend)], /does not exist/],
        [
          [
            apiKey,
            secret('legacy', 'vault-ca', { 'tls.crt': caA.cert }),
            service({ publicBackendTls: 'vault-ca' }),
            slice(backend),
          ],
          /has no ca\.crt/,
        ],
        [
          [
            apiKey,
            caSecret('vault-ca', 'not a certificate'),
            service({ publicBackendTls: 'vault-ca' }),
            slice(backend),
          ],
          /holds no PEM certificate/,
        ],
      ];
      for (const [state, reason] of cases) {
        await router.setState(state);
        backend.wire.length = 0;
        const answer = await get();
        assert.equal(answer.status, 503);
        assert.equal(backend.wire.length, 0, 'no connection at all');
        const report = (await routes()).pods.find((p) => p.name === 'service:vault');
        assert.equal(report?.rejections[0]?.annotation, 'publicBackendTls');
        assert.match(report?.rejections[0]?.reason ?? '', reason);
        assert.match(report?.notServing ?? '', /backend TLS is not usable/);
        assert.doesNotMatch(JSON.stringify(report), /BEGIN CERTIFICATE/);
      }
    });

    it('uses the system roots for "system" and for a port named https without the annotation', async () => {
      const trusted = caSystem.issue({ names: [NAME] });
      backend.setCertificate(trusted);
      try {
        const variants: Record<string, string>[] = [
          { publicBackendTls: 'system', publicBackendServerName: NAME },
          { publicBackendServerName: NAME },
        ];
        for (const annotations of variants) {
          await router.setState([apiKey, service(annotations), slice(backend)]);
          backend.served.length = 0;
          assert.equal((await get()).status, 200, JSON.stringify(annotations));
          assert.deepEqual(backend.served, [NAME]);
        }
        // A CA the system roots do not hold is refused: "system" never means "no check".
        backend.setCertificate(caA.issue({ names: [NAME] }));
        await router.setState([
          apiKey,
          service({ publicBackendTls: 'system', publicBackendServerName: NAME }),
          slice(backend),
        ]);
        backend.wire.length = 0;
        assert.equal((await get()).status, 502);
        assert.equal(plaintextSent(backend), false);
      } finally {
        backend.setCertificate(caA.issue({ names: [NAME] }));
      }
    });

    it('verifies against the address itself when no server name is given', async () => {
      backend.setCertificate(caA.issue({ names: ['IP:127.0.24.1'] }));
      try {
        await router.setState([
          apiKey,
          caSecret('vault-ca', caA.cert),
          service({ publicBackendTls: 'vault-ca' }),
          slice(backend),
        ]);
        backend.served.length = 0;
        assert.equal((await get()).status, 200);
        assert.deepEqual(backend.served, [''], 'an IP is never sent as SNI');
        backend.setCertificate(caA.issue({ names: ['IP:127.0.24.2'] }));
        await router.setState([
          apiKey,
          caSecret('vault-ca', caA.cert),
          service({ publicBackendTls: 'vault-ca', note: 'another certificate' }),
          slice(backend),
        ]);
        assert.equal((await get()).status, 502);
      } finally {
        backend.setCertificate(caA.issue({ names: [NAME] }));
      }
    });
  });
}
