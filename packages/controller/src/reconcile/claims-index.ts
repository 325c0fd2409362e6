import type { PodInfo } from '@podrouter/core';
import { type AliasClaim, podAliasClaims } from '../alias/desired.ts';
import type { AliasOptions, ClaimProblem } from '../alias/types.ts';

interface PodEntry {
  readonly pod: PodInfo;
  readonly claims: readonly AliasClaim[];
  readonly problems: readonly ClaimProblem[];
}

/**
 * Which Pods claim which alias, kept up to date Pod by Pod, so that a reconcile of one alias
 * reads its claimants without scanning every Pod, and a Pod change names the aliases it
 * touches (those it claimed before and those it claims now).
 */
export class ClaimsIndex {
  readonly #options: AliasOptions;
  readonly #pods = new Map<string, PodEntry>();
  readonly #claimants = new Map<string, Set<string>>();

  constructor(options: AliasOptions) {
    this.#options = options;
  }

  /** A Pod changed (`undefined`: gone); returns the alias keys it claimed or claims. */
  update(podKey: string, pod: PodInfo | undefined): Set<string> {
    const touched = new Set<string>();
    const before = this.#pods.get(podKey);
    for (const { key } of before?.claims ?? []) {
      touched.add(key);
      const set = this.#claimants.get(key);
      set?.delete(podKey);
      if (set?.size === 0) this.#claimants.delete(key);
    }
    this.#pods.delete(podKey);
    if (pod === undefined) return touched;
    const { claims, problems } = podAliasClaims(pod, this.#options);
    if (claims.length > 0 || problems.length > 0) this.#pods.set(podKey, { pod, claims, problems });
    for (const { key } of claims) {
      touched.add(key);
      let set = this.#claimants.get(key);
      if (set === undefined) {
        set = new Set();
        this.#claimants.set(key, set);
      }
      set.add(podKey);
    }
    return touched;
  }

  /** The Pods claiming `key`, each with the host it claims it by. */
  claimants(key: string): { pod: PodInfo; host: string }[] {
    const out: { pod: PodInfo; host: string }[] = [];
    for (const podKey of this.#claimants.get(key) ?? []) {
      const entry = this.#pods.get(podKey);
      if (entry === undefined) continue;
      for (const claim of entry.claims)
        if (claim.key === key) out.push({ pod: entry.pod, host: claim.host });
    }
    return out;
  }

  /** The problems of a Pod's hosts that are no alias at all. */
  problems(podKey: string): readonly ClaimProblem[] {
    return this.#pods.get(podKey)?.problems ?? [];
  }

  /** Every Pod with problems of its own hosts, with them. */
  *podProblems(): IterableIterator<[string, readonly ClaimProblem[]]> {
    for (const [key, entry] of this.#pods)
      if (entry.problems.length > 0) yield [key, entry.problems];
  }

  /** Every alias some Pod claims. */
  keys(): IterableIterator<string> {
    return this.#claimants.keys();
  }
}
