import { createServer, type Server } from 'node:http';
import type { ControllerMetrics } from './metrics.ts';

export interface AdminState {
  readonly ready: () => boolean;
  readonly aliases: () => unknown;
  readonly beforeMetrics?: () => void;
}

/** `/healthz`, `/readyz` (caches synced), `/metrics`, `/aliases` (desired state as JSON). */
export function createAdminServer(state: AdminState, metrics: ControllerMetrics): Server {
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
      case '/aliases':
        send(200, 'application/json', `${JSON.stringify(state.aliases(), null, 2)}\n`);
        return;
      default:
        send(404, 'text/plain', 'not found\n');
    }
  });
}
