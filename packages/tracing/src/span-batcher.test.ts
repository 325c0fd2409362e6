import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';
import { type Batch, type BatchSettings, SpanBatcher } from './span-batcher.ts';
import { OtlpKind, type SpanData } from './span-data.ts';

/** Batches that just count their spans, so each test sees what was exported when. */
function harness(settings: Partial<BatchSettings>, send?: (spans: number) => Promise<void>) {
  const exported: number[] = [];
  const warnings: string[] = [];
  const batcher = new SpanBatcher({
    settings: {
      scheduledDelayMillis: 60_000,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
      exportTimeoutMillis: 30_000,
      ...settings,
    },
    batches: (): Batch => {
      let count = 0;
      return {
        get count() {
          return count;
        },
        add() {
          count++;
        },
        body: () => String(count),
      };
    },
    send: (_body, spans) => {
      exported.push(spans);
      return send ? send(spans) : Promise.resolve();
    },
    warn: (message) => warnings.push(message),
  });
  return { batcher, exported, warnings };
}

const span: SpanData = {
  traceId: '1'.repeat(32),
  spanId: '2'.repeat(16),
  parentSpanId: '',
  traceState: '',
  name: 'GET',
  kind: OtlpKind.SERVER,
  start: 0,
  end: 0,
  attributes: [],
  blocks: [],
  events: [],
  statusCode: 0,
  statusMessage: '',
  flags: 0x101,
};

describe('SpanBatcher', () => {
  it('exports a full batch on the next turn of the event loop, never inside add()', async () => {
    const { batcher, exported } = harness({ maxExportBatchSize: 3 });
    for (let i = 0; i < 3; i++) batcher.add(span);
    assert.deepEqual(exported, []);
    await tick();
    assert.deepEqual(exported, [3]);
    assert.equal(batcher.queued, 0);
  });

  it('exports a partial batch after the schedule delay', async () => {
    const { batcher, exported } = harness({ scheduledDelayMillis: 20 });
    batcher.add(span);
    batcher.add(span);
    await tick();
    assert.deepEqual(exported, []);
    await sleep(60);
    assert.deepEqual(exported, [2]);
  });

  it('holds at most maxQueueSize spans while an export is out, drops and counts the rest, warns once', async () => {
    let release: () => void = () => undefined;
    const { batcher, exported, warnings } = harness(
      { maxExportBatchSize: 2, maxQueueSize: 4 },
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    for (let i = 0; i < 2; i++) batcher.add(span);
    await tick(); // the first batch is out, unanswered
    for (let i = 0; i < 6; i++) batcher.add(span);
    assert.equal(batcher.queued, 4);
    assert.equal(batcher.dropped, 2);
    assert.deepEqual(exported, [2], 'one export at a time');
    release();
    await sleep(5);
    assert.deepEqual(exported, [2, 2]);
    release();
    await sleep(5);
    assert.deepEqual(exported, [2, 2, 2]);
    batcher.add(span);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /dropped 2 spans/);
  });

  it('reports a failed or timed-out export and goes on with the next', async () => {
    let calls = 0;
    const { batcher, exported, warnings } = harness(
      { maxExportBatchSize: 1, exportTimeoutMillis: 20 },
      () => {
        calls++;
        return calls === 1 ? Promise.reject(new Error('collector down')) : new Promise(() => {});
      },
    );
    batcher.add(span);
    batcher.add(span);
    await sleep(80);
    assert.deepEqual(exported, [1, 1]);
    assert.equal(warnings.length, 2);
    assert.match(warnings.join('\n'), /span export failed/);
  });

  it('exports everything it holds on shutdown, in batches, and takes no more spans', async () => {
    const { batcher, exported } = harness({ maxExportBatchSize: 2 });
    for (let i = 0; i < 5; i++) batcher.add(span);
    await batcher.shutdown();
    assert.deepEqual(
      exported.reduce((sum, n) => sum + n, 0),
      5,
    );
    batcher.add(span);
    await tick();
    assert.equal(batcher.queued, 0);
    assert.equal(
      exported.reduce((sum, n) => sum + n, 0),
      5,
    );
  });
});
