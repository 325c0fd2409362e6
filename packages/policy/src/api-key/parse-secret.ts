import { createHash } from 'node:crypto';

/**
 * The API key field of a namespace's Secret → digests. One entry a line:
 *
 *   <key>                      a plaintext key
 *   sha256:<64 hex digits>     the SHA-256 of a key (the plaintext need not live in the cluster)
 *   … plan=<name>              optional: the plan (rate-limit tier) of this key's consumers
 *
 * Blank lines and lines starting with `#` are ignored. Only digests are kept; the plaintext
 * and the field bytes are dropped as soon as this returns. Reasons name line numbers, never
 * a value.
 */

export interface KeyEntry {
  /** SHA-256 of the key, 32 bytes. */
  readonly digest: Buffer;
  /** First 8 hex digits of the digest: names the key in headers and logs, reveals nothing. */
  readonly id: string;
  /** First 16 hex digits of the digest: the consumer quotas count by (made once, not per request). */
  readonly consumerId: string;
  readonly plan: string | undefined;
}

export type KeySet =
  | { readonly kind: 'keys'; readonly entries: readonly KeyEntry[] }
  | { readonly kind: 'invalid'; readonly reason: string };

const KEY = /^[\x21-\x7e]+$/;
const HASHED = /^sha256:([0-9a-fA-F]{64})$/;
const PLAN = /^plan=([a-z0-9][-a-z0-9_]{0,62})$/;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

const entryOf = (digest: Buffer, plan: string | undefined): KeyEntry => ({
  digest,
  id: digest.toString('hex').slice(0, 8),
  consumerId: digest.toString('hex', 0, 8),
  plan,
});

export function parseKeyField(bytes: Buffer, options: { base64Compat: boolean }): KeySet {
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD') || Buffer.byteLength(text) !== bytes.length) {
    return { kind: 'invalid', reason: 'the field is not UTF-8 text' };
  }
  const entries: KeyEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [value = '', ...rest] = trimmed.split(/[ \t]+/);
    const where = `line ${index + 1}`;
    let plan: string | undefined;
    for (const attribute of rest) {
      const match = PLAN.exec(attribute);
      if (!match)
        return { kind: 'invalid', reason: `${where}: unknown attribute (want plan=NAME)` };
      plan = match[1];
    }
    if (value.toLowerCase().startsWith('sha256:')) {
      const match = HASHED.exec(value);
      if (!match) {
        return { kind: 'invalid', reason: `${where}: a sha256: entry needs exactly 64 hex digits` };
      }
      entries.push(entryOf(Buffer.from(match[1] as string, 'hex'), plan));
      continue;
    }
    if (!KEY.test(value)) {
      return { kind: 'invalid', reason: `${where}: a key may only hold visible ASCII characters` };
    }
    entries.push(entryOf(sha256(value), plan));
  }
  if (entries.length === 0) {
    return { kind: 'invalid', reason: 'the field holds no key' };
  }
  if (options.base64Compat) {
    // k8s-router compared the header with the Secret's `data` value, i.e. the field in base64.
    entries.push(entryOf(sha256(bytes.toString('base64')), undefined));
  }
  return { kind: 'keys', entries };
}
