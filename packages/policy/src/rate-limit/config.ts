import { parse } from 'yaml';

/**
 * RATE_LIMITS: limits per plan (consumer tier), with per-namespace overrides.
 *
 *   plans:
 *     default:   { second: 10, minute: 300, day: 10000 }
 *     gold:      { second: 100, minute: 6000, day: 1000000 }
 *     anonymous: { second: 50 }          # requests without a credential, shared per namespace
 *   namespaces:
 *     payments:
 *       default: { second: 2 }           # merged field by field over plans.default
 *
 * Each number is how many requests one consumer may make in that window; `day` is a quota
 * that resets at 00:00 UTC. A consumer whose plan is not listed gets `default`.
 */

export interface Limits {
  readonly second?: number;
  readonly minute?: number;
  readonly day?: number;
}

export interface RateLimitConfig {
  readonly plans: ReadonlyMap<string, Limits>;
  readonly namespaces: ReadonlyMap<string, ReadonlyMap<string, Limits>>;
}

export interface Window {
  readonly name: 'second' | 'minute';
  readonly limit: number;
  readonly periodMs: number;
}

/** The limits of one plan in one namespace, ready for the limiter and the headers. */
export interface ResolvedLimits {
  readonly windows: readonly Window[];
  /** Daily quota; 0 = none. */
  readonly day: number;
  /** `RateLimit-Policy` header value (IETF httpapi draft). */
  readonly policyHeader: string;
  /** The smallest limit, which bounds the local-first lease. */
  readonly smallest: number;
}

const WINDOWS = ['second', 'minute', 'day'] as const;

function limitsOf(value: unknown, where: string): Limits {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where}: expected { second?, minute?, day? }`);
  }
  const limits: Record<string, number> = {};
  for (const [name, count] of Object.entries(value)) {
    if (!(WINDOWS as readonly string[]).includes(name)) {
      throw new Error(`${where}: unknown window "${name}" (use second, minute, day)`);
    }
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      throw new Error(`${where}.${name}: expected a positive integer`);
    }
    limits[name] = count;
  }
  return limits;
}

function plansOf(value: unknown, where: string): Map<string, Limits> {
  if (value === undefined || value === null) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where}: expected a map of plan → limits`);
  }
  return new Map(
    Object.entries(value).map(([plan, limits]) => [plan, limitsOf(limits, `${where}.${plan}`)]),
  );
}

/** Parses the YAML/JSON text; throws an Error naming the offending path. */
export function parseRateLimits(text: string): RateLimitConfig {
  const document: unknown = parse(text);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new Error('expected a map with "plans" and optionally "namespaces"');
  }
  const { plans, namespaces, ...rest } = document as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new Error(`unknown key "${unknown}"`);
  const byNamespace = new Map<string, Map<string, Limits>>();
  if (namespaces !== undefined && namespaces !== null) {
    if (typeof namespaces !== 'object' || Array.isArray(namespaces)) {
      throw new Error('namespaces: expected a map of namespace → plans');
    }
    for (const [namespace, overrides] of Object.entries(namespaces)) {
      byNamespace.set(namespace, plansOf(overrides, `namespaces.${namespace}`));
    }
  }
  return { plans: plansOf(plans, 'plans'), namespaces: byNamespace };
}

function resolve(limits: Limits): ResolvedLimits | undefined {
  const windows: Window[] = [];
  if (limits.second) windows.push({ name: 'second', limit: limits.second, periodMs: 1000 });
  if (limits.minute) windows.push({ name: 'minute', limit: limits.minute, periodMs: 60_000 });
  const day = limits.day ?? 0;
  if (windows.length === 0 && day === 0) return undefined;
  const policies = windows.map((w) => `"${w.name}";q=${w.limit};w=${w.periodMs / 1000}`);
  if (day > 0) policies.push(`"day";q=${day};w=86400`);
  return {
    windows,
    day,
    policyHeader: policies.join(', '),
    smallest: Math.min(...windows.map((w) => w.limit), day > 0 ? day : Number.POSITIVE_INFINITY),
  };
}

/**
 * plan → limits for one namespace (the `default` plan always present when any limit
 * applies). Computed once per namespace and table build, never per request.
 */
export function limitsForNamespace(
  config: RateLimitConfig,
  namespace: string,
): ReadonlyMap<string, ResolvedLimits> {
  const overrides = config.namespaces.get(namespace);
  const names = new Set([...config.plans.keys(), ...(overrides?.keys() ?? [])]);
  const resolved = new Map<string, ResolvedLimits>();
  for (const name of names) {
    const limits = resolve({ ...config.plans.get(name), ...overrides?.get(name) });
    if (limits) resolved.set(name, limits);
  }
  return resolved;
}
