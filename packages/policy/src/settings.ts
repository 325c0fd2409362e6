import { ConfigError, type ConfigOf, parsers, setting } from '@podrouter/core';

/**
 * The policy settings. They join the router's own in `--help` and in flag/env parsing;
 * docs/policy.md explains each. Secrets (REDIS_PASSWORD) are read but never logged.
 */

const list = parsers.namespaces;

const hostPorts = (raw: string, name: string) =>
  list(raw).map((item) => {
    const match = /^(.+):([0-9]{1,5})$/.exec(item);
    if (!match) return fail(name, `"${item}" is not HOST:PORT`);
    return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  });

const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};

const url = (raw: string, name: string) => {
  if (raw === '') return '';
  try {
    const parsed = new URL(raw);
    return parsed.protocol === 'http:' ||
      parsed.protocol === 'https:' ||
      parsed.protocol.startsWith('redis')
      ? raw
      : fail(name, `"${parsed.protocol}" is not a supported scheme`);
  } catch {
    return fail(name, 'not a URL');
  }
};

const s = setting;

export const POLICY_SETTINGS = [
  s({
    key: 'apiKeyBase64Compat',
    env: 'API_KEY_BASE64_COMPAT',
    flag: '--api-key-base64-compat',
    description:
      'Also accept the base64 form of the whole Secret field as a key, as k8s-router did. Off by default.',
    default: () => 'false',
    parse: parsers.bool,
    boolean: true,
  }),
  s({
    key: 'keyIdHeader',
    env: 'API_KEY_ID_HEADER',
    flag: '--api-key-id-header',
    description:
      "Header sent upstream instead of the key: the first 8 hex digits of the key's SHA-256.",
    default: () => 'X-Podrouter-Key-Id',
    parse: parsers.headerName,
  }),
  s({
    key: 'rateLimits',
    env: 'RATE_LIMITS',
    flag: '--rate-limits',
    description:
      'Rate limits and quotas per plan with per-namespace overrides, inline YAML/JSON (see docs/policy.md); empty = none.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'rateLimitsFile',
    env: 'RATE_LIMITS_FILE',
    flag: '--rate-limits-file',
    description: 'The same as RATE_LIMITS, read from a YAML/JSON file at start.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'rateLimitMode',
    env: 'RATE_LIMIT_MODE',
    flag: '--rate-limit-mode',
    description:
      'remote: one Redis script call per request (exact); local-first: lease RATE_LIMIT_LEASE requests at a time (bounded error, see docs).',
    default: () => 'remote',
    parse: parsers.oneOf('remote', 'local-first'),
  }),
  s({
    key: 'rateLimitLease',
    env: 'RATE_LIMIT_LEASE',
    flag: '--rate-limit-lease',
    description:
      'local-first: requests leased per Redis call and consumer (capped at 10% of the smallest limit, at least 1).',
    default: () => '20',
    parse: parsers.count,
  }),
  s({
    key: 'rateLimitLeaseTtlMs',
    env: 'RATE_LIMIT_LEASE_TTL',
    flag: '--rate-limit-lease-ttl',
    description: 'local-first: unused leased requests expire after this long.',
    default: () => '1s',
    parse: parsers.duration,
  }),
  s({
    key: 'rateLimitFailureMode',
    env: 'RATE_LIMIT_FAILURE_MODE',
    flag: '--rate-limit-failure-mode',
    description:
      'Redis slow or down: open (serve without limits) or closed (answer 503). Either way a metric and a log line say so.',
    default: () => 'open',
    parse: parsers.oneOf('open', 'closed'),
  }),
  s({
    key: 'redisUrl',
    env: 'REDIS_URL',
    flag: '--redis-url',
    description: 'Redis for shared limits: redis://[:password@]host:port[/db] or rediss://.',
    default: () => '',
    parse: url,
  }),
  s({
    key: 'redisSentinels',
    env: 'REDIS_SENTINELS',
    flag: '--redis-sentinels',
    description: 'Redis Sentinel instead: comma-separated HOST:PORT of the sentinels.',
    default: () => '',
    parse: hostPorts,
  }),
  s({
    key: 'redisSentinelMaster',
    env: 'REDIS_SENTINEL_MASTER',
    flag: '--redis-sentinel-master',
    description: 'With REDIS_SENTINELS: the name of the master group.',
    default: () => 'mymaster',
    parse: parsers.nonEmpty,
  }),
  s({
    key: 'redisClusterNodes',
    env: 'REDIS_CLUSTER_NODES',
    flag: '--redis-cluster-nodes',
    description: 'Redis Cluster instead: comma-separated HOST:PORT of some cluster nodes.',
    default: () => '',
    parse: hostPorts,
  }),
  s({
    key: 'redisPassword',
    env: 'REDIS_PASSWORD',
    flag: '--redis-password',
    description: 'Password for Sentinel/Cluster nodes (prefer the env variable). Never logged.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'redisTimeoutMs',
    env: 'REDIS_TIMEOUT',
    flag: '--redis-timeout',
    description:
      'Longest wait for a Redis answer before the limit fails open/closed; Redis is then skipped for 1s.',
    default: () => '50ms',
    parse: parsers.duration,
  }),
  s({
    key: 'jwtJwksUrl',
    env: 'JWT_JWKS_URL',
    flag: '--jwt-jwks-url',
    description:
      'Accept Authorization: Bearer JWTs signed by keys of this JWKS URL (cached, refetched on an unknown kid).',
    default: () => '',
    parse: url,
  }),
  s({
    key: 'jwtJwksField',
    env: 'JWT_JWKS_FIELD',
    flag: '--jwt-jwks-field',
    description:
      'Field of the per-namespace API key Secret holding a JWKS (JSON): that namespace accepts JWTs signed by it.',
    default: () => '',
    parse: parsers.text,
  }),
  s({
    key: 'jwtIssuer',
    env: 'JWT_ISSUER',
    flag: '--jwt-issuer',
    description: 'Comma-separated accepted `iss` values (required when JWTs are on).',
    default: () => '',
    parse: list,
  }),
  s({
    key: 'jwtAudience',
    env: 'JWT_AUDIENCE',
    flag: '--jwt-audience',
    description: 'Comma-separated accepted `aud` values (required when JWTs are on).',
    default: () => '',
    parse: list,
  }),
  s({
    key: 'jwtClockSkewMs',
    env: 'JWT_CLOCK_SKEW',
    flag: '--jwt-clock-skew',
    description: 'Tolerance for exp/nbf/iat.',
    default: () => '30s',
    parse: parsers.duration,
  }),
  s({
    key: 'jwtPlanClaim',
    env: 'JWT_PLAN_CLAIM',
    flag: '--jwt-plan-claim',
    description: 'Claim naming the consumer\'s plan (rate-limit tier); absent → plan "default".',
    default: () => 'plan',
    parse: parsers.nonEmpty,
  }),
  s({
    key: 'jwtRequiredNamespaces',
    env: 'JWT_REQUIRED_NAMESPACES',
    flag: '--jwt-required-namespaces',
    description:
      'With JWT_JWKS_URL: namespaces whose routes need a credential even without a key Secret (comma list, * = all).',
    default: () => '',
    parse: list,
  }),
  s({
    key: 'jwtJwksCooldownMs',
    env: 'JWT_JWKS_COOLDOWN',
    flag: '--jwt-jwks-cooldown',
    description: 'Least time between two JWKS fetches (an unknown kid triggers one).',
    default: () => '30s',
    parse: parsers.duration,
  }),
  s({
    key: 'jwtJwksCacheMaxAgeMs',
    env: 'JWT_JWKS_CACHE_MAX_AGE',
    flag: '--jwt-jwks-cache-max-age',
    description: 'The JWKS is refetched when older than this.',
    default: () => '10m',
    parse: parsers.duration,
  }),
  s({
    key: 'hooksModule',
    env: 'HOOKS_MODULE',
    flag: '--hooks-module',
    description:
      'Comma-separated paths of ES modules of custom hooks (see examples/hooks/ and docs/policy.md); empty = none.',
    default: () => '',
    parse: parsers.text,
  }),
] as const;

/** The policy's settings, parsed: the type comes from the parsers above. */
export type PolicySettings = ConfigOf<typeof POLICY_SETTINGS>;
