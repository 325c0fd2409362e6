import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { ErrorCodes, PodrouterError } from '../errors.ts';
import { parseObjects } from './parse-objects.ts';
import type { Source, SourceListener } from './types.ts';

/**
 * Pods and Secrets from a YAML file, re-read whenever it changes. The directory is watched
 * (not the file) so editors and `kubectl ... > file` that replace the file are seen too.
 * A file that cannot be read or parsed is reported and the last good state stays.
 */
export class FileSource implements Source {
  readonly kind = 'file';
  readonly #path: string;
  readonly #debounceMs: number;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastDigest = '';
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, options: { debounceMs?: number } = {}) {
    this.#path = resolve(path);
    this.#debounceMs = options.debounceMs ?? 20;
  }

  start(listener: SourceListener): void {
    const name = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), (_event, file) => {
      if (file === null || file === name) this.#schedule(listener);
    });
    this.#watcher.on('error', (error) =>
      listener.onError(
        new PodrouterError(
          ErrorCodes.SOURCE_FILE_UNREADABLE,
          `watching ${this.#path} failed: ${error.message}`,
        ),
      ),
    );
    // inotify misses changes on some mounts (ConfigMap volumes swap a symlink): poll as well.
    this.#poll = setInterval(() => this.#schedule(listener), 1000);
    this.#poll.unref();
    this.#schedule(listener, 0);
  }

  #schedule(listener: SourceListener, delay = this.#debounceMs): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#reading = this.#reading.then(() => this.#read(listener));
    }, delay);
  }

  async #read(listener: SourceListener): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      const digest = `error:${(error as NodeJS.ErrnoException).code}`;
      if (digest === this.#lastDigest) return;
      this.#lastDigest = digest;
      listener.onError(
        new PodrouterError(
          ErrorCodes.SOURCE_FILE_UNREADABLE,
          `cannot read ${this.#path}: ${(error as Error).message}; keeping the last good routes`,
        ),
      );
      return;
    }
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === this.#lastDigest) return;
    this.#lastDigest = digest;
    let state: ReturnType<typeof parseObjects>;
    try {
      state = parseObjects(text, this.#path);
    } catch (error) {
      const reason = error instanceof PodrouterError ? error.message : String(error);
      listener.onError(
        new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${reason}; keeping the last good routes`,
        ),
      );
      return;
    }
    listener.onState(state);
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#timer) clearTimeout(this.#timer);
    await this.#reading;
  }
}
