import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import type { RouterMetrics } from '../observability/metrics.ts';
import type { RouteTable } from '../routes/types.ts';

export interface AdminState {
  readonly ready: () => boolean;
  readonly table: () => RouteTable;
  readonly sourceError: () => string | undefined;
  readonly ejected: () => string[];
  readonly beforeMetrics?: () => void;
  /** Extra sections of `/routes`, by name (e.g. the policy's closed namespaces). */
  readonly status?: () => Readonly<Record<string, unknown>>;
}

/** `/routes` as JSON: the table as an operator reads it, plus every Pod's rejections. */
export function routesView(
  table: RouteTable,
  state: Pick<AdminState, 'sourceError' | 'ejected' | 'status'>,
) {
  return {
    version: table.version,
    builtAt: new Date(table.builtAt).toISOString(),
    sourceError: state.sourceError() ?? null,
    routes: table.routes.map((route) => ({
      host: route.host,
      path: route.path,
      namespace: route.namespace,
      claimedAt: new Date(route.claimedAt).toISOString(),
      policy: route.pipeline !== null,
      endpoints: route.balancer.endpoints.map((endpoint) => ({
        address: endpoint.key,
        pod: `${endpoint.namespace}/${endpoint.podName}`,
      })),
    })),
    pods: table.pods,
    ejectedEndpoints: state.ejected(),
    ...state.status?.(),
  };
}

/** `/metrics` serves the router's registry merged with those of its extensions. */
export function createAdminServer(
  state: AdminState,
  metrics: RouterMetrics,
  extraRegistries: readonly Registry[] = [],
): Server {
  const registry =
    extraRegistries.length === 0
      ? metrics.registry
      : Registry.merge([metrics.registry, ...extraRegistries]);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    switch (path) {
      case '/healthz':
        send(200, 'text/plain', 'ok\n');
        return;
      case '/readyz':
        if (state.ready()) send(200, 'text/plain', 'ready\n');
        else send(503, 'text/plain', 'not ready\n');
        return;
      case '/metrics':
        state.beforeMetrics?.();
        registry.metrics().then(
          (text) => send(200, registry.contentType, text),
          () => send(500, 'text/plain', 'metrics failed\n'),
        );
        return;
      case '/routes':
        send(
          200,
          'application/json',
          `${JSON.stringify(routesView(state.table(), state), null, 2)}\n`,
        );
        return;
      default:
        send(404, 'text/plain', 'not found: try /healthz, /readyz, /metrics or /routes\n');
    }
  });
}
