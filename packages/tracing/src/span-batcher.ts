import { jsonRequest } from './otlp-json.ts';
import { type RequestHead, type ResourceValue, type Scope, writeSpan } from './otlp-protobuf.ts';
import { ProtoWriter } from './proto-writer.ts';
import type { SpanData } from './span-data.ts';

/**
 * The batch span processor, for SpanData: the OTel SDK's BatchSpanProcessor semantics
 * (OTEL_BSP_*: at most `maxQueueSize` spans held, new ones dropped and counted beyond that;
 * an export of up to `maxExportBatchSize` spans when that many are waiting, else
 * `scheduledDelayMillis` after the first; one export at a time; each given
 * `exportTimeoutMillis`; everything flushed on shutdown). The difference: a span is encoded
 * into its batch when it ends (protobuf), and an export starts on the next turn of the event
 * loop, never inside the request that filled the batch.
 */

export interface BatchSettings {
  readonly scheduledDelayMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportTimeoutMillis: number;
}

/** Sends one encoded batch; settles when the collector took it (or did not). */
export type SendBatch = (body: Uint8Array | string, spans: number) => Promise<void>;

/** A batch being filled. */
export interface Batch {
  readonly count: number;
  add(span: SpanData): void;
  /** The whole export request. */
  body(): Uint8Array | string;
  /** The transport has settled (sent, failed, or finished after a timeout): the body's memory may be reused. */
  sent?(): void;
}

export type BatchFactory = () => Batch;

/** Protobuf: spans written as they end, after room for the request head. */
export const protobufBatches = (head: RequestHead): BatchFactory => {
  // Each batch starts as large as the last one grew, so a steady load stops re-growing, and
  // in a buffer a sent batch gave back: no new ArrayBuffer per export at a steady load.
  let size = 32768;
  const spare: Buffer[] = [];
  return () => {
    const writer = new ProtoWriter(size, head.room, spare.pop());
    let count = 0;
    return {
      get count() {
        return count;
      },
      add(span) {
        writeSpan(writer, span);
        count++;
      },
      body: () => {
        size = Math.max(size, Math.min(writer.buf.length, 8 * 1024 * 1024));
        return head.frame(writer.buf, writer.pos);
      },
      sent: () => {
        if (spare.length < 2 && writer.buf.length >= size) spare.push(writer.buf);
      },
    };
  };
};

/** JSON: spans kept as data, the body built at export. */
export const jsonBatches =
  (resource: Record<string, ResourceValue>, scope: Scope): BatchFactory =>
  () => {
    const spans: SpanData[] = [];
    return {
      get count() {
        return spans.length;
      },
      add(span) {
        spans.push(span);
      },
      body: () => jsonRequest(resource, scope, spans),
    };
  };

export class SpanBatcher {
  readonly #settings: BatchSettings;
  readonly #open: BatchFactory;
  readonly #send: SendBatch;
  readonly #warn: (message: string, error?: unknown) => void;
  #filling: Batch | undefined;
  readonly #full: Batch[] = [];
  #queued = 0;
  #exporting = false;
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  #droppedSinceWarning = 0;
  /** Spans dropped because the queue was full, since start. */
  dropped = 0;

  constructor(options: {
    settings: BatchSettings;
    batches: BatchFactory;
    send: SendBatch;
    warn: (message: string, error?: unknown) => void;
  }) {
    const { settings } = options;
    // As the SDK: a batch larger than the queue could never fill.
    this.#settings =
      settings.maxExportBatchSize > settings.maxQueueSize
        ? { ...settings, maxExportBatchSize: settings.maxQueueSize }
        : settings;
    this.#open = options.batches;
    this.#send = options.send;
    this.#warn = options.warn;
  }

  get queued(): number {
    return this.#queued;
  }

  add(span: SpanData): void {
    if (this.#closed !== undefined) return;
    if (this.#queued >= this.#settings.maxQueueSize) {
      this.dropped++;
      this.#droppedSinceWarning++;
      return;
    }
    if (this.#droppedSinceWarning > 0) {
      this.#warn(
        `dropped ${this.#droppedSinceWarning} spans: OTEL_BSP_MAX_QUEUE_SIZE (${this.#settings.maxQueueSize}) was reached`,
      );
      this.#droppedSinceWarning = 0;
    }
    this.#filling ??= this.#open();
    const batch = this.#filling;
    batch.add(span);
    this.#queued++;
    if (batch.count >= this.#settings.maxExportBatchSize) {
      this.#full.push(batch);
      this.#filling = undefined;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#exporting) return;
    if (this.#full.length > 0) {
      this.#clearTimer();
      this.#exporting = true;
      setImmediate(this.#exportNext);
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#exporting = true;
      this.#exportNext();
    }, this.#settings.scheduledDelayMillis);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #take(): Batch | undefined {
    const full = this.#full.shift();
    if (full !== undefined) return full;
    const filling = this.#filling;
    this.#filling = undefined;
    return filling;
  }

  readonly #exportNext = (): void => {
    const batch = this.#take();
    if (batch === undefined) {
      this.#exporting = false;
      return;
    }
    void this.#export(batch).finally(() => {
      this.#exporting = false;
      if (this.#queued > 0 && this.#closed === undefined) {
        this.#clearTimer();
        this.#schedule();
      }
    });
  };

  /** Sends one batch; a failure or timeout is reported and the spans are gone (as in the SDK). */
  #export(batch: Batch): Promise<void> {
    this.#queued -= batch.count;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`export took longer than ${this.#settings.exportTimeoutMillis} ms`)),
        this.#settings.exportTimeoutMillis,
      );
      timer.unref();
    });
    let sent: Promise<void>;
    try {
      sent = this.#send(batch.body(), batch.count);
      // Only once the transport settles does it hold the body no longer (even after a timeout).
      void sent.then(
        () => batch.sent?.(),
        () => batch.sent?.(),
      );
    } catch (error) {
      sent = Promise.reject(error);
    }
    return Promise.race([sent, timeout])
      .catch((error: unknown) => this.#warn(`span export failed (${batch.count} spans)`, error))
      .finally(() => clearTimeout(timer));
  }

  /** Exports every span held now, all batches at once. */
  async forceFlush(): Promise<void> {
    this.#clearTimer();
    const batches: Batch[] = [];
    for (let batch = this.#take(); batch !== undefined; batch = this.#take()) batches.push(batch);
    await Promise.all(batches.map((batch) => this.#export(batch)));
  }

  /** Takes no more spans, exports those held. */
  shutdown(): Promise<void> {
    this.#closed ??= this.forceFlush();
    return this.#closed;
  }
}
