import type { ClusterState } from '@podrouter/core';
import { type KeySet, parseKeyField } from './parse-secret.ts';

export interface KeyStoreOptions {
  readonly secretName: string;
  readonly field: string;
  readonly base64Compat: boolean;
}

/**
 * Namespace → its API keys for this router tier. A namespace is absent when it has no Secret
 * at the location or the Secret lacks the field (then its routes need no key, as with
 * k8s-router); a field that cannot be parsed is kept as `invalid`, which closes its routes.
 */
export function keySetsOf(state: ClusterState, options: KeyStoreOptions): Map<string, KeySet> {
  const sets = new Map<string, KeySet>();
  for (const secret of state.secrets) {
    if (secret.name !== options.secretName) continue;
    const bytes = secret.data[options.field];
    if (bytes === undefined) continue;
    sets.set(secret.namespace, parseKeyField(bytes, { base64Compat: options.base64Compat }));
  }
  return sets;
}
