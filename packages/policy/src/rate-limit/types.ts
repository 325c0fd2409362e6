import type { ResolvedLimits } from './config.ts';

export interface WindowState {
  readonly name: 'second' | 'minute' | 'day';
  readonly remaining: number;
  readonly resetMs: number;
}

export interface Decision {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
  readonly windows: readonly WindowState[];
}

/** `unavailable`: Redis did not answer in time or is down; the caller fails open or closed. */
export type Outcome = Decision | 'unavailable';

export interface Limiter {
  /** `counterKey` names one consumer's counters (tier, namespace and consumer id). */
  take(counterKey: string, limits: ResolvedLimits): Outcome | Promise<Outcome>;
  close(): Promise<void>;
}
