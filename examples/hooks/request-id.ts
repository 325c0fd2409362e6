import { randomUUID } from 'node:crypto';
import { defineHooks } from '@podrouter/policy/hook-api';

/**
 * An example hooks module (HOOKS_MODULE=examples/hooks/request-id.ts):
 * - `request-id` (request phase) gives every request an X-Request-Id, upstream and back to
 *   the client, keeping one the client sent when it looks sane;
 * - `admin-plan-only` (before-proxy phase, after auth) lets only consumers of the `admin`
 *   plan reach paths under /admin, and is compiled only into routes where that can happen.
 */
export default defineHooks(({ logger }) => {
  logger.debug('example hooks ready');
  return [
    {
      name: 'request-id',
      phase: 'request',
      order: 10,
      run(context) {
        const sent = context.req.headers['x-request-id'];
        const id = typeof sent === 'string' && /^[\w.-]{1,64}$/.test(sent) ? sent : randomUUID();
        context.upstreamHeaders.set('x-request-id', id);
        context.responseHeaders.set('x-request-id', id);
        return 'continue';
      },
    },
    {
      name: 'admin-plan-only',
      phase: 'before-proxy',
      appliesTo: (route) => route.path === '/' || route.path.startsWith('/admin'),
      run(context) {
        const path = context.req.url ?? '/';
        if (!/^\/admin(\/|$|\?)/.test(path) || context.consumer?.plan === 'admin')
          return 'continue';
        return {
          status: 403,
          title: 'Admin plan required',
          detail: 'Paths under /admin need the admin plan.',
        };
      },
    },
  ];
});
