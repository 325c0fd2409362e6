/** File-source cluster states for the routers under benchmark (one Pod, optionally a key). */
import { writeFileSync } from 'node:fs';

export interface RouteSpec {
  readonly tier: 'public' | 'private';
  readonly namespace: string;
  readonly host: string;
  readonly podIp: string;
  readonly port: number;
  /** The tier's API key field of Secret `routing` in the namespace (none = no key needed). */
  readonly apiKey?: string;
}

export function clusterFile(file: string, routes: readonly RouteSpec[]): string {
  const items = routes.flatMap((r, index) => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `upstream-${index}`,
        namespace: r.namespace,
        uid: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
        creationTimestamp: '2026-01-01T00:00:00Z',
        labels: { app: 'upstream', routable: 'true' },
        annotations: { [`${r.tier}Hosts`]: r.host, [`${r.tier}Paths`]: `${r.port}:/` },
      },
      spec: { containers: [{ name: 'app', ports: [{ containerPort: r.port }] }] },
      status: {
        phase: 'Running',
        podIP: r.podIp,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    if (r.apiKey === undefined) return [pod];
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'routing', namespace: r.namespace },
      data: { [`${r.tier}-api-key`]: Buffer.from(r.apiKey).toString('base64') },
    };
    return [pod, secret];
  });
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1));
  return file;
}
