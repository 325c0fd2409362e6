import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Sends, SendWatch, sendStalled } from './send-timeout.ts';

describe('sendStalled', () => {
  it('counts only time with bytes waiting and none taken', () => {
    const sends = { bytesWritten: 100, writableLength: 40 };
    const progress = { sentBytes: 0, sentAt: 0 };
    assert.equal(sendStalled(sends, progress, 1000, 500), false, 'first look: progress');
    assert.equal(sendStalled(sends, progress, 1400, 500), false);
    assert.equal(sendStalled(sends, progress, 1600, 500), true);
    // More handed and as much still waiting: some was taken, the clock restarts.
    const more = { bytesWritten: 150, writableLength: 60 };
    assert.equal(sendStalled(more, progress, 1700, 500), false);
    assert.equal(sendStalled({ bytesWritten: 150, writableLength: 0 }, progress, 9000, 500), false);
  });
});

describe('SendWatch', () => {
  it('hands a stalled send to onStall once, leaves a moving one, and stops its timer when empty', async () => {
    const stalled: string[] = [];
    const watch = new SendWatch<string>(30, (item) => stalled.push(item));
    const stuck: Sends = { bytesWritten: 10, writableLength: 10 };
    let taken = 0;
    const moving: Sends = {
      get bytesWritten() {
        taken += 5;
        return taken + 10;
      },
      writableLength: 10,
    };
    watch.add('stuck', stuck);
    watch.add('moving', moving);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(stalled, ['stuck']);
    assert.equal(watch.size, 1);
    watch.delete('moving');
    assert.equal(watch.size, 0);
    // Off: nothing is watched.
    const off = new SendWatch<string>(0, (item) => stalled.push(item));
    off.add('x', stuck);
    assert.equal(off.size, 0);
  });
});
