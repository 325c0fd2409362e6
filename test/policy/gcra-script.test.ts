import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  limitsForNamespace,
  parseRateLimits,
} from '../../packages/policy/src/rate-limit/config.ts';
import { connectRedis, takeFromRedis } from '../../packages/policy/src/rate-limit/redis-client.ts';
import { type RedisServer, startRedis } from '../support/redis.ts';

/** The GCRA Lua script against a real Redis: grants, partial leases, the daily quota. */

let redis: RedisServer;
let client: Redis;

before(async () => {
  redis = await startRedis();
  client = connectRedis({
    url: redis.url,
    sentinels: [],
    sentinelMaster: 'mymaster',
    clusterNodes: [],
    password: '',
    timeoutMs: 1000,
  }) as Redis;
  await new Promise<void>((done) => client.once('ready', () => done()));
});

after(async () => {
  client.disconnect();
  await redis.close();
});

const limits = (yaml: string) => {
  const resolved = limitsForNamespace(parseRateLimits(yaml), 'ns').get('default');
  assert.ok(resolved);
  return resolved;
};

describe('GCRA script', () => {
  it('grants one at a time up to the limit, then denies with a retry time', async () => {
    const perMinute = limits('plans: { default: { minute: 3 } }');
    const granted: number[] = [];
    for (let i = 0; i < 4; i++)
      granted.push((await takeFromRedis(client, 'a', perMinute, 1)).granted);
    assert.deepEqual(granted, [1, 1, 1, 0]);
    const denied = await takeFromRedis(client, 'a', perMinute, 1);
    assert.equal(denied.decision.allowed, false);
    assert.ok(denied.decision.retryAfterMs > 15_000 && denied.decision.retryAfterMs <= 20_000);
    assert.deepEqual(
      denied.decision.windows.map((w) => [w.name, w.remaining]),
      [['minute', 0]],
    );
  });

  it('grants part of a lease when less is left, and counts it in every window', async () => {
    const both = limits('plans: { default: { second: 100, minute: 7 } }');
    const started = Date.now();
    assert.equal((await takeFromRedis(client, 'b', both, 5)).granted, 5);
    const second = await takeFromRedis(client, 'b', both, 5);
    const elapsedMs = Date.now() - started;
    assert.equal(second.granted, 2);
    const [perSecond, perMinute] = second.decision.windows;
    assert.equal(perSecond?.name, 'second');
    // 7 taken from 100; GCRA gives one back every 10 ms, so a slow machine may see a few.
    const refilled = Math.ceil(elapsedMs / 10);
    assert.ok(
      (perSecond?.remaining ?? -1) >= 93 &&
        (perSecond?.remaining ?? 101) <= Math.min(100, 93 + refilled),
      `second window: ${perSecond?.remaining} remaining after ${elapsedMs} ms`,
    );
    assert.deepEqual([perMinute?.name, perMinute?.remaining], ['minute', 0]);
  });

  it('enforces the daily quota until 00:00 UTC, in one slot per consumer', async () => {
    const daily = limits('plans: { default: { day: 2 } }');
    assert.equal((await takeFromRedis(client, 'c', daily, 5)).granted, 2);
    const denied = await takeFromRedis(client, 'c', daily, 1);
    assert.equal(denied.granted, 0);
    const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
    assert.ok(Math.abs(denied.decision.retryAfterMs - untilMidnight) < 5_000);
    const keys = redis.cli('KEYS', 'podrouter:*').split('\n').sort();
    assert.ok(
      keys.every((key) => /^podrouter:\{[a-c]\}:(second|minute|day)$/.test(key)),
      keys.join(),
    );
  });
});
