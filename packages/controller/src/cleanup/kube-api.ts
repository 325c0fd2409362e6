import {
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  HttpMethod,
  type KubeConfig,
  RequestContext,
} from '@kubernetes/client-node';
import { kubeConfigConnection } from '@podrouter/core';
import { type KubeObject, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../alias/types.ts';
import { KubeAliasWriter, statusCode } from '../kube/writer.ts';
import type { CleanupApi } from './run.ts';

const MANAGED = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const PAGE = 500;

interface Page {
  items: unknown[];
  metadata?: { _continue?: string };
}

/** Every page of a list; list items carry no apiVersion/kind, so they are set here. */
async function listAll(
  apiVersion: string,
  kind: string,
  list: (page: { labelSelector: string; limit: number; _continue?: string }) => Promise<Page>,
): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let next: string | undefined;
  do {
    const page = await list({
      labelSelector: MANAGED,
      limit: PAGE,
      ...(next ? { _continue: next } : {}),
    });
    for (const item of page.items) {
      out.push({ ...(JSON.parse(JSON.stringify(item)) as KubeObject), apiVersion, kind });
    }
    next = page.metadata?._continue;
  } while (next);
  return out;
}

/** Cleanup through the API server: lists by podrouter's label, deletes with uid preconditions. */
export function kubeCleanupApi(config: KubeConfig): CleanupApi {
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const coordination = config.makeApiClient(CoordinationV1Api);
  const writer = new KubeAliasWriter(
    kubeConfigConnection(config, (url) => new RequestContext(url, HttpMethod.GET)),
    () => true,
  );
  return {
    async pods(namespace, labelSelector) {
      const list = await core.listNamespacedPod({ namespace, labelSelector });
      // A Pod that has stopped (evicted, completed) writes nothing; a terminating one still can.
      return list.items
        .filter((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed')
        .map((pod) => pod.metadata?.name ?? '');
    },
    async managed() {
      const [services, slices, endpoints] = await Promise.all([
        listAll('v1', 'Service', (page) => core.listServiceForAllNamespaces(page)),
        listAll('discovery.k8s.io/v1', 'EndpointSlice', (page) =>
          discovery.listEndpointSliceForAllNamespaces(page),
        ),
        listAll('v1', 'Endpoints', (page) => core.listEndpointsForAllNamespaces(page)),
      ]);
      return { services, slices, endpoints };
    },
    delete: (ref) => writer.delete(ref),
    async deleteLease(namespace, name) {
      try {
        await coordination.deleteNamespacedLease({ name, namespace });
        return true;
      } catch (error) {
        if (statusCode(error) === 404) return false;
        throw error;
      }
    },
  };
}
