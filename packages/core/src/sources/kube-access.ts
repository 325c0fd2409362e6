import { ErrorCodes, PodrouterError } from '../errors.ts';
import type { KubeConnection } from '../kube/connection.ts';
import { kubeRequest, statusMessage } from '../kube/request.ts';

/** One permission the router needs, as a SelfSubjectAccessReview asks for it. */
export interface AccessNeed {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  /** '' = cluster scope (all namespaces). */
  readonly namespace: string;
  /** Set when RBAC may restrict the grant to this name (list/watch with a name field selector). */
  readonly name?: string;
  /** The optional feature that needs it (turned off without it); absent = the router needs it. */
  readonly feature?: string;
}

/** The feature name of Pod Events (POD_EVENTS), as metrics and `/routes` show it. */
export const POD_EVENTS_FEATURE = 'pod-events';

export interface AccessScope {
  /** Empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly secretName: string;
  /** Whether the router writes Events on Pods. */
  readonly events: boolean;
  /** DEFAULT_TLS_SECRET, when TLS is on. (The Secrets Pods name are not known at start: a
   * denied one disables TLS for its hosts, with the grant to add as the reason.) */
  readonly defaultTlsSecret?: { readonly namespace: string; readonly name: string };
}

/** Exactly what docs/rbac.md and examples/rbac/router.yaml grant. */
export function accessNeeds(scope: AccessScope): AccessNeed[] {
  const namespaces = scope.namespaces.length === 0 ? [''] : scope.namespaces;
  const needs: AccessNeed[] = [];
  for (const namespace of namespaces) {
    for (const verb of ['list', 'watch']) {
      needs.push({ verb, group: '', resource: 'pods', namespace });
      needs.push({ verb, group: '', resource: 'secrets', namespace, name: scope.secretName });
    }
    if (scope.events) {
      for (const verb of ['create', 'patch', 'get']) {
        needs.push({
          verb,
          group: 'events.k8s.io',
          resource: 'events',
          namespace,
          feature: POD_EVENTS_FEATURE,
        });
      }
    }
  }
  if (scope.defaultTlsSecret !== undefined) {
    const { namespace, name } = scope.defaultTlsSecret;
    for (const verb of ['list', 'watch']) {
      needs.push({ verb, group: '', resource: 'secrets', namespace, name });
    }
  }
  return needs;
}

export function describeNeed(need: AccessNeed): string {
  const resource = need.group === '' ? need.resource : `${need.resource}.${need.group}`;
  const named = need.name !== undefined ? ` named ${need.name}` : '';
  const scope = need.namespace === '' ? 'at cluster scope' : `in namespace ${need.namespace}`;
  return `${need.verb} ${resource}${named} ${scope}`;
}

export interface AccessResult {
  /** false: the API server could not answer; nothing is known. */
  readonly checked: boolean;
  readonly user?: string;
  /** Optional features to turn off, with what they lack (described). */
  readonly disabled: ReadonlyMap<string, readonly string[]>;
}

/**
 * Asks the API server, before the first list, whether this identity may do everything in
 * `needs` (SelfSubjectAccessReview, which every authenticated identity may create). A denied
 * required need is a PodrouterError naming each missing verb and resource: the router cannot
 * work, and retrying would only hide the cause. A denied optional need turns its feature off
 * (`disabled`), for the caller to say so. When the API server cannot answer (down, or reviews
 * not allowed) the check is skipped: the watches retry and report on their own.
 */
export async function checkAccess(
  config: KubeConnection,
  needs: readonly AccessNeed[],
): Promise<AccessResult> {
  let denied: AccessNeed[];
  try {
    const answers = await Promise.all(
      needs.map(async (need) => {
        const response = await kubeRequest(
          config,
          'POST',
          '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
          {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              resourceAttributes: {
                verb: need.verb,
                group: need.group,
                resource: need.resource,
                namespace: need.namespace,
                ...(need.name !== undefined ? { name: need.name } : {}),
              },
            },
          },
        );
        if (response.status !== 201 && response.status !== 200) {
          throw new Error(`HTTP ${response.status}: ${statusMessage(response.body)}`);
        }
        const allowed = (response.body as { status?: { allowed?: boolean } }).status?.allowed;
        return { need, allowed: allowed === true };
      }),
    );
    denied = answers.filter((answer) => !answer.allowed).map((answer) => answer.need);
  } catch {
    return { checked: false, disabled: new Map() };
  }
  const user = denied.length > 0 ? await whoAmI(config) : undefined;
  const required = denied.filter((need) => need.feature === undefined);
  const disabled = new Map<string, string[]>();
  for (const need of denied) {
    if (need.feature === undefined) continue;
    const list = disabled.get(need.feature);
    if (list) list.push(describeNeed(need));
    else disabled.set(need.feature, [describeNeed(need)]);
  }
  if (required.length === 0) return { checked: true, ...(user ? { user } : {}), disabled };
  throw new PodrouterError(
    ErrorCodes.SOURCE_KUBE_FAILED,
    `forbidden: ${user ?? 'this identity'} may not ${required.map(describeNeed).join('; ')}. ` +
      'Grant them (docs/rbac.md, examples/rbac/router.yaml) or narrow WATCH_NAMESPACES.',
  );
}

/** The authenticated user name (SelfSubjectReview), for messages; undefined if unknown. */
async function whoAmI(config: KubeConnection): Promise<string | undefined> {
  try {
    const response = await kubeRequest(
      config,
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    return (response.body as { status?: { userInfo?: { username?: string } } }).status?.userInfo
      ?.username;
  } catch {
    return undefined;
  }
}
