import type { HookResponse, HookResult } from '@podrouter/core';
import type { JWTVerifyGetKey } from 'jose';
import { matchKeyOn } from '../api-key/match-key.ts';
import type { KeySet } from '../api-key/parse-secret.ts';
import type { JwtResult } from '../jwt/verify.ts';
import type { PolicyMetrics } from '../metrics.ts';
import { PHASES, type PolicyContext, type StepDefinition } from './types.ts';

/** What one namespace accepts; computed once per cluster state. */
export interface NamespaceCredentials {
  readonly keys: KeySet | undefined;
  /** Keys for JWTs: the namespace's own JWKS, else the JWKS URL; or why the field is bad. */
  readonly jwt: JWTVerifyGetKey | { readonly invalid: string } | undefined;
}

export interface AuthenticateOptions {
  readonly credentials: ReadonlyMap<string, NamespaceCredentials>;
  readonly keyHeader: string;
  readonly keyIdHeader: string;
  /** Verifies a token (jwt/verify.ts, loaded only when JWTs are on). */
  readonly verifyToken: ((token: string, keys: JWTVerifyGetKey) => Promise<JwtResult>) | undefined;
  readonly metrics: PolicyMetrics;
}

/* Problem bodies say what kind of credential is wanted, never anything about one sent. */
const MISSING: HookResponse = {
  status: 401,
  title: 'Credentials required',
  detail: 'This route requires an API key or a bearer token.',
};
const REFUSED: HookResponse = {
  status: 403,
  title: 'Credentials refused',
  detail: 'The API key is not valid for this route.',
};
const BAD_TOKEN: HookResponse = {
  status: 401,
  title: 'Invalid bearer token',
  detail: 'The bearer token is not valid for this route.',
  headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
};
const KEYS_UNAVAILABLE: HookResponse = {
  status: 503,
  title: 'Token keys unavailable',
  detail: 'The keys that verify bearer tokens cannot be fetched at the moment; retry shortly.',
  headers: { 'retry-after': '5' },
};
export const CLOSED: HookResponse = {
  status: 503,
  title: 'Route closed by policy',
  detail:
    'The credential configuration of this namespace is invalid; the router refuses its traffic until an operator fixes it.',
};

export const SUBJECT_HEADER = 'x-podrouter-subject';
export const PLAN_HEADER = 'x-podrouter-plan';

/**
 * The authenticate step. On a protected route: a bearer token (when JWTs are on) or the API
 * key header must be valid. The key header never goes upstream; the upstream gets the key id
 * (or the token's subject) and the plan instead, and any such header a client sent is dropped.
 */
export function authenticateStep(options: AuthenticateOptions): StepDefinition {
  const { metrics } = options;
  const keyHeader = options.keyHeader.toLowerCase();
  const keyIdHeader = options.keyIdHeader.toLowerCase();
  return {
    name: 'authenticate',
    order: PHASES.authenticate,
    compile(route) {
      const credentials = options.credentials.get(route.namespace);
      if (credentials === undefined) return null;
      const { keys, jwt } = credentials;
      if (keys?.kind === 'invalid' || (jwt !== undefined && 'invalid' in jwt)) {
        return () => {
          metrics.auth('closed');
          return CLOSED;
        };
      }
      const entries = keys?.entries;
      const verifyKeys = jwt;
      const verifyToken = options.verifyToken;
      const strip = (context: PolicyContext) => {
        context.stripHeaders.add(keyHeader);
        context.stripHeaders.add(keyIdHeader);
        context.stripHeaders.add(SUBJECT_HEADER);
        context.stripHeaders.add(PLAN_HEADER);
      };
      const withToken = async (context: PolicyContext, token: string): Promise<HookResult> => {
        const result = await (verifyToken as NonNullable<typeof verifyToken>)(
          token,
          verifyKeys as JWTVerifyGetKey,
        );
        if (!result.ok) {
          metrics.auth('invalid_token');
          return result.keysUnavailable ? KEYS_UNAVAILABLE : BAD_TOKEN;
        }
        metrics.auth('accepted');
        context.consumer = {
          kind: 'jwt',
          id: result.id,
          plan: result.plan,
          subject: result.subject,
        };
        if (result.subject !== '') context.upstreamHeaders.set(SUBJECT_HEADER, result.subject);
        if (result.plan !== undefined) context.upstreamHeaders.set(PLAN_HEADER, result.plan);
        return 'continue';
      };
      return (context) => {
        strip(context);
        const headers = context.req.headers;
        const authorization = headers.authorization;
        if (
          verifyKeys !== undefined &&
          authorization !== undefined &&
          /^bearer /i.test(authorization)
        ) {
          return withToken(context, authorization.slice(7).trim());
        }
        const presented = headers[keyHeader];
        if (entries === undefined || presented === undefined || presented === '') {
          metrics.auth('missing');
          return MISSING;
        }
        const entry = matchKeyOn(
          context.req.socket,
          entries,
          Array.isArray(presented) ? presented.join(',') : presented,
        );
        if (entry === undefined) {
          metrics.auth('refused');
          return REFUSED;
        }
        metrics.auth('accepted');
        context.consumer = {
          kind: 'api-key',
          id: entry.consumerId,
          plan: entry.plan,
        };
        context.upstreamHeaders.set(keyIdHeader, entry.id);
        if (entry.plan !== undefined) context.upstreamHeaders.set(PLAN_HEADER, entry.plan);
        return 'continue';
      };
    },
  };
}
