import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { LeaseClient, LeaseRecord } from '../leader/lease.ts';
import { statusCode } from './writer.ts';

const time = (value: unknown): string | undefined =>
  value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : undefined;

function record(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: time(spec.acquireTime),
    renewTime: time(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

function spec(value: Omit<LeaseRecord, 'resourceVersion'>): V1Lease['spec'] {
  // MicroTime strings pass through the serializer untouched (it only converts Dates).
  return {
    holderIdentity: value.holderIdentity,
    leaseDurationSeconds: value.leaseDurationSeconds,
    leaseTransitions: value.leaseTransitions,
    ...(value.acquireTime ? { acquireTime: value.acquireTime as unknown as Date } : {}),
    ...(value.renewTime ? { renewTime: value.renewTime as unknown as Date } : {}),
  };
}

/** The election's Lease through coordination.k8s.io/v1 (get, create, update only). */
export function kubeLeaseClient(config: KubeConfig, namespace: string, name: string): LeaseClient {
  const api = config.makeApiClient(CoordinationV1Api);
  return {
    async get() {
      try {
        return record(await api.readNamespacedLease({ name, namespace }));
      } catch (error) {
        if (statusCode(error) === 404) return undefined;
        throw error;
      }
    },
    async create(value) {
      return record(
        await api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: spec(value) },
        }),
      );
    },
    async replace(value) {
      return record(
        await api.replaceNamespacedLease({
          name,
          namespace,
          body: {
            metadata: { name, namespace, resourceVersion: value.resourceVersion },
            spec: spec(value),
          },
        }),
      );
    },
  };
}
