import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Scheduler, WorkQueue } from './work-queue.ts';

function manualScheduler() {
  const timers: { at: number; fn: () => void }[] = [];
  let now = 0;
  const scheduler: Scheduler = {
    after(ms, fn) {
      const timer = { at: now + ms, fn };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
  };
  return {
    scheduler,
    advance(ms: number) {
      now += ms;
      for (const timer of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.fn();
      }
    },
  };
}

test('a key is queued once however often it is added', async () => {
  const queue = new WorkQueue();
  queue.add('a');
  queue.add('b');
  queue.add('a');
  assert.equal(queue.length, 2);
  assert.equal(await queue.get(), 'a');
  assert.equal(await queue.get(), 'b');
  assert.equal(queue.length, 0);
});

test('a key added while processed is processed again afterwards, never twice at once', async () => {
  const queue = new WorkQueue();
  queue.add('a');
  const key = await queue.get();
  queue.add('a');
  assert.equal(queue.length, 0);
  queue.done(key as string);
  assert.equal(queue.length, 1);
  assert.equal(await queue.get(), 'a');
});

test('a waiting worker gets a key as soon as it is added; shutdown releases waiters', async () => {
  const queue = new WorkQueue();
  const waiting = queue.get();
  queue.add('x');
  assert.equal(await waiting, 'x');
  const idle = queue.get();
  queue.shutdown();
  assert.equal(await idle, undefined);
});

test('failures are retried after exponentially growing, capped delays until forgotten', async () => {
  const { scheduler, advance } = manualScheduler();
  const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, scheduler });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => {
      const delay = queue.addRateLimited('k');
      advance(delay);
      return delay;
    }),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(queue.failures('k'), 6);
  queue.forget('k');
  assert.equal(queue.addRateLimited('k'), 100);
  assert.equal(queue.length, 1);
  advance(99);
  assert.equal(queue.length, 1);
});

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

for (const seed of [1, 2, 3]) {
  test(`workers on one queue: never one key twice at once, every key converges, failures back off (seed ${seed})`, async () => {
    const rand = random(seed);
    const { scheduler, advance } = manualScheduler();
    const queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 80, scheduler });
    const keys = Array.from({ length: 20 }, (_, i) => `ns/alias-${i}`);
    /** The version of each key's desired state (bumped by every add), and the version the
     * last successful reconcile of it saw. */
    const version = new Map<string, number>();
    const reconciled = new Map<string, number>();
    const active = new Set<string>();
    const failedInARow = new Map<string, number>();
    const twice: string[] = [];
    let mostAtOnce = 0;
    let retries = 0;
    const worker = async () => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        if (active.has(key)) twice.push(key);
        active.add(key);
        mostAtOnce = Math.max(mostAtOnce, active.size);
        const seen = version.get(key) ?? 0;
        for (let i = Math.floor(rand() * 4); i > 0; i--) await tick();
        const failures = failedInARow.get(key) ?? 0;
        if (failures < 3 && rand() < 0.2) {
          failedInARow.set(key, failures + 1);
          if (queue.addRateLimited(key) === Math.min(80, 10 * 2 ** failures)) retries++;
        } else {
          failedInARow.delete(key);
          queue.forget(key);
          reconciled.set(key, seen);
        }
        active.delete(key);
        queue.done(key);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 600; i++) {
      const key = keys[Math.floor(rand() * keys.length)] as string;
      version.set(key, (version.get(key) ?? 0) + 1);
      queue.add(key);
      if (rand() < 0.5) await tick();
      if (i % 50 === 0) advance(10);
    }
    // Drain: retries come due as the clock moves; workers finish what they hold.
    for (let round = 0; round < 200; round++) {
      advance(10);
      for (let i = 0; i < 10; i++) await tick();
    }
    queue.shutdown();
    await Promise.all(workers);
    assert.deepEqual(twice, [], 'keys handed to two workers at once');
    assert.ok(mostAtOnce > 1, 'the workers ran in parallel');
    assert.ok(mostAtOnce <= 8);
    assert.ok(retries > 0, 'some reconciles failed and were retried after base·2ⁿ');
    for (const [key, latest] of version) {
      assert.equal(reconciled.get(key), latest, `${key} last reconciled before its last change`);
    }
  });
}

test('a key that keeps failing waits ever longer while the other keys go on', async () => {
  const { scheduler, advance } = manualScheduler();
  const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 400, scheduler });
  const handled: string[] = [];
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      handled.push(key);
      if (key === 'bad') queue.addRateLimited(key);
      else queue.forget(key);
      queue.done(key);
    }
  };
  const workers = [worker(), worker()];
  queue.add('bad');
  for (const key of ['a', 'b', 'c']) queue.add(key);
  await tick();
  assert.deepEqual(handled, ['bad', 'a', 'b', 'c']);
  for (const [ms, expected] of [
    [99, 4],
    [1, 5],
    [199, 5],
    [1, 6],
    [400, 7],
    [400, 8],
  ] as const) {
    advance(ms);
    await tick();
    assert.equal(handled.length, expected, `after +${ms} ms`);
  }
  queue.shutdown();
  await Promise.all(workers);
});
