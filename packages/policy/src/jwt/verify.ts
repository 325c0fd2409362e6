import { createHash } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';

export interface JwtOptions {
  readonly issuer: readonly string[];
  readonly audience: readonly string[];
  readonly clockSkewMs: number;
  readonly planClaim: string;
}

export type JwtResult =
  | {
      readonly ok: true;
      readonly id: string;
      readonly subject: string;
      readonly plan: string | undefined;
    }
  /** `keys-unavailable`: the JWKS could not be fetched (503), otherwise the token is bad (401). */
  | { readonly ok: false; readonly reason: string; readonly keysUnavailable: boolean };

const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Keys from a JWKS URL: cached, refetched when older than `cacheMaxAgeMs` or on an unknown kid. */
export function remoteKeys(
  url: string,
  options: { cooldownMs: number; cacheMaxAgeMs: number; timeoutMs?: number },
): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    timeoutDuration: options.timeoutMs ?? 5000,
  });
}

/** Keys from a Secret field holding a JWKS; throws (without the content) when it is not one. */
export function secretKeys(bytes: Buffer): JWTVerifyGetKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('the field is not JSON');
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error('the field is not a JWKS with keys');
  return createLocalJWKSet(parsed as JSONWebKeySet);
}

const plain = (value: unknown): string | undefined =>
  typeof value === 'string' && /^[\x21-\x7e]{1,200}$/.test(value) ? value : undefined;

/** Verifies signature, alg, iss, aud, exp/nbf (with skew). Never logs or returns the token. */
export async function verifyJwt(
  token: string,
  keys: JWTVerifyGetKey,
  options: JwtOptions,
): Promise<JwtResult> {
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: [...options.issuer],
      audience: [...options.audience],
      clockTolerance: Math.round(options.clockSkewMs / 1000),
      algorithms: ALGORITHMS,
      requiredClaims: ['exp'],
    });
    const subject = plain(payload.sub) ?? '';
    const id = createHash('sha256')
      .update(`${payload.iss ?? ''}\n${payload.sub ?? ''}`)
      .digest('hex')
      .slice(0, 16);
    return { ok: true, id: `jwt-${id}`, subject, plan: plain(payload[options.planClaim]) };
  } catch (error) {
    const keysUnavailable =
      error instanceof errors.JWKSTimeout ||
      error instanceof TypeError ||
      (error instanceof errors.JOSEError && error.code === 'ERR_JWKS_INVALID');
    const reason = error instanceof errors.JOSEError ? error.code : 'ERR_JWT_INVALID';
    return { ok: false, reason, keysUnavailable };
  }
}
