import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { type Pem, TestCa, tlsSecret } from '../support/certs.ts';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  type RunningRouter,
  send,
  startRouter,
} from '../support/harness.ts';

/**
 * Conformance: TLS termination on both builds, with certificates made by openssl for each
 * run and real TLS clients on loopback. SNI selection (wildcards included), the default
 * certificate, protocol and cipher floor, ALPN, rotation under an open connection, bad
 * certificates disabling their own hosts only, the 308 redirect and HSTS.
 */

let app: EchoApp;
let ca: TestCa;
let shop: Pem;
let shopNext: Pem;
let wild: Pem;
let partial: Pem;
let fallback: Pem;

before(async () => {
  app = await startEchoApp({ host: '127.0.13.1', port: 0, name: 'app' });
  ca = new TestCa();
  shop = ca.issue({ names: ['shop.example.com'] });
  shopNext = ca.issue({ names: ['shop.example.com'] });
  wild = ca.issue({ names: ['*.wild.example.com'] });
  partial = ca.issue({ names: ['ok.example.com'] });
  fallback = ca.issue({ names: ['default.example.net'] });
});

after(async () => {
  await app.close();
  ca.close();
});

/** A TLS handshake to the router; resolves with the connected socket or rejects. */
async function handshake(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, ...options });
  await once(socket, 'secureConnect');
  return socket;
}

const peerNames = (socket: TLSSocket) => socket.getPeerCertificate().subjectaltname ?? '';

interface HttpsResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly socket: TLSSocket;
}

