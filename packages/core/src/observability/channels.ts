import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HookResponse } from '../pipeline/types.ts';
import type { FailureKind } from '../proxy/engine.ts';
import type { ExchangeRecord } from '../proxy/exchange-record.ts';
import type { Endpoint, Route } from '../routes/types.ts';

/**
 * What the proxy tells the outside world while it works, as `node:diagnostics_channel`
 * events (the way undici and Node's own http client do). Tracing and access logs subscribe;
 * the core depends on no telemetry library. Every publish is guarded by `hasSubscribers`,
 * so with nobody listening no message object is even built.
 *
 * Messages of one exchange share the same `req`: subscribers key their state on it.
 */

/** A request (or an upgrade handshake) arrived, before routing. */
export interface RequestStartMessage {
  readonly req: IncomingMessage;
  /** Undefined for upgrades, which answer on the raw socket. */
  readonly res: ServerResponse | undefined;
  readonly upgrade: boolean;
  readonly socket: Duplex;
}

/** The policy pipeline decided: `answer` undefined means the request goes on upstream. */
export interface PolicyDecisionMessage {
  readonly req: IncomingMessage;
  readonly route: Route;
  readonly answer: HookResponse | undefined;
}

/**
 * One upstream attempt is about to start (a retry is a second attempt). `headers` is the
 * flat `[name, value, …]` list that will be sent: a subscriber may edit it in place (to
 * replace `traceparent`, for example) before the request leaves.
 */
export interface UpstreamRequestMessage {
  readonly req: IncomingMessage;
  readonly route: Route;
  readonly endpoint: Endpoint;
  readonly headers: string[];
  /** 0 for the first attempt, 1 for the retry. */
  readonly retries: number;
  readonly upgrade: boolean;
}

/** That attempt is over: the response ended (or, for upgrades, the tunnel opened) or it failed. */
export interface UpstreamResponseMessage {
  readonly req: IncomingMessage;
  readonly endpoint: Endpoint;
  /** The upstream's status; 0 when none arrived. */
  readonly status: number;
  readonly retries: number;
  readonly failure: FailureKind | undefined;
  readonly upgrade: boolean;
}

export const channels = {
  requestStart: channel('podrouter:request:start'),
  policyDecision: channel('podrouter:policy:decision'),
  upstreamRequest: channel('podrouter:upstream:request'),
  upstreamResponse: channel('podrouter:upstream:response'),
  /** The exchange is over; the message is the `ExchangeRecord` observers get. */
  requestEnd: channel('podrouter:request:end'),
} as const;

export type ChannelMessages = {
  requestStart: RequestStartMessage;
  policyDecision: PolicyDecisionMessage;
  upstreamRequest: UpstreamRequestMessage;
  upstreamResponse: UpstreamResponseMessage;
  requestEnd: ExchangeRecord;
};
