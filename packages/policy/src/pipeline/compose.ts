import type { HookContext, HookResponse, Pipeline, PipelineCompiler } from '@podrouter/core';
import type { PolicyContext, Step, StepDefinition } from './types.ts';

/**
 * Steps → one route's pipeline. Sync steps run without allocating a promise, so a route whose
 * steps all answer at once (API key check, local-first limit) pays no microtask per request.
 */
export function composeSteps(steps: readonly Step[]): Pipeline | null {
  if (steps.length === 0) return null;
  return {
    run(context: HookContext) {
      const policyContext: PolicyContext = {
        req: context.req,
        route: context.route,
        clientAddress: context.clientAddress,
        upstreamHeaders: context.upstreamHeaders,
        stripHeaders: context.stripHeaders,
        responseHeaders: context.responseHeaders,
        consumer: undefined,
      };
      return runFrom(steps, 0, policyContext);
    },
  };
}

function runFrom(
  steps: readonly Step[],
  start: number,
  context: PolicyContext,
): HookResponse | undefined | Promise<HookResponse | undefined> {
  for (let i = start; i < steps.length; i++) {
    const result = (steps[i] as Step)(context);
    if (result instanceof Promise) {
      return result.then((answer) =>
        answer === 'continue' ? runFrom(steps, i + 1, context) : answer,
      );
    }
    if (result !== 'continue') return result;
  }
  return undefined;
}

/** Sorts definitions by their explicit order (stable for equal orders) and compiles per route. */
export function pipelineCompiler(definitions: readonly StepDefinition[]): PipelineCompiler {
  const ordered = [...definitions].sort((a, b) => a.order - b.order);
  return (route) =>
    composeSteps(
      ordered.map((definition) => definition.compile(route)).filter((step) => step !== null),
    );
}
