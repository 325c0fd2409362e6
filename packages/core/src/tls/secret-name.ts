/**
 * The value of the TLS Secret annotation (`publicTlsSecret` / `privateTlsSecret`): the name of
 * one Secret in the Pod's own namespace. A `namespace/name` value is refused on purpose: a Pod
 * must not be able to serve (or probe for) another namespace's certificate.
 */

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME = 253;

export function parseSecretName(value: string): { name: string } | { reason: string } {
  const name = value.trim();
  if (name === '') return { reason: 'empty: name a kubernetes.io/tls Secret of this namespace' };
  if (/\s/.test(name)) return { reason: 'one Secret name only' };
  if (name.includes('/')) {
    return { reason: "the Secret must be in the Pod's own namespace: give its name only" };
  }
  if (name.length > MAX_NAME || !SUBDOMAIN.test(name)) {
    return {
      reason: `not a Secret name (lower-case a-z, 0-9, "-" and ".", at most ${MAX_NAME} characters)`,
    };
  }
  return { name };
}

/** `NAMESPACE/NAME` of DEFAULT_TLS_SECRET, or a reason. */
export function parseSecretRef(
  value: string,
): { namespace: string; name: string } | { reason: string } {
  const slash = value.indexOf('/');
  if (slash === -1) return { reason: `"${value}" is not NAMESPACE/NAME` };
  const namespace = value.slice(0, slash);
  const name = parseSecretName(value.slice(slash + 1));
  if ('reason' in name) return { reason: `"${value}" is not NAMESPACE/NAME: ${name.reason}` };
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    return { reason: `"${value}" is not NAMESPACE/NAME: "${namespace}" is not a namespace` };
  }
  return { namespace, name: name.name };
}
