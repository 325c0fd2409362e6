import type { HookContext, HookResult, Route } from '@podrouter/core';

/** Who is calling, once a credential was accepted (or `anonymous` on an open route). */
export interface Consumer {
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  /** Stable and non-secret: counters in Redis and the upstream headers use it. */
  readonly id: string;
  /** The plan (rate-limit tier) named by the key entry or the JWT claim. */
  readonly plan: string | undefined;
  /** JWT `sub`, when the credential was a token. */
  readonly subject?: string;
}

/** The core's hook context plus what earlier policy steps learned about the request. */
export interface PolicyContext extends HookContext {
  consumer: Consumer | undefined;
}

export type Step = (context: PolicyContext) => HookResult | Promise<HookResult>;

export type RouteInfo = Omit<Route, 'pipeline' | 'balancer'>;

/**
 * The phases, in the order a request meets them. Built-in and custom steps register with an
 * explicit number: the phase's base plus an offset (0-99) inside it.
 */
export const PHASES = {
  request: 100,
  authenticate: 200,
  'rate-limit': 300,
  'before-proxy': 400,
} as const;

export type Phase = keyof typeof PHASES;

/** One entry of the pipeline, compiled per route (`null` = nothing to do on that route). */
export interface StepDefinition {
  readonly name: string;
  readonly order: number;
  compile(route: RouteInfo): Step | null;
}
