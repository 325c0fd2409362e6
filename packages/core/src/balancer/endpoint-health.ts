/**
 * Passive health: an endpoint that refused or timed out a connection is ejected for a while, so the
 * balancer stops sending it traffic without any active probing. Kept outside the route
 * table so the knowledge survives table swaps.
 */
export class EndpointHealth {
  readonly #ejectedUntil = new Map<string, number>();
  readonly #ejectionMs: number;
  readonly #now: () => number;

  constructor(options: { ejectionMs: number; now?: () => number }) {
    this.#ejectionMs = options.ejectionMs;
    this.#now = options.now ?? Date.now;
  }

  eject(endpointKey: string): void {
    if (this.#ejectionMs > 0) this.#ejectedUntil.set(endpointKey, this.#now() + this.#ejectionMs);
  }

  isEjected(endpointKey: string): boolean {
    if (this.#ejectedUntil.size === 0) return false;
    const until = this.#ejectedUntil.get(endpointKey);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#ejectedUntil.delete(endpointKey);
    return false;
  }

  /** Keys currently ejected, for the admin `/routes` view. */
  ejected(): string[] {
    return [...this.#ejectedUntil.keys()].filter((key) => this.isEjected(key));
  }
}
