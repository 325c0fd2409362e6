import type { EventRecorder } from '@podrouter/core';
import type { ClaimProblem } from '../alias/types.ts';

export const EVENT_REASONS = { refused: 'AliasRefused', clash: 'AliasClash' } as const;

export interface EventSink {
  emit(problem: ClaimProblem): Promise<void>;
}

/**
 * Warning Events on the claiming Pod through the core's EventRecorder (the routers' too):
 * one Event per Pod, host and reason, named from them so replicas do not write it twice;
 * written in the background, rate-limited, failures reported by the recorder.
 */
export function recorderSink(recorder: EventRecorder): EventSink {
  return {
    async emit(problem) {
      recorder.record({
        key: `${problem.pod.uid}\u0000${problem.host}\u0000${problem.reason}`,
        regarding: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace: problem.pod.namespace,
          name: problem.pod.name,
          uid: problem.pod.uid,
        },
        type: 'Warning',
        reason: EVENT_REASONS[problem.kind],
        action: 'ClaimAlias',
        note: `host ${problem.host} is not aliased: ${problem.reason}`,
      });
    },
  };
}

/**
 * Reports each problem once per Pod, host and reason for as long as it lasts (a problem that
 * goes away and comes back is reported again), so a steady state makes no Event writes.
 * Problems come by scope (one alias, or one Pod's own hosts): a scope's report replaces
 * that scope's problems only.
 */
export class ProblemReporter {
  readonly #sink: EventSink;
  readonly #reported = new Map<string, Set<string>>();

  constructor(sink: EventSink) {
    this.#sink = sink;
  }

  /** Returns the problems that were new (and were sent). */
  async report(
    scope: string,
    problems: readonly ClaimProblem[],
    onError: (error: unknown) => void,
  ): Promise<ClaimProblem[]> {
    const before = this.#reported.get(scope) ?? new Set<string>();
    const now = new Set<string>();
    const fresh: ClaimProblem[] = [];
    for (const problem of problems) {
      const key = `${problem.pod.uid}\u0000${problem.host}\u0000${problem.reason}`;
      if (now.has(key)) continue;
      if (before.has(key)) {
        now.add(key);
        continue;
      }
      try {
        await this.#sink.emit(problem);
        now.add(key);
        fresh.push(problem);
      } catch (error) {
        onError(error);
      }
    }
    if (now.size > 0) this.#reported.set(scope, now);
    else this.#reported.delete(scope);
    return fresh;
  }
}
