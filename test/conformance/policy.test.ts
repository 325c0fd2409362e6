import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  ROOT,
  type RunningRouter,
  secret,
  send,
  startRouter,
} from '../support/harness.ts';
import { type RedisServer, startRedis } from '../support/redis.ts';

/**
 * Conformance: the API-management policy (API keys, JWT, rate limits, custom hooks) on both
 * builds, against real routers, a real Redis and an echo backend that shows what it got.
 */

const KEY_OLD = 'old-key-4f1c2a9e7b';
const KEY_NEW = 'new-key-8d3e5f0a6c';
const KEY_HASHED = 'hashed-key-1b2c3d4e5f';
const KEY_ADMIN = 'admin-key-9a8b7c6d5e';
const KEY_METERED = 'metered-key-0f9e8d7c';
const KEY_ROTATED_IN = 'rotated-in-key-5a6b7c';
const BROKEN_VALUE = 'broken-value-77aa66';
const ALL_SECRETS = [
  KEY_OLD,
  KEY_NEW,
  KEY_HASHED,
  KEY_ADMIN,
  KEY_METERED,
  KEY_ROTATED_IN,
  BROKEN_VALUE,
];
const hex = (text: string) => createHash('sha256').update(text).digest('hex');

const ISSUER = 'https://issuer.podrouter.test';
const AUDIENCE = 'podrouter-tests';

let app: EchoApp;
let redis: RedisServer;
let jwksServer: Server;
let jwksPort = 0;
let jwks: { keys: JWK[] } = { keys: [] };
type Signer = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const signers = new Map<string, Signer>();
const publicJwks = new Map<string, JWK>();

