import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { SecretInfo } from '../pods/types.ts';

/**
 * A `kubernetes.io/tls` Secret → a checked certificate and its TLS context, or the reason it
 * cannot serve. Reasons name the Secret and what is wrong with it, never its bytes.
 */

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/**
 * TLS 1.2 suites: ECDHE with AEAD only (Mozilla "intermediate" minus DHE, whose
 * parameters Node would have to be given). TLS 1.3 suites are listed too: Node turns TLS 1.3
 * off when the cipher string names none of them.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The options every context of the TLS listener shares. */
export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: CIPHERS,
  honorCipherOrder: true,
} as const;

const MIN_RSA_BITS = 2048;
const MIN_EC_BITS = 256;
const MAX_PEM_BYTES = 256 * 1024;

export interface LoadedCertificate {
  /** `namespace/name` of the Secret. */
  readonly secret: string;
  readonly context: SecureContext;
  /** The PEM bytes, for the listener's default context (`tls.Server.setSecureContext`). */
  readonly pair: { readonly cert: Buffer; readonly key: Buffer };
  /** The leaf certificate (first of tls.crt), to check hosts against. */
  readonly leaf: X509Certificate;
  readonly notBefore: number;
  readonly notAfter: number;
  /** SHA-256 of the leaf, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
  /** The DNS names and IPs the leaf names (subjectAltName, else its CN). */
  readonly names: readonly string[];
}

export type CertificateResult = LoadedCertificate | { readonly reason: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Parses and checks a Secret's `tls.crt`/`tls.key`. The result depends on the bytes only (so
 * it can be kept across table builds); `validityProblem` checks the dates.
 */
export function loadCertificate(secret: SecretInfo): CertificateResult {
  const id = `${secret.namespace}/${secret.name}`;
  const fail = (reason: string) => ({ reason: `Secret ${id}: ${reason}` });
  if (secret.type !== undefined && secret.type !== TLS_SECRET_TYPE) {
    return fail(`is of type ${secret.type}, not ${TLS_SECRET_TYPE}`);
  }
  const crt = secret.data['tls.crt'];
  const key = secret.data['tls.key'];
  if (crt === undefined || crt.length === 0) return fail('has no tls.crt');
  if (key === undefined || key.length === 0) return fail('has no tls.key');
  if (crt.length > MAX_PEM_BYTES || key.length > MAX_PEM_BYTES) {
    return fail(`tls.crt or tls.key is larger than ${MAX_PEM_BYTES / 1024} KiB`);
  }
  const blocks = crt.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return fail('tls.crt holds no PEM certificate');
  const chain: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(block));
    } catch {
      return fail(`certificate ${index + 1} of tls.crt is not a valid X.509 certificate`);
    }
  }
  const leaf = chain[0] as X509Certificate;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return fail('tls.key is not a PEM private key (PKCS#1, PKCS#8 or SEC1, unencrypted)');
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    return fail('tls.key does not belong to the first certificate of tls.crt');
  }
  const weak = weakness(privateKey);
  if (weak !== undefined) return fail(weak);
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  for (const [index, issued] of chain.slice(1).entries()) {
    const subject = chain[index] as X509Certificate;
    if (!subject.checkIssued(issued)) {
      return fail(
        `certificate ${index + 2} of tls.crt did not issue certificate ${index + 1} (put the chain in order: leaf first)`,
      );
    }
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ ...TLS_OPTIONS, cert: crt, key });
  } catch (error) {
    return fail(`OpenSSL refused the pair (${(error as { code?: string }).code ?? 'error'})`);
  }
  return {
    secret: id,
    context,
    pair: { cert: crt, key },
    leaf,
    notBefore,
    notAfter,
    fingerprint: leaf.fingerprint256,
    names: certificateNames(leaf),
  };
}

/** Why the certificate cannot serve at `now` (expired, not yet valid), if it cannot. */
export function validityProblem(certificate: LoadedCertificate, now: number): string | undefined {
  if (now >= certificate.notAfter) {
    return `Secret ${certificate.secret}: the certificate expired on ${new Date(certificate.notAfter).toISOString()}`;
  }
  if (now < certificate.notBefore) {
    return `Secret ${certificate.secret}: the certificate is not valid before ${new Date(certificate.notBefore).toISOString()}`;
  }
  return undefined;
}

function weakness(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    return bits < MIN_RSA_BITS
      ? `the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are needed`
      : undefined;
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? '';
    const bits = { prime256v1: 256, secp384r1: 384, secp521r1: 521 }[curve] ?? 0;
    return bits < MIN_EC_BITS ? `the EC curve ${curve || '(unnamed)'} is not accepted` : undefined;
  }
  if (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448') return undefined;
  return `keys of type ${key.asymmetricKeyType ?? 'unknown'} are not accepted`;
}

/** subjectAltName DNS names and IPs, or the CN when there is no subjectAltName. */
export function certificateNames(leaf: X509Certificate): string[] {
  const san = leaf.subjectAltName;
  if (san !== undefined) {
    const names: string[] = [];
    for (const entry of san.split(', ')) {
      if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase());
      else if (entry.startsWith('IP Address:')) names.push(entry.slice(11).toLowerCase());
    }
    return names;
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Whether the certificate serves `host` (wildcards as RFC 6125 allows them). */
export function covers(certificate: LoadedCertificate, host: string): boolean {
  if (isIP(host) !== 0) return certificate.leaf.checkIP(host) !== undefined;
  return (
    certificate.leaf.checkHost(host, {
      subject: 'default',
      wildcards: true,
      partialWildcards: false,
    }) !== undefined
  );
}

/** Content digest of a Secret's pair: the same bytes are parsed once across table builds. */
export function pairDigest(secret: SecretInfo): string {
  const hash = createHash('sha256');
  hash.update(secret.type ?? '');
  hash.update('\0');
  hash.update(secret.data['tls.crt'] ?? Buffer.alloc(0));
  hash.update('\0');
  hash.update(secret.data['tls.key'] ?? Buffer.alloc(0));
  return hash.digest('hex');
}
