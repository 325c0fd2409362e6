import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, type RunningRouter, secret, send, startRouter } from '../support/harness.ts';
import { type RedisServer, startRedis } from '../support/redis.ts';

/**
 * Rate limits shared through a real Redis: three router processes share one limit within the
 * documented error, and Redis going away and coming back is handled (fail open or closed,
 * automatic recovery).
 */

const build = BUILDS[0] as (typeof BUILDS)[number];
const KEY = 'shared-limit-key-3c4d5e';
let app: EchoApp;
let redis: RedisServer;

before(async () => {
  app = await startEchoApp({ host: '127.0.13.1', port: 0, name: 'app' });
  redis = await startRedis();
});

after(async () => {
  await Promise.all([app.close(), redis.close()]);
});

const items = [
  pod(build, {
    name: 'app',
    namespace: 'shop',
    ip: '127.0.13.1',
    ports: [0],
    hosts: 'shop.example.com',
    paths: '0:/',
  }),
  secret('shop', 'routing', { [build.apiKeyField]: KEY }),
];

const withPort = () =>
  items.map((item) =>
    (item as { kind: string }).kind === 'Pod'
      ? pod(build, {
          name: 'app',
          namespace: 'shop',
          ip: '127.0.13.1',
          ports: [app.port],
          hosts: 'shop.example.com',
          paths: `${app.port}:/`,
        })
      : item,
  );

const call = (router: RunningRouter) =>
  send({ port: router.port, host: 'shop.example.com', headers: { 'x-routing-api-key': KEY } });

async function shareOneLimit(mode: 'remote' | 'local-first') {
  const routers = await Promise.all(
    [0, 1, 2].map(() =>
      startRouter(build, withPort(), {
        REDIS_URL: redis.url,
        RATE_LIMIT_MODE: mode,
        RATE_LIMIT_LEASE_TTL: '30s',
        // What is measured is the limiter, not fail-open on a loaded machine.
        REDIS_TIMEOUT: '5s',
        // A namespace override merged over the plan: 30 a minute, 100000 a day.
        RATE_LIMITS:
          '{ plans: { default: { day: 100000 } }, namespaces: { shop: { default: { minute: 30 } } } }',
      }),
    ),
  );
  try {
    await Promise.all(
      routers.map((router) => router.waitForLog((line) => line.msg === 'Redis connection ready')),
    );
    redis.cli('FLUSHALL');
    const started = Date.now();
    let allowed = 0;
    let limited = 0;
    for (let round = 0; round < 30; round++) {
      const answers = await Promise.all(routers.map(call));
      for (const answer of answers) {
        if (answer.status === 200) allowed++;
        else if (answer.status === 429) limited++;
        else assert.fail(`unexpected status ${answer.status}`);
      }
    }
    // 30 a minute: GCRA gives one back every 2 s, so a slow run earns a few more.
    const refilled = Math.floor((Date.now() - started) / 2000);
    return { allowed, limited, refilled };
  } finally {
    await Promise.all(routers.map((router) => router.stop()));
  }
}

describe('rate limits shared through Redis', () => {
  it('remote: three routers admit exactly the limit together', async () => {
    const { allowed, limited, refilled } = await shareOneLimit('remote');
    assert.ok(
      allowed >= 30 && allowed <= 30 + refilled,
      `allowed ${allowed}, refilled ${refilled}`,
    );
    assert.equal(allowed + limited, 90);
  });

  it('local-first: three routers stay within limit ± routers × (lease − 1)', async () => {
    // lease = min(RATE_LIMIT_LEASE, 10% of 30) = 3 → documented error ±3 × 2 = ±6.
    const { allowed, refilled } = await shareOneLimit('local-first');
    assert.ok(
      allowed >= 24 && allowed <= 36 + refilled,
      `allowed ${allowed}, refilled ${refilled}`,
    );
  });

  for (const failureMode of ['open', 'closed'] as const) {
    it(`fails ${failureMode} while Redis is down and recovers by itself`, async () => {
      const router = await startRouter(build, withPort(), {
        REDIS_URL: redis.url,
        REDIS_TIMEOUT: '100ms',
        RATE_LIMIT_FAILURE_MODE: failureMode,
        RATE_LIMITS: '{ plans: { default: { second: 1000 } } }',
      });
      try {
        assert.equal((await call(router)).status, 200);
        await redis.stop();
        const during = await call(router);
        assert.equal(during.status, failureMode === 'open' ? 200 : 503);
        if (failureMode === 'closed') {
          assert.equal(during.json().title, 'Rate limiter unavailable');
          assert.equal(during.headers['retry-after'], '1');
        }
        const down = await router.waitForLog(
          (line) => line.code === 'PR_POLICY_RATE_LIMITER_UNAVAILABLE',
        );
        assert.equal(down.level, 'error');
        // Served (or refused) at once while Redis is away: no request waits for it.
        const started = performance.now();
        for (let i = 0; i < 5; i++) await call(router);
        assert.ok(performance.now() - started < 2500);
        await redis.start();
        const deadline = Date.now() + 10_000;
        let status = 0;
        while (Date.now() < deadline) {
          const res = await call(router);
          status = res.status;
          if (status === 200 && res.headers.ratelimit !== undefined) break;
          await sleep(100);
        }
        assert.equal(status, 200);
        await router.waitForLog(
          (line) => line.msg === 'rate limiter recovered: Redis answers again',
        );
      } finally {
        await router.stop();
      }
    });
  }
});
