import type { PodInfo } from './types.ts';

/**
 * Why a selected Pod is not receiving traffic right now, or `undefined` when it is
 * routable. Not a rejection: these states are normal parts of a Pod's life.
 */
export function ineligibility(pod: PodInfo): string | undefined {
  if (pod.terminating) return 'terminating';
  if (pod.service !== undefined) {
    for (const backends of pod.service.backends.values()) if (backends.length > 0) return undefined;
    return pod.service.idle;
  }
  if (pod.phase !== 'Running') return `phase is ${pod.phase || 'unknown'}, not Running`;
  if (pod.podIP === '') return 'no Pod IP yet';
  if (!pod.ready) return 'Ready condition is not True';
  return undefined;
}
