import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClaimProblem } from '../alias/types.ts';
import { ProblemReporter } from './recorder.ts';

const problem = (name: string, reason = 'r'): ClaimProblem => ({
  pod: { namespace: 'ns', name, uid: `uid-${name}` },
  host: 'a.b',
  kind: 'refused',
  reason,
});

test('each problem is reported once while it lasts, again when it comes back', async () => {
  const sent: string[] = [];
  const reporter = new ProblemReporter({ emit: async (p) => void sent.push(p.pod.name) });
  await reporter.report('s', [problem('a'), problem('b')], () => assert.fail());
  await reporter.report('s', [problem('a'), problem('b')], () => assert.fail());
  await reporter.report('s', [problem('a')], () => assert.fail());
  await reporter.report('s', [problem('a'), problem('b')], () => assert.fail());
  assert.deepEqual(sent, ['a', 'b', 'b']);
});

test('a failed Event is tried again on the next pass', async () => {
  let fail = true;
  const sent: string[] = [];
  const errors: unknown[] = [];
  const reporter = new ProblemReporter({
    emit: async (p) => {
      if (fail) throw new Error('down');
      sent.push(p.pod.name);
    },
  });
  await reporter.report('s', [problem('a')], (e) => errors.push(e));
  fail = false;
  await reporter.report('s', [problem('a')], (e) => errors.push(e));
  assert.equal(errors.length, 1);
  assert.deepEqual(sent, ['a']);
});

test('scopes are independent: a report clears only its own scope', async () => {
  const sent: string[] = [];
  const reporter = new ProblemReporter({ emit: async (p) => void sent.push(p.pod.name) });
  await reporter.report('alias:a', [problem('a')], () => assert.fail());
  await reporter.report('alias:b', [], () => assert.fail());
  await reporter.report('alias:a', [problem('a')], () => assert.fail());
  assert.deepEqual(sent, ['a']);
});
