import type { Action, ObjectRef } from './diff.ts';
import { compareObject } from './diff.ts';
import type { KubeObject } from './types.ts';

/**
 * The only way the controller writes alias objects. Creates fail when the name is taken
 * (a user's object is never adopted); applies are server-side applies with podrouter's field
 * manager, conditioned on the uid podrouter saw; deletes are conditioned on the uid too.
 */
export interface AliasWriter {
  create(object: KubeObject): Promise<KubeObject>;
  apply(object: KubeObject, uid: string): Promise<KubeObject>;
  delete(ref: ObjectRef): Promise<void>;
}

export interface WriteObserver {
  /** One API write was made (whatever its outcome). */
  write(kind: string, verb: 'create' | 'apply' | 'delete'): void;
  /** The cache should see this result now rather than when the watch delivers it. */
  written(object: KubeObject | undefined, ref: ObjectRef | undefined): void;
}

/**
 * Runs the actions of one alias in order and stops at the first failure (the work queue
 * retries the whole alias, recomputed from the caches). An apply whose result still differs
 * from what was applied (fields another manager holds) is finished by delete and create, so
 * a hand edit cannot make the controller write forever.
 */
export async function applyActions(
  actions: readonly Action[],
  writer: AliasWriter,
  observer: WriteObserver,
): Promise<void> {
  for (const action of actions) {
    switch (action.verb) {
      case 'create': {
        observer.write(action.object.kind, 'create');
        observer.written(await writer.create(action.object), undefined);
        break;
      }
      case 'apply': {
        observer.write(action.object.kind, 'apply');
        const result = await writer.apply(action.object, action.uid);
        if (compareObject(action.object, result) === 'same') {
          observer.written(result, undefined);
          break;
        }
        const ref = {
          apiVersion: action.object.apiVersion,
          kind: action.object.kind as ObjectRef['kind'],
          namespace: action.object.metadata.namespace,
          name: action.object.metadata.name,
          uid: result.metadata.uid ?? action.uid,
        };
        observer.write(action.object.kind, 'delete');
        await writer.delete(ref);
        observer.written(undefined, ref);
        observer.write(action.object.kind, 'create');
        observer.written(await writer.create(action.object), undefined);
        break;
      }
      case 'delete': {
        observer.write(action.ref.kind, 'delete');
        await writer.delete(action.ref);
        observer.written(undefined, action.ref);
        break;
      }
    }
  }
}
