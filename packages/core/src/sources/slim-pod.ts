import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * The part of a Pod the router reads (see pods/from-object.ts), so the informer cache does
 * not hold managedFields, volumes, env and the rest: most of a Pod's bytes, at 10 000 Pods
 * most of the router's memory.
 */

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function slimContainers(list: unknown): unknown {
  if (!Array.isArray(list)) return undefined;
  return list.map((container: unknown) => {
    if (!isObj(container)) return {};
    const ports = Array.isArray(container.ports)
      ? container.ports.map((port: unknown) =>
          isObj(port) ? { containerPort: port.containerPort } : {},
        )
      : undefined;
    return { name: container.name, ports, restartPolicy: container.restartPolicy };
  });
}

export function slimPod<T extends KubernetesObject>(object: T): T {
  const pod = object as unknown as Obj;
  const metadata = isObj(pod.metadata) ? pod.metadata : {};
  const spec = isObj(pod.spec) ? pod.spec : {};
  const status = isObj(pod.status) ? pod.status : {};
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion,
      creationTimestamp: metadata.creationTimestamp,
      deletionTimestamp: metadata.deletionTimestamp,
      labels: metadata.labels,
      annotations: metadata.annotations,
    },
    spec: {
      containers: slimContainers(spec.containers),
      initContainers: slimContainers(spec.initContainers),
    },
    status: {
      phase: status.phase,
      podIP: status.podIP,
      conditions: Array.isArray(status.conditions)
        ? status.conditions.map((condition: unknown) =>
            isObj(condition) ? { type: condition.type, status: condition.status } : {},
          )
        : undefined,
    },
  } as unknown as T;
}
