import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * client-node 2.x builds a new undici Agent for every API call (in
 * `applySecurityAuthentication` → `createDispatcher`), so each list, patch or Event write
 * opens a new TLS connection: a third of the controller's CPU went to handshakes. This
 * keeps one dispatcher per distinct TLS identity (cluster, CA, client certificate, key), so
 * calls share keep-alive connections, and a rotated certificate still gets a new one.
 *
 * `createDispatcher` is private in client-node's typings; this relies on it, and the test
 * beside this file fails if an upgrade changes that.
 */
type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;

const fingerprint = (cluster: unknown, agentOptions: Record<string, unknown>): string => {
  const hash = createHash('sha256');
  const { name, server, proxyUrl } = (cluster ?? {}) as Record<string, unknown>;
  hash.update(JSON.stringify([name, server, proxyUrl]));
  for (const key of Object.keys(agentOptions).sort()) {
    const value = agentOptions[key];
    hash.update(`\u0000${key}=`);
    if (Buffer.isBuffer(value)) hash.update(value);
    else hash.update(JSON.stringify(value) ?? 'undefined');
  }
  return hash.digest('hex');
};

export function shareDispatcher(config: KubeConfig): KubeConfig {
  const target = config as unknown as { createDispatcher: CreateDispatcher };
  if (typeof target.createDispatcher !== 'function') {
    throw new Error(
      '@kubernetes/client-node no longer has KubeConfig.createDispatcher; update shared-dispatcher.ts',
    );
  }
  const create = target.createDispatcher.bind(config);
  const cache = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = fingerprint(cluster, agentOptions);
    let dispatcher = cache.get(key);
    if (dispatcher === undefined) {
      // A handful of identities at most; bound it anyway against rotation churn.
      if (cache.size >= 8) cache.clear();
      dispatcher = create(cluster, agentOptions);
      cache.set(key, dispatcher);
    }
    return dispatcher;
  };
  return config;
}
