import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { ResolvedLimits } from './config.ts';
import type { Decision, WindowState } from './types.ts';

const SCRIPT = readFileSync(new URL('./gcra.lua', import.meta.url), 'utf8');

export interface RedisOptions {
  readonly url: string;
  readonly sentinels: readonly { host: string; port: number }[];
  readonly sentinelMaster: string;
  readonly clusterNodes: readonly { host: string; port: number }[];
  readonly password: string;
  readonly timeoutMs: number;
}

type Client = Redis | Cluster;

interface WithScript {
  podrouterTake(...args: (string | number)[]): Promise<number[]>;
}

/**
 * The one Redis connection of a router (standalone URL, Sentinel or Cluster). Commands fail
 * at once while disconnected (no offline queue) and after `timeoutMs` when Redis is slow, so
 * a request never waits longer than that; ioredis reconnects on its own.
 */
export function connectRedis(options: RedisOptions): Client {
  const common = {
    commandTimeout: options.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    lazyConnect: false,
  };
  let client: Client;
  if (options.clusterNodes.length > 0) {
    client = new Cluster([...options.clusterNodes], {
      enableOfflineQueue: false,
      clusterRetryStrategy: common.retryStrategy,
      redisOptions: {
        ...common,
        ...(options.password ? { password: options.password } : {}),
      },
    });
  } else if (options.sentinels.length > 0) {
    client = new Redis({
      ...common,
      sentinels: [...options.sentinels],
      name: options.sentinelMaster,
      ...(options.password
        ? { password: options.password, sentinelPassword: options.password }
        : {}),
    });
  } else {
    client = new Redis(options.url, common);
  }
  client.defineCommand('podrouterTake', { lua: SCRIPT });
  return client;
}

/**
 * Keys of one consumer share a hash tag, so in Redis Cluster they live in one slot and the
 * script may touch them all.
 */
export function scriptKeys(counterKey: string, limits: ResolvedLimits): string[] {
  const keys = limits.windows.map((window) => `podrouter:{${counterKey}}:${window.name}`);
  keys.push(`podrouter:{${counterKey}}:day`);
  return keys;
}

/** Runs the GCRA script: asks for `want` requests, returns how many were granted. */
export async function takeFromRedis(
  client: Client,
  counterKey: string,
  limits: ResolvedLimits,
  want: number,
): Promise<{ granted: number; decision: Decision }> {
  const keys = scriptKeys(counterKey, limits);
  const args: (string | number)[] = [keys.length, ...keys, want, limits.windows.length];
  for (const window of limits.windows) args.push(window.limit, window.periodMs);
  args.push(limits.day);
  const reply = await (client as unknown as WithScript).podrouterTake(...args);
  const granted = reply[0] ?? 0;
  const windows: WindowState[] = limits.windows.map((window, i) => ({
    name: window.name,
    remaining: Math.max(0, reply[2 + 2 * i] ?? 0),
    resetMs: reply[3 + 2 * i] ?? 0,
  }));
  if (limits.day > 0) {
    const at = 2 + 2 * limits.windows.length;
    windows.push({
      name: 'day',
      remaining: Math.max(0, reply[at] ?? 0),
      resetMs: reply[at + 1] ?? 0,
    });
  }
  return { granted, decision: { allowed: granted > 0, retryAfterMs: reply[1] ?? 0, windows } };
}
