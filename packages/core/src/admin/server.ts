import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
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
      ...(route.access
        ? {
            access: {
              allow: route.access.allow.map((list) => list.rules),
              deny: route.access.deny.map((list) => list.rules),
              closed: route.access.closed,
            },
          }
        : {}),
      endpoints: route.balancer.endpoints.map((endpoint) => ({
        address: endpoint.key,
        pod: `${endpoint.namespace}/${endpoint.podName}`,
        // How it is verified, never the CA's bytes.
        ...(endpoint.tls
          ? {
              tls: {
                serverName: endpoint.tls.serverName || endpoint.ip,
                ca: endpoint.tls.caSource,
              },
            }
          : {}),
      })),
    })),
    pods: table.pods,
    ejectedEndpoints: state.ejected(),
    ...state.status?.(),
  };
}

/** What an admin server of podrouter's processes serves. */
export interface AdminEndpoints {
  readonly ready: () => boolean;
  readonly registry: Registry;
  /** Where `/metrics` comes from when it is not `registry` alone (e.g. summed over workers). */
  readonly collect?: () => Promise<Registry>;
  readonly beforeMetrics?: () => void;
  /** JSON views by path, e.g. `/routes`. */
  readonly views: Readonly<Record<string, () => unknown | Promise<unknown>>>;
}

/**
 * `/healthz`, `/readyz`, `/metrics` (Prometheus text) and the JSON views: the admin server
 * of the routers and of the controller.
 */
export function createAdminHttpServer(endpoints: AdminEndpoints): Server {
  const { registry, views } = endpoints;
  const known = ['/healthz', '/readyz', '/metrics', ...Object.keys(views)].join(', ');
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/healthz') send(200, 'text/plain', 'ok\n');
    else if (path === '/readyz') {
      if (endpoints.ready()) send(200, 'text/plain', 'ready\n');
      else send(503, 'text/plain', 'not ready\n');
    } else if (path === '/metrics') {
      endpoints.beforeMetrics?.();
      (endpoints.collect?.() ?? Promise.resolve(registry))
        .then(async (collected) => ({
          type: collected.contentType,
          text: await collected.metrics(),
        }))
        .then(
          ({ type, text }) => send(200, type, text),
          () => send(500, 'text/plain', 'metrics failed\n'),
        );
    } else {
      const view = Object.hasOwn(views, path) ? views[path] : undefined;
      if (view === undefined) send(404, 'text/plain', `not found: try ${known}\n`);
      else
        Promise.resolve()
          .then(view)
          .then(
            (value) => send(200, 'application/json', `${JSON.stringify(value, null, 2)}\n`),
            (error: unknown) =>
              send(503, 'text/plain', `${path} unavailable: ${(error as Error).message}\n`),
          );
    }
  });
}

/** The router's registry with its extensions' (`/metrics` serves them as one). */
export function mergeRegistries(own: Registry, extra: readonly Registry[] = []): Registry {
  return extra.length === 0 ? own : Registry.merge([own, ...extra]);
}

/**
 * The router's two admin listeners. `probes` serves what kubelet and Prometheus need on the
 * Pod IP (`/healthz`, `/readyz`, `/metrics`); `introspection` adds `/routes` (Pod IPs,
 * names, which routes need keys), and is meant for a loopback address reached with
 * `kubectl port-forward`, not for every Pod of the cluster.
 */
export function createAdminServers(
  state: AdminState,
  registry: Registry,
): { readonly probes: Server; readonly introspection: Server } {
  const common = {
    ready: state.ready,
    registry,
    ...(state.beforeMetrics ? { beforeMetrics: state.beforeMetrics } : {}),
  };
  return {
    probes: createAdminHttpServer({ ...common, views: {} }),
    introspection: createAdminHttpServer({
      ...common,
      views: { '/routes': () => routesView(state.table(), state) },
    }),
  };
}
