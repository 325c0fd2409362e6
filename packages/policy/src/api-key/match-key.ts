import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { KeyEntry } from './parse-secret.ts';

const PRINTABLE_ASCII = /^[ -~]*$/;

/**
 * SHA-256 of a header value's bytes (latin1, as node:http decodes them). The one-shot
 * `hash()` is several times cheaper per request than a `Hash` object; it encodes strings as
 * UTF-8, the same bytes for printable ASCII; anything else takes the `Hash` path. Hex
 * output and `Buffer.from` (pooled) beat a 'buffer' output, which allocates outside the pool.
 */
export function sha256OfHeader(value: string): Buffer {
  return PRINTABLE_ASCII.test(value)
    ? Buffer.from(hash('sha256', value, 'hex'), 'hex')
    : createHash('sha256').update(value, 'latin1').digest();
}

/**
 * Finds the entry whose digest is the SHA-256 of `presented`. Every entry is compared, in
 * constant time, whether or not an earlier one matched: the time taken says nothing about
 * the key or about which entry it is.
 */
export function matchKey(entries: readonly KeyEntry[], presented: string): KeyEntry | undefined {
  const digest = sha256OfHeader(presented);
  let found: KeyEntry | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
  }
  return found;
}
