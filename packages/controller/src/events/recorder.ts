import { randomBytes } from 'node:crypto';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { microTime } from '@podrouter/core';
import type { ClaimProblem } from '../alias/types.ts';

export const EVENT_REASONS = { refused: 'AliasRefused', clash: 'AliasClash' } as const;

export interface EventSink {
  emit(problem: ClaimProblem): Promise<void>;
}

/** Warning Events (events.k8s.io/v1) on the claiming Pod. */
export function kubeEventSink(
  config: KubeConfig,
  instance: string,
  now = () => Date.now(),
): EventSink {
  const api = config.makeApiClient(EventsV1Api);
  return {
    async emit(problem) {
      await api.createNamespacedEvent({
        namespace: problem.pod.namespace,
        body: {
          // client-go's naming: the object's name and a unique suffix (generateName would end
          // the name with "." first, which the API server refuses).
          metadata: {
            name: `${problem.pod.name}.${now().toString(16)}${randomBytes(4).toString('hex')}`,
            namespace: problem.pod.namespace,
          },
          eventTime: microTime(now()) as unknown as Date,
          type: 'Warning',
          reason: EVENT_REASONS[problem.kind],
          action: 'ClaimAlias',
          reportingController: 'podrouter.dev/controller',
          reportingInstance: instance,
          regarding: {
            apiVersion: 'v1',
            kind: 'Pod',
            namespace: problem.pod.namespace,
            name: problem.pod.name,
            uid: problem.pod.uid,
          },
          note: `host ${problem.host} is not aliased: ${problem.reason}`.slice(0, 1024),
        },
      });
    },
  };
}

/**
 * Reports each problem once per Pod, host and reason for as long as it lasts (a problem that
 * goes away and comes back is reported again), so a steady state makes no Event writes.
 */
export class ProblemReporter {
  readonly #sink: EventSink;
  #reported = new Set<string>();

  constructor(sink: EventSink) {
    this.#sink = sink;
  }

  /** Returns the problems that were new (and were sent). */
  async report(
    problems: readonly ClaimProblem[],
    onError: (error: unknown) => void,
  ): Promise<ClaimProblem[]> {
    const current = new Set<string>();
    const fresh: ClaimProblem[] = [];
    for (const problem of problems) {
      const key = `${problem.pod.uid}\u0000${problem.host}\u0000${problem.reason}`;
      current.add(key);
      if (!this.#reported.has(key)) fresh.push(problem);
    }
    const sent = new Set<string>();
    for (const problem of fresh) {
      const key = `${problem.pod.uid}\u0000${problem.host}\u0000${problem.reason}`;
      try {
        await this.#sink.emit(problem);
        sent.add(key);
      } catch (error) {
        onError(error);
      }
    }
    this.#reported = new Set(
      [...current].filter((key) => this.#reported.has(key) || sent.has(key)),
    );
    return fresh;
  }
}
