import { defineHooks } from '@podrouter/policy/hook-api';

/** A hooks module whose `appliesTo` throws for one route: that route alone must close. */
export default defineHooks([
  {
    name: 'picky',
    phase: 'before-proxy',
    appliesTo(route) {
      if (route.path === '/fragile') throw new Error('appliesTo exploded');
      return false;
    },
    run: () => 'continue',
  },
]);
