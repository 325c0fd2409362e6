import type { HookResponse, HookResult, Logger } from '@podrouter/core';
import type { Consumer, PolicyContext, RouteInfo } from '../pipeline/types.ts';

/**
 * The API for custom hook authors. A hooks module (HOOKS_MODULE) default-exports either a
 * list of hooks or a function that receives a `HooksSetup` and returns one:
 *
 *   import { defineHooks } from '@podrouter/policy/hook-api';
 *   export default defineHooks(({ logger }) => [{ name: 'x', phase: 'request', run: () => 'continue' }]);
 *
 * A hook answers `'continue'` or a response; it never throws for flow control. A hook that
 * throws or rejects fails that one request with a 500 problem and a log line naming it.
 */

export type { Consumer, HookResponse, HookResult, PolicyContext, RouteInfo };

export type HookPhase = 'request' | 'before-proxy';

export interface CustomHook {
  /** Names the hook in logs. */
  readonly name: string;
  /** `request`: before credentials are checked; `before-proxy`: after auth and limits, with `consumer` set. */
  readonly phase: HookPhase;
  /** Position inside the phase, 0-99 (default 50); lower runs first. */
  readonly order?: number;
  /** Called once per route when the table is built; `false` keeps the hook off that route. */
  appliesTo?(route: RouteInfo): boolean;
  run(context: PolicyContext): HookResult | Promise<HookResult>;
}

export interface HooksSetup {
  readonly tier: 'public' | 'private';
  readonly logger: Logger;
}

export type HooksExport =
  | readonly CustomHook[]
  | ((setup: HooksSetup) => readonly CustomHook[] | Promise<readonly CustomHook[]>);

/** Identity, for type checking a hooks module's default export. */
export function defineHooks<T extends HooksExport>(hooks: T): T {
  return hooks;
}
