import type { PodrouterError } from '../errors.ts';
import type { ClusterState } from '../pods/types.ts';

export interface SourceListener {
  /** A new full state. Emitted after the first full sync and on every change after that. */
  onState(state: ClusterState): void;
  /** Something is wrong; the last good state stays in force. */
  onError(error: PodrouterError): void;
}

export interface Source {
  readonly kind: string;
  start(listener: SourceListener): void;
  stop(): Promise<void>;
}
