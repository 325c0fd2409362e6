import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HookContext, HookResponse, HookResult } from '@podrouter/core';
import { pipelineCompiler } from './compose.ts';
import type { Step, StepDefinition } from './types.ts';

const route = { host: 'h', path: '/', namespace: 'ns', claimedAt: 0 } as never;
const context = (): HookContext =>
  ({
    req: {},
    route,
    upstreamHeaders: new Map(),
    stripHeaders: new Set(),
    clientAddress: '127.0.0.1',
    responseHeaders: new Map(),
  }) as unknown as HookContext;
const DENY: HookResponse = { status: 403, title: 'no' };

const def = (name: string, order: number, step: Step | null): StepDefinition => ({
  name,
  order,
  compile: () => step,
});

describe('pipelineCompiler', () => {
  it('gives null (the fast path) when no step applies to a route', () => {
    assert.equal(pipelineCompiler([def('a', 1, null)])(route), null);
    assert.equal(pipelineCompiler([])(route), null);
  });

  it('runs steps in explicit numeric order, whatever the registration order', () => {
    const seen: string[] = [];
    const mark =
      (name: string): Step =>
      () => {
        seen.push(name);
        return 'continue';
      };
    const pipeline = pipelineCompiler([
      def('rate', 300, mark('rate')),
      def('hook', 150, mark('hook')),
      def('auth', 200, mark('auth')),
    ])(route);
    assert.equal(pipeline?.run(context()), undefined);
    assert.deepEqual(seen, ['hook', 'auth', 'rate']);
  });

  it('stays synchronous until a step returns a promise, and stops at the first answer', async () => {
    let after = 0;
    const sync = pipelineCompiler([
      def('deny', 1, () => DENY),
      def('after', 2, () => {
        after++;
        return 'continue';
      }),
    ])(route);
    assert.equal(sync?.run(context()), DENY);
    const asyncPipeline = pipelineCompiler([
      def('wait', 1, async (): Promise<HookResult> => 'continue'),
      def('deny', 2, () => DENY),
      def('after', 3, () => {
        after++;
        return 'continue';
      }),
    ])(route);
    const result = asyncPipeline?.run(context());
    assert.ok(result instanceof Promise);
    assert.equal(await result, DENY);
    assert.equal(after, 0);
  });

  it('shares the consumer learned by one step with the later ones', () => {
    let plan: string | undefined;
    const pipeline = pipelineCompiler([
      def('auth', 1, (c) => {
        c.consumer = { kind: 'api-key', id: 'x', plan: 'gold' };
        return 'continue';
      }),
      def('read', 2, (c) => {
        plan = c.consumer?.plan;
        return 'continue';
      }),
    ])(route);
    pipeline?.run(context());
    assert.equal(plan, 'gold');
  });
});
