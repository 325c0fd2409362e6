import { type ParsedHosts, type ParsedPaths, parseHosts, parsePaths } from './parse.ts';

/**
 * Remembers parsed annotation values from one table build to the next, so a rebuild after
 * one Pod changed does not re-parse the other thousands. Most Pods of a Deployment share
 * their annotation values, so a build parses each distinct value once.
 *
 * Two generations bound the memory: a build reads the previous generation and keeps only
 * what it used, so values no Pod carries any more are dropped on the next build.
 */
export class AnnotationMemo {
  #previous = new Map<string, ParsedHosts | ParsedPaths>();
  #current = new Map<string, ParsedHosts | ParsedPaths>();

  /** Starts a new build: what the last build used becomes the previous generation. */
  nextGeneration(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  #lookup<T extends ParsedHosts | ParsedPaths>(key: string, parse: () => T): T {
    let parsed = this.#current.get(key) as T | undefined;
    if (parsed === undefined) {
      parsed = (this.#previous.get(key) as T | undefined) ?? parse();
      this.#current.set(key, parsed);
    }
    return parsed;
  }

  hosts(annotation: string, value: string | undefined): ParsedHosts {
    return this.#lookup(`h\u0000${annotation}\u0000${value ?? ''}`, () =>
      parseHosts(annotation, value),
    );
  }

  paths(annotation: string, value: string | undefined, ports: readonly number[]): ParsedPaths {
    return this.#lookup(`p\u0000${annotation}\u0000${ports.join(',')}\u0000${value ?? ''}`, () =>
      parsePaths(annotation, value, ports),
    );
  }
}
