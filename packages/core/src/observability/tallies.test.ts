import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HistogramTally, Tallies } from './tallies.ts';

function counterWithTallies() {
  const registry = new Registry();
  const tallies = new Tallies();
  const counter = new Counter({
    name: 'test_total',
    help: 'test',
    labelNames: ['status'],
    registers: [registry],
    collect: () => tallies.flush(),
  });
  const value = async (status: string) =>
    (await registry.getMetricsAsJSON())[0]?.values.find((v) => v.labels.status === status)?.value;
  return { registry, tallies, counter, value };
}

test('a tally reaches its counter when the registry is collected, once', async () => {
  const { tallies, counter, value } = counterWithTallies();
  const ok = tallies.of(() => counter.labels('200'));
  const bad = tallies.of(() => counter.labels('502'));
  ok.count += 3;
  bad.count++;
  assert.equal(await value('200'), 3);
  assert.equal(await value('502'), 1);
  ok.count++;
  assert.equal(await value('200'), 4);
  assert.equal(await value('502'), 1);
});

test('clear() keeps what was counted before it', async () => {
  const { tallies, counter, value, registry } = counterWithTallies();
  const ok = tallies.of(() => counter.labels('200'));
  ok.count += 2;
  tallies.clear();
  ok.count += 5;
  assert.equal(await value('200'), 2);
  assert.match(await registry.metrics(), /test_total\{status="200"\} 2/);
});

const BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The same histogram twice, in two registries: observed by prom-client, and through a tally. */
function twoHistograms() {
  const plainRegistry = new Registry();
  const plain = new Histogram({
    name: 'test_seconds',
    help: 'test',
    labelNames: ['tier'],
    buckets: BUCKETS,
    registers: [plainRegistry],
  });
  const talliedRegistry = new Registry();
  const tally = new HistogramTally(BUCKETS);
  const tallied: Histogram<'tier'> = new Histogram({
    name: 'test_seconds',
    help: 'test',
    labelNames: ['tier'],
    buckets: BUCKETS,
    registers: [talliedRegistry],
    collect: () => tally.flushInto(tallied, { tier: 'public' }),
  });
  const observe = (value: number) => {
    plain.labels('public').observe(value);
    tally.observe(value);
  };
  return { plainRegistry, talliedRegistry, observe };
}

test('a tallied histogram prints what prom-client prints for the same observations', async () => {
  const { plainRegistry, talliedRegistry, observe } = twoHistograms();
  // Nothing observed: no series at all, as with prom-client.
  assert.equal(await talliedRegistry.metrics(), await plainRegistry.metrics());
  // Exactly on every bound, between bounds, below the first, above the last, zero.
  const values = [0, 0.0001, ...BUCKETS, ...BUCKETS.map((b) => b * 1.5), 31, 1000];
  let seed = 7;
  for (let i = 0; i < 500; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push((seed / 2 ** 31) * 3);
  }
  for (const value of values) observe(value);
  const printed = await talliedRegistry.metrics();
  assert.equal(printed, await plainRegistry.metrics());
  assert.match(printed, new RegExp(`test_seconds_count\\{tier="public"\\} ${values.length}`));
  assert.deepEqual(
    await talliedRegistry.getMetricsAsJSON(),
    await plainRegistry.getMetricsAsJSON(),
  );
});

test('a tallied histogram adds up across scrapes', async () => {
  const { plainRegistry, talliedRegistry, observe } = twoHistograms();
  const buckets = async (registry: Registry) =>
    (await registry.getMetricsAsJSON())[0]?.values.map((v) =>
      (v as { metricName?: string }).metricName?.endsWith('_sum')
        ? Math.round(v.value * 1e9)
        : v.value,
    );
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 10 + round; i++) observe(0.0007 * (i + 1) * (round + 1));
    assert.deepEqual(await buckets(talliedRegistry), await buckets(plainRegistry));
  }
});
