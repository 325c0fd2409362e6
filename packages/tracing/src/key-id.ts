import type { IncomingMessage } from 'node:http';
import { sha256HexOfHeader } from '@podrouter/core';

/**
 * The API key's id: the first 8 hex digits of its SHA-256, the same id the policy
 * extension gives the key (and sends upstream), so spans, access logs and apps agree on
 * which consumer called. 32 bits of a digest tell nothing usable about a random key; the
 * key itself never leaves this module.
 *
 * A service sees few distinct keys, each on many requests: the ids of recent keys are kept
 * (at most MAX_KEYS, then forgotten all at once, so random keys from a client cannot grow
 * it), and a request with a known key costs a map lookup instead of a SHA-256.
 */
const MAX_KEYS = 1024;
const ids = new Map<string, string>();

export function keyIdOf(req: IncomingMessage, headerLower: string): string | undefined {
  const value = req.headers[headerLower];
  const key = Array.isArray(value) ? value[0] : value;
  // Most requests carry no key: answer those without touching the map.
  if (key === undefined || key === '') return undefined;
  let id = ids.get(key);
  if (id === undefined) {
    id = sha256HexOfHeader(key).slice(0, 8);
    if (ids.size >= MAX_KEYS) ids.clear();
    ids.set(key, id);
  }
  return id;
}
