import type { IncomingMessage } from 'node:http';
import type { Route } from '../routes/types.ts';

/**
 * The per-hop policy pipeline. Each route's pipeline is compiled once when the route table
 * is built (or is `null` when no policy applies), so nothing is looked up per request.
 * A hook answers `'continue'` or a response; it never throws for flow control.
 */

export interface HookResponse {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type HookResult = 'continue' | HookResponse;

export interface HookContext {
  readonly req: IncomingMessage;
  readonly route: Route;
  /** The client's address: the TCP peer, or what trusted proxies say (TRUSTED_PROXIES). */
  readonly clientAddress: string;
  /** Headers to set on the upstream request (added after hop-by-hop filtering). */
  readonly upstreamHeaders: Map<string, string>;
  /** Lower-case names of inbound headers that must not reach the upstream. */
  readonly stripHeaders: Set<string>;
  /** Headers to add to the response the client gets (e.g. RateLimit), whatever its status. */
  readonly responseHeaders: Map<string, string>;
}

export type Hook = (context: HookContext) => HookResult | Promise<HookResult>;

export interface Pipeline {
  /** Runs before the request is proxied; `undefined` means proxy it. */
  run(context: HookContext): Promise<HookResponse | undefined> | HookResponse | undefined;
}

/** Builds the pipeline of one route from the cluster state, once per table build. */
export type PipelineCompiler = (route: Omit<Route, 'pipeline'>) => Pipeline | null;
