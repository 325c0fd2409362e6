import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { Tallies } from './tallies.ts';

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
