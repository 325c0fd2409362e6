import type { Server } from 'node:http';
import { createAdminHttpServer } from '@podrouter/core';
import type { ControllerMetrics } from './metrics.ts';

export interface AdminState {
  readonly ready: () => boolean;
  readonly aliases: () => unknown;
  readonly beforeMetrics?: () => void;
}

/** `/healthz`, `/readyz` (caches synced), `/metrics`, `/aliases` (desired state as JSON). */
export function createAdminServer(state: AdminState, metrics: ControllerMetrics): Server {
  return createAdminHttpServer({
    ready: state.ready,
    registry: metrics.registry,
    ...(state.beforeMetrics ? { beforeMetrics: state.beforeMetrics } : {}),
    views: { '/aliases': state.aliases },
  });
}
