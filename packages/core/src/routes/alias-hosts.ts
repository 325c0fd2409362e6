/**
 * The host forms of a Kubernetes Service name, as the private router and the alias
 * controller both read them: `svc.ns`, `svc.ns.svc` and `svc.ns.svc.<cluster-domain>` all
 * name the Service `svc` of namespace `ns`; a bare `svc` names it only from inside `ns`
 * (the Pod's DNS search path), so it is resolved by the caller's namespace.
 */

export interface ServiceAlias {
  readonly service: string;
  readonly namespace: string;
}

/** Service names are DNS-1035 labels; namespaces are DNS-1123 labels. */
const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Reads a normalized host (lower case, no port, no trailing dot) as a Service alias, or says
 * why it is not one.
 */
export function parseAliasHost(
  host: string,
  clusterDomain: string,
): { alias: ServiceAlias } | { reason: string } {
  const labels = host.split('.');
  const suffix = labels.slice(2).join('.');
  if (
    labels.length < 2 ||
    !(suffix === '' || suffix === 'svc' || suffix === `svc.${clusterDomain}`)
  ) {
    return {
      reason: `"${host}" is not of the form <service>.<namespace>[.svc[.${clusterDomain}]]`,
    };
  }
  const [service = '', namespace = ''] = labels;
  if (!DNS_1035.test(service)) {
    return {
      reason: `"${service}" is not a valid Service name (DNS-1035 label: a-z, 0-9 and "-", starting with a letter, at most 63 characters)`,
    };
  }
  if (!DNS_1123.test(namespace)) {
    return { reason: `"${namespace}" is not a valid namespace name` };
  }
  return { alias: { service, namespace } };
}

/** The canonical `svc.ns` form of any alias host, or `undefined` for other hosts. */
export function canonicalAliasHost(host: string, clusterDomain: string): string | undefined {
  const parsed = parseAliasHost(host, clusterDomain);
  return 'alias' in parsed ? `${parsed.alias.service}.${parsed.alias.namespace}` : undefined;
}
