import type { IncomingMessage } from 'node:http';
import type { Endpoint, Route } from '../routes/types.ts';
import type { FailureKind } from './engine.ts';

/** What happened to one request, for metrics, logs and traces. */
export interface ExchangeRecord {
  readonly req: IncomingMessage;
  readonly route: Route | undefined;
  readonly endpoint: Endpoint | undefined;
  /** The status the client got; 0 when the connection was cut instead. */
  readonly status: number;
  readonly startedAt: number;
  /** Time from the first upstream attempt to the end of the exchange, ms (0 if none). */
  readonly upstreamMs: number;
  readonly retries: number;
  readonly failure: FailureKind | undefined;
  readonly upgrade: boolean;
}

export type ExchangeObserver = (record: ExchangeRecord) => void;
