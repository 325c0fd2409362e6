import { createServer, type Server } from 'node:http';
import type { RouterMetrics } from '../observability/metrics.ts';
import type { RouteTable } from '../routes/types.ts';

export interface AdminState {
  readonly ready: () => boolean;
  readonly table: () => RouteTable;
  readonly sourceError: () => string | undefined;
  readonly ejected: () => string[];
  readonly beforeMetrics?: () => void;
}

/** `/routes` as JSON: the table as an operator reads it, plus every Pod's rejections. */
export function routesView(table: RouteTable, state: Pick<AdminState, 'sourceError' | 'ejected'>) {
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
  };
}

export function createAdminServer(state: AdminState, metrics: RouterMetrics): Server {
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
        metrics.registry.metrics().then(
          (text) => send(200, metrics.registry.contentType, text),
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
