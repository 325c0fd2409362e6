import { readFileSync } from 'node:fs';
import {
  type ClusterState,
  ConfigError,
  defineExtension,
  type Extension,
  type Logger,
  type RouterConfig,
} from '@podrouter/core';
import type { JWTVerifyGetKey } from 'jose';
import { keySetsOf } from './api-key/key-store.ts';
import { PolicyErrorCodes } from './errors.ts';
import { loadHooks } from './hooks/load.ts';
import { PolicyMetrics } from './metrics.ts';
import {
  authenticateStep,
  type NamespaceCredentials,
  PLAN_HEADER,
  SUBJECT_HEADER,
} from './pipeline/authenticate.ts';
import { pipelineCompiler } from './pipeline/compose.ts';
import type { StepDefinition } from './pipeline/types.ts';
import { Availability } from './rate-limit/availability.ts';
import { sharedClientRate } from './rate-limit/client-rate.ts';
import { parseRateLimits, type RateLimitConfig } from './rate-limit/config.ts';
import { rateLimitStep } from './rate-limit/step.ts';
import type { Limiter } from './rate-limit/types.ts';
import { POLICY_SETTINGS, type PolicySettings } from './settings.ts';

const STARTUP_WAIT_MS = 2000;

function loadRateLimits(settings: PolicySettings): RateLimitConfig | undefined {
  if (settings.rateLimits !== '' && settings.rateLimitsFile !== '') {
    throw new ConfigError(
      'RATE_LIMITS (--rate-limits)',
      'set RATE_LIMITS or RATE_LIMITS_FILE, not both',
    );
  }
  const [name, text] =
    settings.rateLimitsFile !== ''
      ? ['RATE_LIMITS_FILE (--rate-limits-file)', readText(settings.rateLimitsFile)]
      : ['RATE_LIMITS (--rate-limits)', settings.rateLimits];
  if (text.trim() === '') return undefined;
  try {
    return parseRateLimits(text);
  } catch (error) {
    throw new ConfigError(
      name,
      `${(error as Error).message} (${PolicyErrorCodes.RATE_LIMITS_INVALID})`,
    );
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'RATE_LIMITS_FILE (--rate-limits-file)',
      `cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

const redisConfigured = (settings: PolicySettings) =>
  settings.redisUrl !== '' ||
  settings.redisSentinels.length > 0 ||
  settings.redisClusterNodes.length > 0;

async function createLimiter(
  settings: PolicySettings,
  logger: Logger,
  metrics: PolicyMetrics,
): Promise<Limiter> {
  if (!redisConfigured(settings)) {
    throw new ConfigError(
      'RATE_LIMITS (--rate-limits)',
      'limits are shared through Redis: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES',
    );
  }
  // Loaded only when limits are configured: ioredis is the heaviest import of the router.
  const { connectRedis } = await import('./rate-limit/redis-client.ts');
  const client = connectRedis({
    url: settings.redisUrl,
    sentinels: settings.redisSentinels,
    sentinelMaster: settings.redisSentinelMaster,
    clusterNodes: settings.redisClusterNodes,
    password: settings.redisPassword,
    timeoutMs: settings.redisTimeoutMs,
  });
  // Connection errors surface through the calls that fail (Availability logs them once).
  client.on('error', () => {});
  const availability = new Availability({ logger, metrics });
  // A (re)connection ends the pause after a failure at once: recovery needs no request.
  client.on('ready', () => {
    logger.debug('Redis connection ready');
    availability.succeeded();
  });
  // Give Redis a moment before serving, so the first requests are counted; if it is down the
  // router starts anyway and limits fail open/closed until it answers.
  await Promise.race([
    new Promise((ready) => client.once('ready', ready)),
    new Promise((timeUp) => setTimeout(timeUp, STARTUP_WAIT_MS).unref()),
  ]);
  if (settings.rateLimitMode === 'local-first') {
    const { LocalFirstLimiter } = await import('./rate-limit/local-first-limiter.ts');
    return new LocalFirstLimiter(client, availability, {
      lease: settings.rateLimitLease,
      leaseTtlMs: settings.rateLimitLeaseTtlMs,
    });
  }
  const { RemoteLimiter } = await import('./rate-limit/remote-limiter.ts');
  return new RemoteLimiter(client, availability);
}

interface CredentialsOptions {
  readonly config: RouterConfig;
  readonly settings: PolicySettings;
  readonly remote: JWTVerifyGetKey | undefined;
  /** jwt/verify.ts, loaded only when JWTs are on. */
  readonly jwtModule: JwtModule | undefined;
}

type JwtModule = typeof import('./jwt/verify.ts');

/** Cluster state → what each namespace accepts, and why a namespace is closed. */
export function credentialsOf(
  state: ClusterState,
  { config, settings, remote, jwtModule }: CredentialsOptions,
): {
  credentials: Map<string, NamespaceCredentials>;
  closed: Map<string, { code: string; reason: string }>;
} {
  const { secretName, field } = config.apiKeySecretLocation;
  const keySets = keySetsOf(state, {
    secretName,
    field,
    base64Compat: settings.apiKeyBase64Compat,
  });
  const own = new Map<string, NamespaceCredentials['jwt']>();
  if (settings.jwtJwksField !== '' && jwtModule !== undefined) {
    for (const secret of state.secrets) {
      const bytes = secret.name === secretName ? secret.data[settings.jwtJwksField] : undefined;
      if (bytes === undefined) continue;
      try {
        own.set(secret.namespace, jwtModule.secretKeys(bytes));
      } catch (error) {
        own.set(secret.namespace, { invalid: (error as Error).message });
      }
    }
  }
  const required = new Set(settings.jwtRequiredNamespaces);
  const namespaces = new Set([...keySets.keys(), ...own.keys()]);
  if (remote !== undefined && required.size > 0) {
    for (const pod of state.pods) {
      if (required.has('*') || required.has(pod.namespace)) namespaces.add(pod.namespace);
    }
  }
  const credentials = new Map<string, NamespaceCredentials>();
  const closed = new Map<string, { code: string; reason: string }>();
  for (const namespace of namespaces) {
    const keys = keySets.get(namespace);
    const jwt = own.get(namespace) ?? remote;
    credentials.set(namespace, { keys, jwt });
    if (keys?.kind === 'invalid') {
      closed.set(namespace, {
        code: PolicyErrorCodes.API_KEY_SECRET_INVALID,
        reason: `Secret ${secretName}, field ${field}: ${keys.reason}`,
      });
    } else if (jwt !== undefined && 'invalid' in jwt) {
      closed.set(namespace, {
        code: PolicyErrorCodes.JWKS_SECRET_INVALID,
        reason: `Secret ${secretName}, field ${settings.jwtJwksField}: ${jwt.invalid}`,
      });
    }
  }
  return { credentials, closed };
}

/**
 * The API-management policy of both builds: API keys per namespace, JWTs, rate limits and
 * quotas in Redis, custom hooks, composed per route in explicit order (request hooks 100+,
 * authenticate 200, rate-limit 300, before-proxy hooks 400+).
 */
export const policyExtension: Extension = defineExtension({
  name: 'policy',
  settings: POLICY_SETTINGS,
  async configure({ config, values: settings, logger }) {
    const tier = config.build.tier;
    const metrics = new PolicyMetrics(tier);
    const jwtOn = settings.jwtJwksUrl !== '' || settings.jwtJwksField !== '';
    if (jwtOn && (settings.jwtIssuer.length === 0 || settings.jwtAudience.length === 0)) {
      throw new ConfigError(
        settings.jwtIssuer.length === 0
          ? 'JWT_ISSUER (--jwt-issuer)'
          : 'JWT_AUDIENCE (--jwt-audience)',
        'required when JWT_JWKS_URL or JWT_JWKS_FIELD is set',
      );
    }
    const rateLimits = loadRateLimits(settings);
    const hooks = await loadHooks(
      settings.hooksModule
        .split(',')
        .map((path) => path.trim())
        .filter((path) => path !== ''),
      { tier, logger },
    );
    // CLIENT_RATE_LIMIT is shared through the same Redis and limiter when Redis is set.
    const clientRate = config.clientRateLimit.perSecond > 0 && redisConfigured(settings);
    const limiter =
      rateLimits || clientRate ? await createLimiter(settings, logger, metrics) : undefined;
    const jwtModule = jwtOn ? await import('./jwt/verify.ts') : undefined;
    const remote =
      settings.jwtJwksUrl === '' || jwtModule === undefined
        ? undefined
        : jwtModule.remoteKeys(settings.jwtJwksUrl, {
            cooldownMs: settings.jwtJwksCooldownMs,
            cacheMaxAgeMs: settings.jwtJwksCacheMaxAgeMs,
          });
    const jwt = {
      issuer: settings.jwtIssuer,
      audience: settings.jwtAudience,
      clockSkewMs: settings.jwtClockSkewMs,
      planClaim: settings.jwtPlanClaim,
    };
    // Depends on configuration only: built once, so its per-namespace limits cache lasts.
    const limitStep =
      rateLimits && limiter
        ? rateLimitStep({
            config: rateLimits,
            limiter,
            tier,
            failureMode: settings.rateLimitFailureMode,
            metrics,
          })
        : undefined;
    let reported = new Map<string, string>();
    return {
      policies: (state) => {
        const { credentials, closed } = credentialsOf(state, {
          config,
          settings,
          remote,
          jwtModule,
        });
        for (const [namespace, { code, reason }] of closed) {
          if (reported.get(namespace) !== reason) {
            logger.error(
              { code, namespace, reason },
              'credentials of a namespace are invalid: its routes are closed (503) until fixed',
            );
          }
        }
        for (const namespace of reported.keys()) {
          if (!closed.has(namespace)) {
            logger.info(
              { namespace },
              'credentials of a namespace are valid again: routes reopened',
            );
          }
        }
        reported = new Map([...closed].map(([namespace, { reason }]) => [namespace, reason]));
        metrics.closedNamespaces(closed.size);
        const steps: StepDefinition[] = [
          ...hooks,
          authenticateStep({
            credentials,
            keyHeader: config.apiKeyHeader,
            keyIdHeader: settings.keyIdHeader,
            verifyToken: jwtModule && ((token, keys) => jwtModule.verifyJwt(token, keys, jwt)),
            metrics,
          }),
        ];
        if (limitStep) steps.push(limitStep);
        return pipelineCompiler(steps);
      },
      metrics: metrics.registry,
      identityHeaders: [settings.keyIdHeader, SUBJECT_HEADER, PLAN_HEADER],
      ...(clientRate && limiter
        ? {
            sharedClientRate: sharedClientRate({
              limiter,
              tier,
              perSecond: config.clientRateLimit.perSecond,
              burst: config.clientRateBurst,
              metrics,
            }),
          }
        : {}),
      status: () => ({
        closedNamespaces: Object.fromEntries(reported),
        rateLimits: rateLimits
          ? { mode: settings.rateLimitMode, failureMode: settings.rateLimitFailureMode }
          : null,
        clientRateShared: clientRate,
      }),
      close: async () => {
        await limiter?.close();
      },
    };
  },
});
