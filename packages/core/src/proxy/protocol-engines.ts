import type { UpstreamCall, UpstreamEngine, UpstreamOutcome } from './engine.ts';

/** Sends each exchange to the engine that speaks its endpoint's protocol. */
export class ProtocolEngines implements UpstreamEngine {
  readonly #http1: UpstreamEngine;
  readonly #h2c: UpstreamEngine;

  constructor(http1: UpstreamEngine, h2c: UpstreamEngine) {
    this.#http1 = http1;
    this.#h2c = h2c;
  }

  forward(call: UpstreamCall, done: (outcome: UpstreamOutcome) => void): void {
    (call.endpoint.protocol === 'h2c' ? this.#h2c : this.#http1).forward(call, done);
  }

  retainOnly(origins: ReadonlySet<string>): void {
    this.#http1.retainOnly(origins);
    this.#h2c.retainOnly(origins);
  }

  async close(): Promise<void> {
    await Promise.all([this.#http1.close(), this.#h2c.close()]);
  }
}
