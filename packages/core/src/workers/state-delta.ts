import type { ClusterState, PodInfo, StateChanges } from '../pods/types.ts';

/**
 * A cluster state as the primary sends it to a worker: whole, or (when the source numbers its
 * states and says what changed) only the Pods that changed. A 10 000-Pod state is ~4 MB and
 * ~0.2 s of CPU to serialize and read back; one changed Pod should not cost that in every
 * worker. Secrets, ExternalName answers and Secret errors are small and always sent whole;
 * Services and EndpointSlices only when the change names a Service.
 */
export type StatePayload =
  | { readonly kind: 'whole'; readonly state: ClusterState }
  | {
      readonly kind: 'delta';
      readonly sequence: number;
      readonly changes: StateChanges;
      readonly rest: Omit<ClusterState, 'pods' | 'sequence' | 'changes'>;
    };

const podKey = (pod: PodInfo) => `${pod.namespace}/${pod.name}`;

/** The payload for a worker whose last state had `sequence` (`undefined`: none yet). */
export function payloadFor(state: ClusterState, sequence: number | undefined): StatePayload {
  const { changes } = state;
  if (
    sequence === undefined ||
    state.sequence === undefined ||
    changes === undefined ||
    changes.since !== sequence
  ) {
    return { kind: 'whole', state };
  }
  const { pods: _, sequence: __, changes: ___, services, endpointSlices, ...small } = state;
  const servicesChanged = (changes.services?.size ?? 0) > 0;
  return {
    kind: 'delta',
    sequence: state.sequence,
    changes,
    rest: {
      ...small,
      ...(servicesChanged && services !== undefined ? { services } : {}),
      ...(servicesChanged && endpointSlices !== undefined ? { endpointSlices } : {}),
    },
  };
}

/** A worker's copy of the source's state, rebuilt from the payloads in order. */
export class StateMirror {
  #pods = new Map<string, PodInfo>();
  #last: ClusterState | undefined;

  /** The state the payload stands for, or `undefined` if it does not follow the last one. */
  apply(payload: StatePayload): ClusterState | undefined {
    if (payload.kind === 'whole') {
      this.#pods = new Map(payload.state.pods.map((pod) => [podKey(pod), pod]));
      this.#last = payload.state;
      return payload.state;
    }
    const last = this.#last;
    if (last === undefined || last.sequence !== payload.changes.since) return undefined;
    for (const [key, pod] of payload.changes.pods) {
      if (pod === undefined) this.#pods.delete(key);
      else this.#pods.set(key, pod);
    }
    const { services, endpointSlices } = last;
    const state: ClusterState = {
      ...(services !== undefined ? { services } : {}),
      ...(endpointSlices !== undefined ? { endpointSlices } : {}),
      ...payload.rest,
      pods: [...this.#pods.values()],
      sequence: payload.sequence,
      changes: payload.changes,
    };
    this.#last = state;
    return state;
  }
}
