import { parseAllDocuments } from 'yaml';
import { endpointSliceFromObject, serviceFromObject } from '../backends/from-object.ts';
import type { EndpointSliceInfo, ServiceInfo } from '../backends/types.ts';
import { ErrorCodes, PodrouterError } from '../errors.ts';
import { podFromObject, secretFromObject } from '../pods/from-object.ts';
import type { ClusterState, PodInfo, SecretInfo } from '../pods/types.ts';

/**
 * Reads Pods, Secrets, Services and EndpointSlices from YAML text: a `v1 List` (what
 * `kubectl get pods,secrets -A -o yaml` prints), multi-document YAML, or both. Other kinds are ignored. A syntax error
 * fails the whole text: half a file must never replace a good table.
 */
export function parseObjects(text: string, origin: string): ClusterState {
  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const pods: PodInfo[] = [];
  const secrets: SecretInfo[] = [];
  const services: ServiceInfo[] = [];
  const endpointSlices: EndpointSliceInfo[] = [];
  const visit = (object: unknown, where: string) => {
    if (object === null || object === undefined) return;
    if (typeof object !== 'object' || Array.isArray(object)) {
      throw new PodrouterError(
        ErrorCodes.SOURCE_FILE_INVALID,
        `${where}: expected a Kubernetes object`,
      );
    }
    const kind = (object as { kind?: unknown }).kind;
    if (kind === 'List' || (typeof kind === 'string' && kind.endsWith('List'))) {
      const items = (object as { items?: unknown }).items;
      if (items !== undefined && items !== null && !Array.isArray(items)) {
        throw new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${where}: "items" must be a list`,
        );
      }
      (items ?? []).forEach((item: unknown, index: number) => {
        visit(item, `${where} item ${index}`);
      });
    } else if (kind === 'Pod') {
      const pod = podFromObject(object);
      if (!pod)
        throw new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${where}: a Pod needs metadata.name`,
        );
      pods.push(pod);
    } else if (kind === 'Secret') {
      const secret = secretFromObject(object);
      if (!secret)
        throw new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${where}: a Secret needs metadata.name`,
        );
      secrets.push(secret);
    } else if (kind === 'Service') {
      const service = serviceFromObject(object);
      if (!service)
        throw new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${where}: a Service needs metadata.name`,
        );
      services.push(service);
    } else if (kind === 'EndpointSlice') {
      const slice = endpointSliceFromObject(object);
      if (!slice)
        throw new PodrouterError(
          ErrorCodes.SOURCE_FILE_INVALID,
          `${where}: an EndpointSlice needs metadata.name`,
        );
      endpointSlices.push(slice);
    }
  };
  documents.forEach((document, index) => {
    const where = `${origin} document ${index + 1}`;
    const error = document.errors[0];
    if (error) {
      throw new PodrouterError(
        ErrorCodes.SOURCE_FILE_INVALID,
        `${where}: ${error.message.split('\n')[0]}`,
      );
    }
    visit(document.toJS({ maxAliasCount: 100 }), where);
  });
  return services.length > 0 || endpointSlices.length > 0
    ? { pods, secrets, services, endpointSlices }
    : { pods, secrets };
}
