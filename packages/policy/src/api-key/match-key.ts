import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyEntry } from './parse-secret.ts';

/**
 * Finds the entry whose digest is the SHA-256 of `presented`. Every entry is compared, in
 * constant time, whether or not an earlier one matched: the time taken says nothing about
 * the key or about which entry it is.
 */
export function matchKey(entries: readonly KeyEntry[], presented: string): KeyEntry | undefined {
  const digest = createHash('sha256').update(presented, 'latin1').digest();
  let found: KeyEntry | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
  }
  return found;
}
