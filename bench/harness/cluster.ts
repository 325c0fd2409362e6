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

/**
 * The environment of a router under benchmark: the file source, loopback ports, no TLS, no
 * introspection listener, no shutdown delay. `extra` adds to or overrides it.
 */
export function routerEnv(
  file: string,
  port: number,
  adminPort: number,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    SOURCE: 'file',
    SOURCE_FILE: file,
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    INTROSPECTION_PORT: '0',
    TLS_PORT: '',
    LISTEN_ADDRESS: '127.0.0.1',
    SHUTDOWN_DELAY: '0',
    ...extra,
  };
}
