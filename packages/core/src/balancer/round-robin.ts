import type { EndpointHealth } from './endpoint-health.ts';

export interface Balanced {
  readonly key: string;
}

/**
 * Round-robin over a fixed list of endpoints, skipping ejected ones. When every endpoint is
 * ejected it still picks one (as Envoy's panic threshold does): a guess beats a certain 503.
 */
export class RoundRobin<T extends Balanced> {
  readonly endpoints: readonly T[];
  readonly #health: EndpointHealth;
  // The cursor is the only mutable part of a route; it is balancing state, not routing state.
  #cursor = 0;

  constructor(endpoints: readonly T[], health: EndpointHealth) {
    this.endpoints = endpoints;
    this.#health = health;
  }

  /** Next endpoint, never `avoid` when another one exists; `undefined` only when empty. */
  pick(avoid?: T): T | undefined {
    const count = this.endpoints.length;
    if (count === 0) return undefined;
    if (count === 1) {
      const only = this.endpoints[0];
      return only === avoid ? undefined : only;
    }
    let fallback: T | undefined;
    let afterFallback = 0;
    for (let attempt = 0; attempt < count; attempt++) {
      const endpoint = this.endpoints[this.#cursor++ % count] as T;
      if (this.#cursor >= 0x3fffffff) this.#cursor = 0;
      if (endpoint === avoid) continue;
      if (!this.#health.isEjected(endpoint.key)) return endpoint;
      if (fallback === undefined) {
        fallback = endpoint;
        afterFallback = this.#cursor;
      }
    }
    // A full lap leaves the cursor where it started: resume after the fallback so that,
    // with every endpoint ejected, the guesses still take turns.
    if (fallback !== undefined) this.#cursor = afterFallback;
    return fallback;
  }
}
