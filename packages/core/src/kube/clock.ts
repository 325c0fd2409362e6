/** Time as a parameter, so tests run timers by hand instead of sleeping. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. Never keeps the process up. */
  after(ms: number, fn: () => void): () => void;
  /** In [0, 1): jitter. */
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
  random: () => Math.random(),
};

/** A clock whose timers run only when the test says so. */
export class ManualClock implements Clock {
  #now: number;
  #random: () => number;
  readonly #timers = new Set<{ at: number; fn: () => void }>();

  constructor(start = 0, random: () => number = () => 0.5) {
    this.#now = start;
    this.#random = random;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.#now + ms, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  random(): number {
    return this.#random();
  }

  /** Timers waiting, by their delay from now. */
  pending(): number[] {
    return [...this.#timers].map((timer) => timer.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time on by `ms` and runs every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const due = [...this.#timers]
        .filter((timer) => timer.at <= until)
        .sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers.delete(due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = until;
  }
}
