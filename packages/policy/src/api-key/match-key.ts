import { timingSafeEqual } from 'node:crypto';
import { sha256HexOfHeader } from '@podrouter/core';
import type { KeyEntry } from './parse-secret.ts';

/**
 * SHA-256 of a header value's bytes (latin1, as node:http decodes them). Hex output and
 * `Buffer.from` (pooled) beat a 'buffer' output, which allocates outside the pool.
 */
export function sha256OfHeader(value: string): Buffer {
  return Buffer.from(sha256HexOfHeader(value), 'hex');
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

/** Longest key remembered per connection (longer ones are hashed every time). */
const REMEMBERED_KEY_BYTES = 255;

interface Accepted {
  /** The key as fixed-size bytes: its length, its latin1 bytes, zeros. */
  readonly bytes: Buffer;
  readonly entries: readonly KeyEntry[];
  readonly entry: KeyEntry;
}

const acceptedOn = new WeakMap<object, Accepted>();
const scratch = Buffer.alloc(REMEMBERED_KEY_BYTES + 1);

/** `presented` into `out` as fixed-size bytes, or false when it is too long to remember. */
function fixedSize(presented: string, out: Buffer): boolean {
  if (presented.length > REMEMBERED_KEY_BYTES) return false;
  out.fill(0);
  out[0] = presented.length;
  out.write(presented, 1, 'latin1');
  return true;
}

/**
 * `matchKey` for a request on `connection` (its socket): the key last accepted on that
 * connection is remembered, and a request that presents it again against the same entries
 * skips the SHA-256. Still constant-time: the presented key is compared with the remembered
 * one by `timingSafeEqual` over a fixed size. What the time tells is whether the key equals
 * the one last accepted on this connection, a valid key: the answer (accepted or 401) says
 * as much. Changed keys give a new `entries` array, and the remembered key counts only for
 * the array it was accepted from. The plaintext key stays in memory while its connection
 * lives, as the request's own bytes do.
 */
export function matchKeyOn(
  connection: object | null | undefined,
  entries: readonly KeyEntry[],
  presented: string,
): KeyEntry | undefined {
  if (connection === null || connection === undefined) return matchKey(entries, presented);
  const accepted = acceptedOn.get(connection);
  const remembered = fixedSize(presented, scratch);
  if (
    accepted !== undefined &&
    remembered &&
    accepted.entries === entries &&
    timingSafeEqual(scratch, accepted.bytes)
  )
    return accepted.entry;
  const entry = matchKey(entries, presented);
  if (entry !== undefined && remembered)
    acceptedOn.set(connection, { bytes: Buffer.from(scratch), entries, entry });
  return entry;
}
