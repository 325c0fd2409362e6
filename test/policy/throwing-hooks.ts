import { defineHooks } from '@podrouter/policy/hook-api';

/** A hooks module that fails on purpose on /boom (sync) and /boom-async (rejection). */
export default defineHooks([
  {
    name: 'thrower',
    phase: 'before-proxy',
    run(context) {
      if (context.req.url === '/boom') throw new Error('hook exploded');
      if (context.req.url === '/boom-async') return Promise.reject(new Error('hook rejected'));
      return 'continue';
    },
  },
]);
