import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { PodReport } from '../routes/types.ts';
import type { StatePayload } from './state-delta.ts';

/**
 * What the primary and its workers say to each other over the cluster IPC channel (Node's
 * `advanced` serialization: Maps, Sets and Buffers of a `ClusterState` arrive as they left).
 */

export type ToWorker =
  /** A new cluster state and the table version it becomes; `report` asks for the Pod reports. */
  | {
      readonly type: 'state';
      readonly version: number;
      readonly payload: StatePayload;
      readonly report: boolean;
      /** The ports to listen on (the primary resolves port 0 once, for all). */
      readonly ports: Ports;
    }
  | { readonly type: 'metrics'; readonly id: number }
  | { readonly type: 'routes'; readonly id: number }
  /** Close the listener and drain in-flight requests (readiness has already failed). */
  | { readonly type: 'drain'; readonly delayMs: number };

export interface Ports {
  readonly port: number;
  readonly tlsPort?: number;
}

export type ToPrimary =
  /** Set up and listening for messages (or lost track of the states): send the whole state. */
  | { readonly type: 'hello' }
  /** Listening (the port is shared by all workers), with its first table. */
  | { readonly type: 'serving'; readonly port: number; readonly tlsPort?: number }
  | { readonly type: 'applied'; readonly version: number; readonly pods?: readonly PodReport[] }
  /** The state could not be built into a table; the worker keeps its last good one. */
  | { readonly type: 'failed'; readonly version: number }
  | {
      readonly type: 'metrics';
      readonly id: number;
      readonly metrics: MetricObjectWithValues<MetricValue<string>>[];
    }
  | { readonly type: 'routes'; readonly id: number; readonly view: unknown };

/** Node's IPC messages carry anything; ours carry a string `type`. */
export function isMessage<T extends { readonly type: string }>(value: unknown): value is T {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
