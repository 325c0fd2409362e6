import { apiError, KubeApiError, type KubeConnection, kubeRequest } from '@podrouter/core';
import type { AliasWriter } from '../alias/apply.ts';
import type { ObjectRef } from '../alias/diff.ts';
import { FIELD_MANAGER, type KubeObject } from '../alias/types.ts';

/** Thrown by a write attempted while this replica does not lead. */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: writes are refused');
    this.name = 'NotLeaderError';
  }
}

/** The collection of each kind the controller writes. */
const COLLECTIONS: Readonly<Record<string, string>> = {
  Service: '/api/v1/namespaces/NS/services',
  Endpoints: '/api/v1/namespaces/NS/endpoints',
  EndpointSlice: '/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices',
};

function collection(kind: string, namespace: string): string {
  const path = COLLECTIONS[kind];
  if (path === undefined) throw new Error(`the controller does not write ${kind} objects`);
  return path.replace('NS', encodeURIComponent(namespace));
}

const MANAGER = `fieldManager=${encodeURIComponent(FIELD_MANAGER)}`;

/**
 * A failed write as a typed error. A write into a namespace that is being deleted is a 403
 * whose cause says so: its reason is `NamespaceTerminating`, not `Forbidden`.
 */
function writeError(status: number, body: unknown, doing: string): KubeApiError {
  const error = apiError(status, body, doing);
  const causes = (body as { details?: { causes?: { reason?: unknown }[] } } | undefined)?.details
    ?.causes;
  return Array.isArray(causes) && causes.some((cause) => cause.reason === 'NamespaceTerminating')
    ? new KubeApiError(status, 'NamespaceTerminating', error.message)
    : error;
}

/**
 * Alias writes through the API server as plain JSON requests on the controller's one
 * keep-alive connection (kube/connection.ts); every write first checks that this replica
 * leads. client-node's generated clients are not on this path: they turn every answer into
 * class instances the controller turns back into plain objects.
 */
export class KubeAliasWriter implements AliasWriter {
  readonly #connection: KubeConnection;
  readonly #leading: () => boolean;

  constructor(connection: KubeConnection, leading: () => boolean) {
    this.#connection = connection;
    this.#leading = leading;
  }

  async #write(
    method: 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body: unknown,
    doing: string,
    contentType?: string,
  ): Promise<unknown> {
    if (!this.#leading()) throw new NotLeaderError();
    const response = await kubeRequest(this.#connection, method, path, body, contentType);
    if (response.status >= 200 && response.status < 300) return response.body;
    throw writeError(response.status, response.body, doing);
  }

  async create(object: KubeObject): Promise<KubeObject> {
    const { kind, metadata } = object;
    return (await this.#write(
      'POST',
      `${collection(kind, metadata.namespace)}?${MANAGER}`,
      object,
      `create ${kind} ${metadata.namespace}/${metadata.name}`,
    )) as KubeObject;
  }

  async apply(object: KubeObject, uid: string): Promise<KubeObject> {
    const { kind, metadata } = object;
    const body = { ...object, metadata: { ...metadata, ...(uid ? { uid } : {}) } };
    return (await this.#write(
      'PATCH',
      `${collection(kind, metadata.namespace)}/${encodeURIComponent(metadata.name)}?${MANAGER}&force=true`,
      body,
      `apply ${kind} ${metadata.namespace}/${metadata.name}`,
      'application/apply-patch+yaml',
    )) as KubeObject;
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.#write(
        'DELETE',
        `${collection(ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`,
        {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          ...(ref.uid ? { preconditions: { uid: ref.uid } } : {}),
        },
        `delete ${ref.kind} ${ref.namespace}/${ref.name}`,
      );
    } catch (error) {
      if (statusCode(error) === 404) return;
      throw error;
    }
  }
}

/** The HTTP status of a failed API call: the core's KubeApiError or client-node's ApiException. */
export function statusCode(error: unknown): number | undefined {
  if (error instanceof KubeApiError) return error.status;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
