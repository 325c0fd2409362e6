import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EndpointHealth } from './endpoint-health.ts';
import { RoundRobin } from './round-robin.ts';

interface Target {
  readonly key: string;
}

const targets = (...keys: string[]): Target[] => keys.map((key) => ({ key }));

function setup(keys: string[], ejected: string[] = []) {
  let now = 0;
  const health = new EndpointHealth({ ejectionMs: 1000, now: () => now });
  for (const key of ejected) health.eject(key);
  const endpoints = targets(...keys);
  return {
    health,
    endpoints,
    balancer: new RoundRobin(endpoints, health),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const picks = (
  balancer: RoundRobin<Target>,
  count: number,
  avoid?: Target,
): Array<string | undefined> => Array.from({ length: count }, () => balancer.pick(avoid)?.key);

describe('RoundRobin', () => {
  const cases: Array<{
    name: string;
    keys: string[];
    ejected?: string[];
    picks: Array<string | undefined>;
  }> = [
    { name: 'no endpoints', keys: [], picks: [undefined, undefined] },
    { name: 'one endpoint', keys: ['a'], picks: ['a', 'a', 'a'] },
    { name: 'one ejected endpoint is still used', keys: ['a'], ejected: ['a'], picks: ['a', 'a'] },
    { name: 'takes turns', keys: ['a', 'b', 'c'], picks: ['a', 'b', 'c', 'a', 'b', 'c'] },
    {
      name: 'skips an ejected endpoint',
      keys: ['a', 'b', 'c'],
      ejected: ['b'],
      picks: ['a', 'c', 'a', 'c'],
    },
    {
      name: 'skips all but one',
      keys: ['a', 'b', 'c'],
      ejected: ['a', 'c'],
      picks: ['b', 'b', 'b'],
    },
    // Panic mode (all ejected): a guess beats a certain 503, and the guesses still take turns.
    {
      name: 'all ejected',
      keys: ['a', 'b', 'c'],
      ejected: ['a', 'b', 'c'],
      picks: ['a', 'b', 'c', 'a'],
    },
  ];
  for (const { name, keys, ejected, picks: expected } of cases) {
    it(name, () => {
      const { balancer } = setup(keys, ejected);
      assert.deepEqual(picks(balancer, expected.length), expected);
    });
  }

  it('returns ejected endpoints to the rotation when their ejection ends', () => {
    const { balancer, advance } = setup(['a', 'b'], ['a']);
    assert.deepEqual(picks(balancer, 3), ['b', 'b', 'b']);
    advance(1000);
    assert.deepEqual(new Set(picks(balancer, 2)), new Set(['a', 'b']));
  });

  it('never returns the endpoint to avoid when another exists', () => {
    const { balancer, endpoints } = setup(['a', 'b', 'c']);
    const [a] = endpoints;
    assert.ok(a);
    assert.ok(picks(balancer, 9, a).every((key) => key !== 'a'));
  });

  it('returns nothing when the only endpoint is the one to avoid', () => {
    const { balancer, endpoints } = setup(['a']);
    assert.equal(balancer.pick(endpoints[0]), undefined);
  });

  it('prefers an ejected endpoint to the one to avoid', () => {
    const { balancer, endpoints } = setup(['a', 'b'], ['b']);
    assert.equal(balancer.pick(endpoints[0])?.key, 'b');
  });

  it('spreads load evenly over the healthy endpoints, or over all when none is healthy', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 1, max: 5 }),
        (count, ejectedFlags, rounds) => {
          const keys = Array.from({ length: count }, (_, index) => `e${index}`);
          const ejected = keys.filter((_, index) => ejectedFlags[index]);
          const { balancer } = setup(keys, ejected);
          const eligible =
            ejected.length === keys.length ? keys : keys.filter((key) => !ejected.includes(key));
          const tally = new Map<string, number>();
          for (const key of picks(balancer, eligible.length * rounds)) {
            assert.ok(key !== undefined && eligible.includes(key), `picked ${key}`);
            tally.set(key, (tally.get(key) ?? 0) + 1);
          }
          assert.deepEqual(
            [...tally.values()],
            eligible.map(() => rounds),
          );
        },
      ),
    );
  });
});
