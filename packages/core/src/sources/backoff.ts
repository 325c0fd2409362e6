/**
 * Capped exponential backoff with full jitter (AWS architecture blog's "full jitter"):
 * attempt n waits a random time in [0, min(cap, base·2ⁿ)]. `random` is injectable for tests.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
