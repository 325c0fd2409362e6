import { type KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
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

const plain = (object: unknown): KubeObject => JSON.parse(JSON.stringify(object)) as KubeObject;

/** Alias writes through the API server; every write first checks that this replica leads. */
export class KubeAliasWriter implements AliasWriter {
  readonly #api: KubernetesObjectApi;
  readonly #leading: () => boolean;

  constructor(config: KubeConfig, leading: () => boolean) {
    this.#api = KubernetesObjectApi.makeApiClient(config);
    this.#leading = leading;
  }

  #check(): void {
    if (!this.#leading()) throw new NotLeaderError();
  }

  async create(object: KubeObject): Promise<KubeObject> {
    this.#check();
    return plain(await this.#api.create(object, undefined, undefined, FIELD_MANAGER));
  }

  async apply(object: KubeObject, uid: string): Promise<KubeObject> {
    this.#check();
    const body = { ...object, metadata: { ...object.metadata, ...(uid ? { uid } : {}) } };
    return plain(
      await this.#api.patch(
        body,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      ),
    );
  }

  async delete(ref: ObjectRef): Promise<void> {
    this.#check();
    try {
      await this.#api.delete(
        {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, namespace: ref.namespace },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        ref.uid ? { preconditions: { uid: ref.uid } } : undefined,
      );
    } catch (error) {
      if (statusCode(error) === 404) return;
      throw error;
    }
  }
}

export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown; statusCode?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
