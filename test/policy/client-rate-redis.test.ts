import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILDS, pod, type RunningRouter, startRouter } from '../support/harness.ts';
import {
  type RecordingBackend,
  rawClient,
  startRecordingBackend,
} from '../support/recording-backend.ts';
import { type RedisServer, startRedis } from '../support/redis.ts';

/**
 * CLIENT_RATE_LIMIT shared through a real Redis: two router processes behind one trusted
 * proxy give a client its burst once between them, not once each; with Redis gone, each
 * falls back to its own in-memory count (fail open to the per-replica limit).
 */

const build = BUILDS[0] as (typeof BUILDS)[number];
const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

let backend: RecordingBackend;
let redis: RedisServer;
before(async () => {
  backend = await startRecordingBackend('127.0.25.1');
  redis = await startRedis();
});
after(async () => {
  await Promise.all([backend.close(), redis.close()]);
});

describe('per-client rate shared through Redis', () => {
  let routers: RunningRouter[] = [];
  before(async () => {
    const items = [
      pod(build, {
        name: 'app',
        ip: backend.host,
        ports: [backend.port],
        hosts: 'guarded.example.com',
        paths: `${backend.port}:/`,
      }),
    ];
    routers = await Promise.all(
      [0, 1].map(() =>
        startRouter(build, items, {
          REDIS_URL: redis.url,
          REDIS_TIMEOUT: '5s',
          // One request a minute after a burst of 4: nothing refills during the test.
          CLIENT_RATE_LIMIT: '1/m',
          CLIENT_RATE_BURST: '4',
          TRUSTED_PROXIES: '127.0.0.1/32',
        }),
      ),
    );
    await Promise.all(
      routers.map((router) => router.waitForLog((line) => line.msg === 'Redis connection ready')),
    );
  });
  after(() => Promise.all(routers.map((router) => router.stop())));

  const get = (router: RunningRouter, client: string) =>
    rawClient(router.port, [
      `GET / HTTP/1.1\r\nHost: guarded.example.com\r\nX-Forwarded-For: ${client}\r\nConnection: close\r\n\r\n`,
    ]).then((answer) => statusOf(answer.text));

  /** Requests alternating between the two routers; the statuses in order. */
  async function alternate(client: string, count: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++)
      statuses.push(await get(routers[i % 2] as RunningRouter, client));
    return statuses;
  }

  it('holds one burst across both routers, per client address', async () => {
    redis.cli('FLUSHALL');
    backend.reset();
    const statuses = await alternate('198.51.100.7', 10);
    // In memory each router would admit 5 (burst 4 + 1): 10 in all.
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    assert.equal(backend.requests.length, 5);
    assert.deepEqual(await alternate('198.51.100.8', 1), [200], 'another client has its own');
    const metrics = (await (routers[0] as RunningRouter).admin('/metrics')).body;
    assert.match(
      metrics,
      /podrouter_policy_client_rate_total\{tier="public",result="limited"\} [1-9]/,
    );
    assert.ok(
      redis.cli('KEYS', 'podrouter:{public/client/*').includes('198.51.100.7'),
      'counted under the client address, apart from API consumers',
    );
  });

  it('falls back to each router’s own count while Redis is down, and shares again after', async () => {
    await redis.stop();
    try {
      const statuses = await alternate('198.51.100.9', 12);
      // Each router admits its own burst of 5: 10 of 12.
      assert.equal(statuses.filter((status) => status === 200).length, 10, statuses.join());
      await Promise.all(
        routers.map((router) =>
          router.waitForLog((line) => /rate limiter unavailable/.test(String(line.msg))),
        ),
      );
      const metrics = (await (routers[0] as RunningRouter).admin('/metrics')).body;
      assert.match(
        metrics,
        /podrouter_policy_client_rate_total\{tier="public",result="fallback"\} [1-9]/,
      );
    } finally {
      await redis.start();
    }
    await Promise.all(
      routers.map((router) =>
        router.waitForLog((line) => /rate limiter recovered/.test(String(line.msg))),
      ),
    );
    assert.deepEqual(await alternate('198.51.100.10', 7), [200, 200, 200, 200, 200, 429, 429]);
  });
});
