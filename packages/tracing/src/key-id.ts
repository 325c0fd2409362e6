import { createHash, hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The API key's id: the first 8 hex digits of its SHA-256, the same id the policy
 * extension gives the key (and sends upstream), so spans, access logs and apps agree on
 * which consumer called. 32 bits of a digest tell nothing usable about a random key; the
 * key itself never leaves this function.
 */
const cache = new WeakMap<IncomingMessage, string>();
const PRINTABLE_ASCII = /^[ -~]*$/;

/** SHA-256 of the header's latin1 bytes: one-shot `hash()` (UTF-8: the same bytes) for printable ASCII. */
const hexDigest = (key: string) =>
  PRINTABLE_ASCII.test(key)
    ? hash('sha256', key, 'hex')
    : createHash('sha256').update(key, 'latin1').digest('hex');

export function keyIdOf(req: IncomingMessage, headerLower: string): string | undefined {
  const value = req.headers[headerLower];
  const key = Array.isArray(value) ? value[0] : value;
  // Most requests carry no key: answer those without touching the cache.
  if (key === undefined || key === '') return undefined;
  let id = cache.get(req);
  if (id === undefined) {
    id = hexDigest(key).slice(0, 8);
    cache.set(req, id);
  }
  return id;
}
