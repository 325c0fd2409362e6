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
