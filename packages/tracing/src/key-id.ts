import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The API key's id: the first 8 hex digits of its SHA-256, the same id the policy
 * extension gives the key (and sends upstream), so spans, access logs and apps agree on
 * which consumer called. 32 bits of a digest tell nothing usable about a random key; the
 * key itself never leaves this function.
 */
const cache = new WeakMap<IncomingMessage, string>();

export function keyIdOf(req: IncomingMessage, headerLower: string): string | undefined {
  const value = req.headers[headerLower];
  const key = Array.isArray(value) ? value[0] : value;
  // Most requests carry no key: answer those without touching the cache.
  if (key === undefined || key === '') return undefined;
  let id = cache.get(req);
  if (id === undefined) {
    id = createHash('sha256').update(key, 'latin1').digest('hex').slice(0, 8);
    cache.set(req, id);
  }
  return id;
}