function get(
  port: number,
  host: string,
  path = '/',
  agent: Agent | false = false,
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, servername: host, headers: { host }, ca: ca.cert, agent },
      (res) => {
        // Taken now: a keep-alive agent detaches the socket from the response at its end.
        const socket = res.socket as TLSSocket;
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            socket,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function items(build: BuildUnderTest, shopPem: Pem) {
  const paths = `${app.port}:/`;
  const base = { ip: '127.0.13.1', ports: [app.port], paths };
  const tls = (name: string) => ({ [`${build.tier}TlsSecret`]: name });
  return [
    pod(build, {
      ...base,
      name: 'shop',
      namespace: 'shop',
      hosts: 'shop.example.com',
      extraAnnotations: tls('shop-tls'),
    }),
    tlsSecret('shop', 'shop-tls', shopPem),
    pod(build, {
      ...base,
      name: 'wild',
      namespace: 'wild',
      hosts: 'a.wild.example.com b.wild.example.com',
      extraAnnotations: tls('wild-tls'),
    }),
    tlsSecret('wild', 'wild-tls', wild),
    // One certificate for two hosts that covers only one of them.
    pod(build, {
      ...base,
      name: 'partial',
      namespace: 'partial',
      hosts: 'ok.example.com mismatch.example.com',
      extraAnnotations: tls('partial-tls'),
    }),
    tlsSecret('partial', 'partial-tls', partial),
    pod(build, {
      ...base,
      name: 'broken',
      namespace: 'broken',
      hosts: 'broken.example.com',
      extraAnnotations: tls('broken-tls'),
    }),
    tlsSecret('broken', 'broken-tls', { cert: shop.cert, key: wild.key }),
    pod(build, {
      ...base,
      name: 'missing',
      namespace: 'missing',
      hosts: 'missing.example.com',
      extraAnnotations: tls('nowhere'),
    }),
    // Another namespace's Secret cannot be named.
    pod(build, {
      ...base,
      name: 'thief',
      namespace: 'thief',
      hosts: 'thief.example.com',
      extraAnnotations: tls('shop/shop-tls'),
    }),
    pod(build, { ...base, name: 'plain', namespace: 'plain', hosts: 'plain.example.com' }),
    tlsSecret('podrouter', 'default-tls', fallback),
  ];
}

for (const build of BUILDS) {
  describe(`TLS termination (${build.tier} build)`, () => {
    let router: RunningRouter;
    let tlsPort = 0;

    before(async () => {
      router = await startRouter(build, items(build, shop), {
        TLS_PORT: '0',
        DEFAULT_TLS_SECRET: 'podrouter/default-tls',
        HSTS_MAX_AGE: '1h',
      });
      tlsPort = router.tlsPort ?? 0;
      assert.ok(tlsPort > 0, 'the router logs its TLS port');
    });

    after(async () => {
      await router.stop();
    });

    it('chooses the certificate by SNI and proxies over HTTPS', async () => {
      const answer = await get(tlsPort, 'shop.example.com', '/hello');
      assert.equal(answer.status, 200);
      assert.equal(peerNames(answer.socket), 'DNS:shop.example.com');
      const seen = JSON.parse(answer.body) as { url: string; headers: Record<string, string> };
      assert.equal(seen.url, '/hello');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(answer.headers['strict-transport-security'], 'max-age=3600');
    });

    it('serves a wildcard certificate for each host of its Pod', async () => {
      for (const host of ['a.wild.example.com', 'b.wild.example.com']) {
        const answer = await get(tlsPort, host);
        assert.equal(answer.status, 200, host);
        assert.equal(peerNames(answer.socket), 'DNS:*.wild.example.com');
      }
    });

    it('gives clients without SNI, and names without a certificate, the default one', async () => {
      const bare = await handshake(tlsPort, {
        servername: '',
        checkServerIdentity: () => undefined,
      });
      assert.equal(peerNames(bare), 'DNS:default.example.net');
      bare.destroy();
      const plain = await handshake(tlsPort, {
        servername: 'plain.example.com',
        checkServerIdentity: () => undefined,
      });
      assert.equal(peerNames(plain), 'DNS:default.example.net');
      plain.destroy();
    });

    it('speaks TLS 1.2 and 1.3 only, with AEAD suites, and offers h2 and http/1.1 by ALPN', async () => {
      const modern = await handshake(tlsPort, {
        servername: 'shop.example.com',
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      assert.equal(modern.getProtocol(), 'TLSv1.3');
      assert.equal(modern.alpnProtocol, 'h2');
      modern.destroy();
      const twelve = await handshake(tlsPort, {
        servername: 'shop.example.com',
        maxVersion: 'TLSv1.2',
      });
      assert.equal(twelve.getProtocol(), 'TLSv1.2');
      assert.match(twelve.getCipher().name, /GCM|CHACHA20/);
      twelve.destroy();
      await assert.rejects(
        handshake(tlsPort, {
          servername: 'shop.example.com',
          minVersion: 'TLSv1',
          maxVersion: 'TLSv1.1',
          ciphers: 'DEFAULT@SECLEVEL=0',
        }),
      );
      await assert.rejects(
        handshake(tlsPort, {
          servername: 'shop.example.com',
          maxVersion: 'TLSv1.2',
          ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA',
        }),
      );
      const failures = new RegExp(
        `^podrouter_tls_handshake_failures_total\\{tier="${build.tier}"\\} (\\d+)$`,
        'm',
      ).exec((await router.admin('/metrics')).body);
      assert.ok(Number(failures?.[1]) >= 2, 'refused handshakes are counted');
    });

    it('disables TLS for a bad certificate’s hosts alone and says why at /routes and in the log', async () => {
      const routes = (await router.admin('/routes')).json<{
        pods: { namespace: string; rejections: { annotation: string; reason: string }[] }[];
        tls: { hosts: { host: string; secret: string; pod: string | null }[] };
      }>();
      const reasons = (namespace: string) =>
        routes.pods
          .filter((report) => report.namespace === namespace)
          .flatMap((report) => report.rejections)
          .filter((rejection) => rejection.annotation === `${build.tier}TlsSecret`)
          .map((rejection) => rejection.reason);
      assert.deepEqual(reasons('partial'), [
        'the certificate of Secret partial/partial-tls (ok.example.com) does not cover mismatch.example.com',
      ]);
      assert.deepEqual(reasons('broken'), [
        'Secret broken/broken-tls: tls.key does not belong to the first certificate of tls.crt',
      ]);
      assert.deepEqual(reasons('missing'), ['Secret missing/nowhere not found']);
      assert.deepEqual(reasons('thief'), [
        "the Secret must be in the Pod's own namespace: give its name only",
      ]);
      assert.deepEqual(reasons('shop'), []);
      const metrics = (await router.admin('/metrics')).body;
      const notAfter = new RegExp(
        `^podrouter_tls_certificate_not_after_seconds\\{tier="${build.tier}",secret="shop/shop-tls"\\} (\\d+)$`,
        'm',
      ).exec(metrics);
      assert.ok(notAfter, 'expiry of each certificate in use is a metric');
      assert.ok(Number(notAfter[1]) * 1000 > Date.now());
      assert.doesNotMatch(metrics, /secret="broken\/broken-tls"/);
      const served = new Map(routes.tls.hosts.map((entry) => [entry.host, entry.secret]));
      assert.equal(served.get('ok.example.com'), 'partial/partial-tls');
      assert.equal(served.get('shop.example.com'), 'shop/shop-tls');
      for (const host of ['mismatch.example.com', 'broken.example.com', 'missing.example.com']) {
        assert.equal(served.has(host), false, host);
      }
      // The good host of the half-bad Pod still serves; the bad one gets the default
      // certificate, which a client rejects.
      assert.equal((await get(tlsPort, 'ok.example.com')).status, 200);
      await assert.rejects(get(tlsPort, 'mismatch.example.com'), {
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
      await router.waitForLog(
        (line) =>
          line.msg === 'annotation entry rejected' &&
          line.namespace === 'broken' &&
          line.annotation === `${build.tier}TlsSecret`,
      );
      assert.ok(!JSON.stringify(router.logs).includes('BEGIN'), 'no PEM in the log');
    });

    it('redirects plain requests for hosts with a certificate (308), except ACME challenges', async () => {
      const redirected = await send({
        port: router.port,
        host: 'shop.example.com',
        path: '/cart?item=1',
        method: 'POST',
        body: 'x',
      });
      assert.equal(redirected.status, 308);
      assert.equal(redirected.headers.location, `https://shop.example.com:${tlsPort}/cart?item=1`);
      assert.equal(redirected.headers['strict-transport-security'], undefined);
      const challenge = await send({
        port: router.port,
        host: 'shop.example.com',
        path: '/.well-known/acme-challenge/token',
      });
      assert.equal(challenge.status, 200);
      for (const host of ['plain.example.com', 'mismatch.example.com', 'broken.example.com']) {
        const answer = await send({ port: router.port, host });
        assert.equal(answer.status, 200, host);
      }
    });

    it('rotates a certificate without dropping an open connection', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await get(tlsPort, 'shop.example.com', '/', agent);
        const before = first.socket.getPeerCertificate().fingerprint256;
        await router.setState(items(build, shopNext));
        const fresh = await get(tlsPort, 'shop.example.com');
        assert.notEqual(fresh.socket.getPeerCertificate().fingerprint256, before);
        // The open connection goes on with the certificate it started with.
        const again = await get(tlsPort, 'shop.example.com', '/', agent);
        assert.equal(again.status, 200);
        assert.equal(again.socket, first.socket);
        assert.equal(again.socket.getPeerCertificate().fingerprint256, before);
      } finally {
        agent.destroy();
      }
    });
  });
}

describe('HTTPS_REDIRECT=false', () => {
  const build = BUILDS[0] as BuildUnderTest;
  it('serves plain requests for hosts with a certificate', async () => {
    const router = await startRouter(build, items(build, shop), {
      TLS_PORT: '0',
      HTTPS_REDIRECT: 'false',
    });
    try {
      assert.equal((await send({ port: router.port, host: 'shop.example.com' })).status, 200);
      assert.equal((await get(router.tlsPort ?? 0, 'shop.example.com')).status, 200);
    } finally {
      await router.stop();
    }
  });
});

describe('shutdown with HTTPS keep-alive connections', () => {
  const build = BUILDS[1] as BuildUnderTest;
  it('closes idle TLS connections and drains like plain ones', async () => {
    const router = await startRouter(build, items(build, shop), {
      TLS_PORT: '0',
      SHUTDOWN_TIMEOUT: '5s',
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const idle = await get(router.tlsPort ?? 0, 'shop.example.com', '/', agent);
      const closed = once(idle.socket, 'close');
      assert.equal(await router.stop(), 0);
      await closed;
      assert.equal(
        router.logs.some((line) => line.msg?.startsWith('shutdown timeout reached')),
        false,
        'the idle TLS connection did not hold the shutdown',
      );
    } finally {
      agent.destroy();
    }
  });
});

describe('a certificate that expires while nothing changes', () => {
  const build = BUILDS[0] as BuildUnderTest;
  it('is dropped and reported when it expires, without a change in the source', async () => {
    const now = Date.now();
    const shortLived = ca.issue({
      names: ['shop.example.com'],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 4000),
    });
    const router = await startRouter(build, items(build, shortLived), { TLS_PORT: '0' });
    try {
      const before = await get(router.tlsPort ?? 0, 'shop.example.com');
      assert.equal(before.status, 200);
      const line = await router.waitForLog(
        (entry) =>
          entry.msg === 'annotation entry rejected' &&
          entry.namespace === 'shop' &&
          /expired on/.test(String(entry.reason)),
      );
      assert.match(String(line.reason), /^Secret shop\/shop-tls: the certificate expired on /);
      const routes = (await router.admin('/routes')).json<{
        tls: { hosts: { host: string }[] };
      }>();
      assert.equal(
        routes.tls.hosts.some((entry) => entry.host === 'shop.example.com'),
        false,
      );
    } finally {
      await router.stop();
    }
  });
});

describe('TLS with WORKERS=2', () => {
  const build = BUILDS[0] as BuildUnderTest;
  it('terminates TLS in every worker with the Secrets’ certificates, and rotates them in each', async () => {
    const router = await startRouter(build, items(build, shop), { TLS_PORT: '0', WORKERS: '2' });
    try {
      const tlsPort = router.tlsPort ?? 0;
      assert.ok(tlsPort > 0);
      // Fresh connections, spread by the kernel over both workers' sockets.
      const certificates = async () => {
        const seen = new Set<string>();
        for (let index = 0; index < 12; index++) {
          const answer = await get(tlsPort, 'shop.example.com');
          assert.equal(answer.status, 200);
          seen.add(answer.socket.getPeerCertificate().fingerprint256);
        }
        return [...seen];
      };
      const before = await certificates();
      assert.equal(before.length, 1);
      await router.setState(items(build, shopNext));
      const after = await certificates();
      assert.equal(after.length, 1, 'every worker serves the new certificate');
      assert.notEqual(after[0], before[0]);
      const workers = new Set(
        router.logs
          .filter((line) => line.msg === 'access' && line.host === 'shop.example.com')
          .map((line) => line.worker),
      );
      assert.equal(workers.size, 2, 'both workers terminated TLS');
    } finally {
      await router.stop();
    }
  });
});
