import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The API key's id: the first 8 hex digits of its SHA-256, the same id the policy
 * extension gives the key (and sends upstream), so spans, access logs and apps agree on
 * which consumer called. 32 bits of a digest tell nothing usable about a random key; the
 * key itself never leaves this function.
 */
const cache = new WeakMap<IncomingMessage, string | undefined>();

export function keyIdOf(req: IncomingMessage, headerLower: string): string | undefined {
  if (cache.has(req)) return cache.get(req);
  const value = req.headers[headerLower];
  const key = Array.isArray(value) ? value[0] : value;
  const id =
    key === undefined || key === ''
      ? undefined
      : createHash('sha256').update(key, 'latin1').digest('hex').slice(0, 8);
  cache.set(req, id);
  return id;
}
