import { createHash, hash } from 'node:crypto';

const PRINTABLE_ASCII = /^[ -~]*$/;

/**
 * SHA-256, in hex, of a header value's bytes (latin1, as node:http decodes them): the
 * digest the policy extension matches API keys by and the tracing package derives key ids
 * from. The one-shot `hash()` is several times cheaper per request than a `Hash` object; it
 * encodes strings as UTF-8, the same bytes for printable ASCII; anything else takes the
 * `Hash` path.
 */
export function sha256HexOfHeader(value: string): string {
  return PRINTABLE_ASCII.test(value)
    ? hash('sha256', value, 'hex')
    : createHash('sha256').update(value, 'latin1').digest('hex');
}
