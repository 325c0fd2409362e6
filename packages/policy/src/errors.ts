/**
 * Coded errors of the policy package. Each code is stable (logs, docs and alerts refer to it)
 * and each message says what to do about it. Messages never hold a key, a token or a Secret
 * value: they name the Secret, the field and the line instead.
 */
export const PolicyErrorCodes = {
  /** The API key field of a namespace's Secret cannot be parsed; its routes fail closed. */
  API_KEY_SECRET_INVALID: 'PR_POLICY_API_KEY_SECRET_INVALID',
  /** The JWKS field of a namespace's Secret cannot be parsed; JWTs are refused there. */
  JWKS_SECRET_INVALID: 'PR_POLICY_JWKS_SECRET_INVALID',
  /** RATE_LIMITS / RATE_LIMITS_FILE cannot be parsed (exit code 2 at start). */
  RATE_LIMITS_INVALID: 'PR_POLICY_RATE_LIMITS_INVALID',
  /** Redis did not answer in time or is down; limits fail open or closed as configured. */
  RATE_LIMITER_UNAVAILABLE: 'PR_POLICY_RATE_LIMITER_UNAVAILABLE',
  /** The custom hooks module cannot be loaded or exports no valid hooks (exit code 2). */
  HOOKS_MODULE_INVALID: 'PR_POLICY_HOOKS_MODULE_INVALID',
  /** A custom hook threw or rejected; the request got a 500 problem. */
  HOOK_FAILED: 'PR_POLICY_HOOK_FAILED',
} as const;

export type PolicyErrorCode = (typeof PolicyErrorCodes)[keyof typeof PolicyErrorCodes];

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyError';
    this.code = code;
  }
}
