import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { HostMap } from './host-map.ts';
import type { Route } from './types.ts';

const paths = (tag: string): ReadonlyMap<string, Route> =>
  new Map([['/', { host: tag } as unknown as Route]]);

it('reads like the Map it stands for, across many changes and folds of its delta', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.boolean()), { maxLength: 1500 }),
      (changes) => {
        const truth = new Map<string, ReadonlyMap<string, Route>>();
        for (let i = 0; i < 100; i++) truth.set(`h${i}`, paths(`h${i}`));
        let map = HostMap.from(new Map(truth));
        const tables: [HostMap, Map<string, ReadonlyMap<string, Route>>][] = [];
        for (const [index, [host, remove]] of changes.entries()) {
          const value = remove ? undefined : paths(`v${index}`);
          if (value === undefined) truth.delete(`h${host}`);
          else truth.set(`h${host}`, value);
          map = map.with(new Map([[`h${host}`, value]]));
          if (index % 97 === 0) tables.push([map, new Map(truth)]);
        }
        tables.push([map, truth]);
        // Every table keeps reading what was true when it was made.
        for (const [snapshot, expected] of tables) {
          assert.equal(snapshot.size, expected.size);
          for (let i = 0; i <= 400; i++) assert.equal(snapshot.get(`h${i}`), expected.get(`h${i}`));
          assert.deepEqual(new Map(snapshot), expected);
        }
      },
    ),
    { numRuns: 30 },
  );
});
