/** Timers as a parameter, so tests run without sleeping. */
export interface Scheduler {
  after(ms: number, fn: () => void): () => void;
}

export const realScheduler: Scheduler = {
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface WorkQueueOptions {
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly scheduler?: Scheduler;
}

/**
 * A de-duplicating work queue in the manner of client-go's: a key is queued at most once; a
 * key added while it is being processed is queued again when processing is done (never
 * processed twice at once); failures are retried after a per-key exponential delay
 * (base·2ⁿ, capped) until `forget`.
 */
export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, () => void>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #base: number;
  readonly #max: number;
  readonly #scheduler: Scheduler;
  #shutDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#base = options.baseDelayMs ?? 100;
    this.#max = options.maxDelayMs ?? 60_000;
    this.#scheduler = options.scheduler ?? realScheduler;
  }

  /** Keys waiting (not counting those being processed or waiting for a retry). */
  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    } else this.#queue.push(key);
  }

  /** Adds `key` after the next retry delay of that key. Returns the delay. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = Math.min(this.#max, this.#base * 2 ** Math.min(failures, 30));
    this.addAfter(key, delay);
    return delay;
  }

  addAfter(key: string, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      this.#scheduler.after(ms, () => {
        this.#timers.delete(key);
        this.add(key);
      }),
    );
  }

  /** The key succeeded: its next failure starts again at the base delay. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, or `undefined` once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shutDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  shutdown(): void {
    this.#shutDown = true;
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}