before(async () => {
  app = await startEchoApp({ host: '127.0.12.1', port: 0, name: 'app' });
  redis = await startRedis();
  for (const kid of ['kid-a', 'kid-b']) {
    const pair = await generateKeyPair('ES256');
    signers.set(kid, pair.privateKey);
    publicJwks.set(kid, { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' });
  }
  jwks = { keys: [publicJwks.get('kid-a') as JWK] };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((done) => jwksServer.listen(0, '127.0.0.1', () => done()));
  jwksPort = (jwksServer.address() as AddressInfo).port;
});

after(async () => {
  jwksServer.closeAllConnections();
  jwksServer.close();
  await Promise.all([app.close(), redis.close()]);
});

const token = (
  kid: string,
  claims: { aud?: string; expiresAt?: number; plan?: string } = {},
): Promise<string> =>
  new SignJWT(claims.plan ? { plan: claims.plan } : {})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setSubject('user-42')
    .setIssuedAt()
    .setExpirationTime(claims.expiresAt ?? Math.floor(Date.now() / 1000) + 300)
    .sign(signers.get(kid) as Signer);

function cluster(build: BuildUnderTest, keyedField: string) {
  const appPod = (namespace: string, host: string) =>
    pod(build, {
      name: `app-${namespace}`,
      namespace,
      ip: '127.0.12.1',
      ports: [app.port],
      hosts: host,
      paths: `${app.port}:/`,
    });
  return [
    appPod('keyed', 'keyed.example.com'),
    appPod('open', 'open.example.com'),
    appPod('broken', 'broken.example.com'),
    appPod('jwt', 'jwt.example.com'),
    secret('keyed', 'routing', { [build.apiKeyField]: keyedField }),
    secret('broken', 'routing', { [build.apiKeyField]: `${BROKEN_VALUE}\nsha256:nothex` }),
  ];
}

const KEYED_FIELD = [
  KEY_OLD,
  KEY_NEW,
  `sha256:${hex(KEY_HASHED)}`,
  `${KEY_ADMIN} plan=admin`,
  `${KEY_METERED} plan=metered`,
].join('\n');

for (const build of BUILDS) {
  describe(`policy (${build.tier} build)`, () => {
    let router: RunningRouter;
    const get = (host: string, headers: Record<string, string> = {}, path = '/') =>
      send({ port: router.port, host, path, headers });

    before(async () => {
      router = await startRouter(build, cluster(build, KEYED_FIELD), {
        HOOKS_MODULE: `${ROOT}/examples/hooks/request-id.ts,${ROOT}/test/policy/throwing-hooks.ts`,
        RATE_LIMITS: '{ plans: { metered: { minute: 3 } } }',
        REDIS_URL: redis.url,
        JWT_JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json`,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        JWT_REQUIRED_NAMESPACES: 'jwt',
        JWT_JWKS_COOLDOWN: '200ms',
      });
    });

    after(async () => {
      await router.stop();
    });

    it('answers 401 without a key and 403 with a wrong one, revealing nothing', async () => {
      const missing = await get('keyed.example.com');
      assert.equal(missing.status, 401);
      assert.equal(missing.headers['content-type'], 'application/problem+json');
      const wrong = await get('keyed.example.com', { 'x-routing-api-key': `${KEY_OLD}x` });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.json().title, 'Credentials refused');
      for (const body of [missing.body, wrong.body]) {
        for (const value of ALL_SECRETS) assert.ok(!body.includes(value));
        assert.ok(!body.includes(hex(KEY_OLD).slice(0, 8)));
      }
    });

    it('accepts every rotated key and hashed entries; strips the key, sends its id', async () => {
      for (const key of [KEY_OLD, KEY_NEW, KEY_HASHED]) {
        const res = await get('keyed.example.com', {
          'X-Routing-Api-Key': key,
          'x-podrouter-key-id': 'spoofed',
        });
        assert.equal(res.status, 200, key);
        const seen = res.json<{ headers: Record<string, string> }>().headers;
        assert.equal(seen['x-routing-api-key'], undefined);
        assert.equal(seen['x-podrouter-key-id'], hex(key).slice(0, 8));
        assert.ok(!JSON.stringify(seen).includes(key));
      }
    });

    it('leaves namespaces without a key Secret open, and runs the example hooks there', async () => {
      const res = await get('open.example.com', { 'x-request-id': 'req-123' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-request-id'], 'req-123');
      assert.equal(
        res.json<{ headers: Record<string, string> }>().headers['x-request-id'],
        'req-123',
      );
      const generated = await get('open.example.com');
      assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    it('lets the example before-proxy hook guard /admin by plan', async () => {
      const denied = await get('keyed.example.com', { 'x-routing-api-key': KEY_NEW }, '/admin/x');
      assert.equal(denied.status, 403);
      assert.equal(denied.json().title, 'Admin plan required');
      assert.ok(denied.headers['x-request-id'], 'request-phase headers reach denials too');
      const allowed = await get(
        'keyed.example.com',
        { 'x-routing-api-key': KEY_ADMIN },
        '/admin/x',
      );
      assert.equal(allowed.status, 200);
      assert.equal(
        allowed.json<{ headers: Record<string, string> }>().headers['x-podrouter-plan'],
        'admin',
      );
    });

    it('fails closed on a malformed Secret, says why in the log, never the value', async () => {
      const res = await get('broken.example.com', { 'x-routing-api-key': BROKEN_VALUE });
      assert.equal(res.status, 503);
      assert.equal(res.json().title, 'Route closed by policy');
      assert.ok(!res.body.includes(BROKEN_VALUE));
      const line = await router.waitForLog(
        (l) => l.code === 'PR_POLICY_API_KEY_SECRET_INVALID' && l.namespace === 'broken',
      );
      assert.match(String(line.reason), /line 2: .*64 hex/);
      const routes = (await router.admin('/routes')).json<{
        policy: { closedNamespaces: Record<string, string> };
      }>();
      assert.match(routes.policy.closedNamespaces.broken ?? '', /line 2: .*64 hex/);
      assert.ok(!JSON.stringify(routes).includes(BROKEN_VALUE));
      const metrics = (await router.admin('/metrics')).body;
      assert.match(metrics, /podrouter_policy_closed_namespaces\{tier="\w+"\} 1/);
      assert.match(metrics, /podrouter_requests_total/);
    });

    it('turns a throwing hook into a 500 problem and a log line, and keeps serving', async () => {
      for (const path of ['/boom', '/boom-async']) {
        const res = await get('open.example.com', {}, path);
        assert.equal(res.status, 500);
        assert.equal(res.json().title, 'Policy hook failed');
        assert.ok(!res.body.includes('hook exploded'));
      }
      await router.waitForLog((l) => l.msg === 'policy hook failed; answered 500');
      assert.equal((await get('open.example.com')).status, 200);
    });

    it('limits a metered key with 429, Retry-After and RateLimit headers', async () => {
      const headers = { 'x-routing-api-key': KEY_METERED };
      for (let i = 0; i < 3; i++) {
        const ok = await get('keyed.example.com', headers);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers['ratelimit-policy'], '"minute";q=3;w=60');
        assert.match(String(ok.headers.ratelimit), new RegExp(`^"minute";r=${2 - i};t=[0-9]+$`));
      }
      const limited = await get('keyed.example.com', headers);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.match(String(limited.headers.ratelimit), /^"minute";r=0;t=[0-9]+$/);
      assert.equal(limited.headers['ratelimit-policy'], '"minute";q=3;w=60');
      // Other keys of the namespace have their own counters (and no plan: no limit).
      assert.equal((await get('keyed.example.com', { 'x-routing-api-key': KEY_OLD })).status, 200);
    });

    it('verifies JWTs: valid, expired, wrong audience; unknown kid until the JWKS rotates', async () => {
      jwks = { keys: [publicJwks.get('kid-a') as JWK] };
      const bearer = async (t: Promise<string>) =>
        get('jwt.example.com', { authorization: `Bearer ${await t}` });
      assert.equal((await get('jwt.example.com')).status, 401);
      const valid = await bearer(token('kid-a', { plan: 'gold' }));
      assert.equal(valid.status, 200);
      const seen = valid.json<{ headers: Record<string, string> }>().headers;
      assert.equal(seen['x-podrouter-subject'], 'user-42');
      assert.equal(seen['x-podrouter-plan'], 'gold');
      const expired = await bearer(
        token('kid-a', { expiresAt: Math.floor(Date.now() / 1000) - 120 }),
      );
      assert.equal(expired.status, 401);
      assert.match(String(expired.headers['www-authenticate']), /invalid_token/);
      assert.equal((await bearer(token('kid-a', { aud: 'someone-else' }))).status, 401);
      assert.equal((await bearer(token('kid-b'))).status, 401);
      jwks = { keys: [publicJwks.get('kid-a') as JWK, publicJwks.get('kid-b') as JWK] };
      await sleep(300);
      assert.equal((await bearer(token('kid-b'))).status, 200);
      // A JWT is also a credential on API-key namespaces.
      assert.equal(
        (
          await send({
            port: router.port,
            host: 'keyed.example.com',
            headers: { authorization: `Bearer ${await token('kid-a')}` },
          })
        ).status,
        200,
      );
    });

    it('applies a changed Secret live', async () => {
      await router.setState(
        cluster(build, `${KEY_NEW}\n${KEY_ROTATED_IN}`).map((item) =>
          (item as { metadata: { namespace: string } }).metadata.namespace === 'broken' &&
          (item as { kind: string }).kind === 'Secret'
            ? secret('broken', 'routing', { [build.apiKeyField]: 'now-fixed-key' })
            : item,
        ),
      );
      assert.equal((await get('keyed.example.com', { 'x-routing-api-key': KEY_OLD })).status, 403);
      assert.equal(
        (await get('keyed.example.com', { 'x-routing-api-key': KEY_ROTATED_IN })).status,
        200,
      );
      assert.equal(
        (await get('broken.example.com', { 'x-routing-api-key': 'now-fixed-key' })).status,
        200,
      );
      await router.waitForLog(
        (l) => l.msg === 'credentials of a namespace are valid again: routes reopened',
      );
    });

    it('never writes a key to logs, metrics, /routes or stderr', async () => {
      const metrics = (await router.admin('/metrics')).body;
      const routes = (await router.admin('/routes')).body;
      const everything = [JSON.stringify(router.logs), router.stderr(), metrics, routes].join('\n');
      for (const value of [...ALL_SECRETS, 'now-fixed-key']) {
        assert.ok(!everything.includes(value), `${value} leaked`);
        assert.ok(
          !everything.includes(Buffer.from(value).toString('base64')),
          `${value} leaked as base64`,
        );
      }
    });
  });
}
