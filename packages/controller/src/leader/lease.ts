import { microTime } from '@podrouter/core';
/** The fields of a coordination.k8s.io/v1 Lease that election uses. */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly leaseTransitions: number;
  /** Optimistic concurrency: a replace with a stale version fails. */
  readonly resourceVersion: string;
}

export interface LeaseClient {
  get(): Promise<LeaseRecord | undefined>;
  /** Fails (throws) when the Lease exists already. */
  create(record: Omit<LeaseRecord, 'resourceVersion'>): Promise<LeaseRecord>;
  /** Fails (throws) when `record.resourceVersion` is no longer current. */
  replace(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface Clock {
  now(): number;
}

export interface LeaderElectorOptions {
  readonly client: LeaseClient;
  readonly identity: string;
  readonly durationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (error: unknown) => void;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
/**
 * Leader election on a Lease, as client-go's leaderelection does it: a replica takes the
 * Lease when nobody holds it or the holder has not renewed it for the lease duration — timed
 * by this replica's own clock from when it last saw the record change, so clock skew between
 * replicas does not matter — and the leader stops leading when it could not renew within
 * the renew deadline, which is shorter than the duration: it stops writing before anyone
 * else may start. Releasing on shutdown hands over at once.
 */
export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;
  #observed: { record: LeaseRecord; at: number } | undefined;
  #leading = false;
  #lastRenew = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? { now: () => Date.now() };
    this.#sleep =
      options.sleep ??
      ((ms) =>
        new Promise((done) => {
          setTimeout(done, ms);
        }));
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** One attempt to acquire or renew. Returns whether this replica leads afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, durationMs } = this.#options;
    const now = this.#clock.now();
    const desired = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(durationMs / 1000),
      renewTime: microTime(now),
    };
    const current = await client.get();
    if (current === undefined) {
      const created = await client.create({
        ...desired,
        acquireTime: microTime(now),
        leaseTransitions: 0,
      });
      this.#observe(created, now);
      return this.#setLeading(true, now);
    }
    if (
      this.#observed === undefined ||
      this.#observed.record.resourceVersion !== current.resourceVersion
    ) {
      this.#observed = { record: current, at: now };
    }
    const heldByOther = current.holderIdentity !== '' && current.holderIdentity !== identity;
    const expired = this.#observed.at + current.leaseDurationSeconds * 1000 <= now;
    if (heldByOther && !expired) return this.#setLeading(false, now);
    const takingOver = current.holderIdentity !== identity;
    const replaced = await client.replace({
      ...current,
      ...desired,
      acquireTime: takingOver ? microTime(now) : current.acquireTime,
      leaseTransitions: current.leaseTransitions + (takingOver ? 1 : 0),
    });
    this.#observe(replaced, now);
    return this.#setLeading(true, now);
  }

  #observe(record: LeaseRecord, now: number): void {
    this.#observed = { record, at: now };
  }

  #setLeading(leading: boolean, now: number): boolean {
    if (leading) this.#lastRenew = now;
    if (leading !== this.#leading) {
      this.#leading = leading;
      if (leading) this.#options.onStartedLeading();
      else this.#options.onStoppedLeading();
    }
    return leading;
  }

  /** One step of the loop: try, and step down when renewals failed past the deadline. */
  async step(): Promise<void> {
    try {
      await this.tryAcquireOrRenew();
    } catch (error) {
      this.#options.onError?.(error);
      if (this.#leading && this.#clock.now() - this.#lastRenew >= this.#options.renewDeadlineMs) {
        this.#setLeading(false, this.#clock.now());
      }
    }
  }

  start(): void {
    this.#loop ??= (async () => {
      while (!this.#stopped) {
        await this.step();
        if (this.#stopped) break;
        await this.#sleep(this.#options.retryPeriodMs);
      }
    })();
  }

  /** Stops the loop and, when leading, releases the Lease so another replica takes over now. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    if (!this.#leading) return;
    this.#setLeading(false, this.#clock.now());
    const current = await this.#options.client.get();
    if (current === undefined || current.holderIdentity !== this.#options.identity) return;
    await this.#options.client.replace({
      ...current,
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: microTime(this.#clock.now()),
    });
  }
}
