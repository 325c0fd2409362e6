/**
 * Coded errors of the router core. Each code is stable (scripts and docs refer to it) and
 * each message says what to do about it.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'PR_CONFIG_INVALID',
  SOURCE_FILE_UNREADABLE: 'PR_SOURCE_FILE_UNREADABLE',
  SOURCE_FILE_INVALID: 'PR_SOURCE_FILE_INVALID',
  SOURCE_KUBE_FAILED: 'PR_SOURCE_KUBE_FAILED',
  KUBE_API: 'PR_KUBE_API',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class PodrouterError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodrouterError';
    this.code = code;
  }
}

/** A setting has a value the router cannot run with; the CLI exits with status 2. */
export class ConfigError extends PodrouterError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(ErrorCodes.CONFIG_INVALID, `invalid ${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/**
 * The API server answered a request with an error status (or could not be reached:
 * `status` 0). `reason` is the Status reason (`Forbidden`, `Expired`, ...) when it sent one.
 */
export class KubeApiError extends PodrouterError {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.KUBE_API, message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }

  /** 410 Gone: the resourceVersion is too old (compacted); only a new list helps. */
  get gone(): boolean {
    return this.status === 410;
  }

  get forbidden(): boolean {
    return this.status === 403;
  }
}
