import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type LabelSelector, matchesSelector, parseLabelSelector } from './label-selector.ts';

describe('parseLabelSelector', () => {
  const cases: Array<[string, LabelSelector]> = [
    ['', []],
    ['   ', []],
    ['routable=true', [{ key: 'routable', op: 'in', values: ['true'] }]],
    ['routable==true', [{ key: 'routable', op: 'in', values: ['true'] }]],
    ['routable = true', [{ key: 'routable', op: 'in', values: ['true'] }]],
    ['tier!=db', [{ key: 'tier', op: 'notin', values: ['db'] }]],
    ['empty=', [{ key: 'empty', op: 'in', values: [''] }]],
    ['env in (prod, staging)', [{ key: 'env', op: 'in', values: ['prod', 'staging'] }]],
    ['env notin (dev)', [{ key: 'env', op: 'notin', values: ['dev'] }]],
    ['canary', [{ key: 'canary', op: 'exists' }]],
    ['!canary', [{ key: 'canary', op: 'doesnotexist' }]],
    ['example.com/team=a', [{ key: 'example.com/team', op: 'in', values: ['a'] }]],
    ['app.kubernetes.io/name=web', [{ key: 'app.kubernetes.io/name', op: 'in', values: ['web'] }]],
    [
      'a=b, c!=d,e in (f,g), !h,i',
      [
        { key: 'a', op: 'in', values: ['b'] },
        { key: 'c', op: 'notin', values: ['d'] },
        { key: 'e', op: 'in', values: ['f', 'g'] },
        { key: 'h', op: 'doesnotexist' },
        { key: 'i', op: 'exists' },
      ],
    ],
  ];
  for (const [input, selector] of cases) {
    it(`parses ${JSON.stringify(input)}`, () => {
      assert.deepEqual(parseLabelSelector(input), selector);
    });
  }

  for (const input of [
    'a=b,',
    ',a',
    'a=b c',
    '-a=b',
    'a=-b',
    'a b',
    'a in (b c)',
    'Upper.Example/x=y',
    `a=${'b'.repeat(64)}`,
    'a=b=c',
    '!',
    'a in (',
  ]) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseLabelSelector(input), Error);
    });
  }

  it('either parses or throws an Error, quickly, on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (input) => {
        try {
          parseLabelSelector(input);
        } catch (error) {
          assert.ok(error instanceof Error);
        }
      }),
    );
    const started = performance.now();
    for (const input of [
      `${'a'.repeat(50_000)}!`,
      `${'a-'.repeat(50_000)}/!`,
      `${'a.'.repeat(50_000)}-=b`,
    ]) {
      assert.throws(() => parseLabelSelector(input), Error);
    }
    assert.ok(performance.now() - started < 2000);
  });
});

describe('matchesSelector', () => {
  const labels = { routable: 'true', env: 'prod', empty: '' };
  const cases: Array<[string, boolean]> = [
    ['', true],
    ['routable=true', true],
    ['routable=false', false],
    ['missing=true', false],
    ['env!=dev', true],
    ['env!=prod', false],
    ['missing!=x', true],
    ['env in (prod,staging)', true],
    ['env in (dev)', false],
    ['missing in (x)', false],
    ['env notin (dev)', true],
    ['env notin (prod)', false],
    ['missing notin (x)', true],
    ['env', true],
    ['missing', false],
    ['!missing', true],
    ['!env', false],
    ['empty=', true],
    ['empty', true],
    ['routable=true,env=prod', true],
    ['routable=true,env=dev', false],
    // Inherited properties are not labels.
    ['constructor', false],
    ['!toString', true],
  ];
  for (const [selector, expected] of cases) {
    it(`${JSON.stringify(selector)} → ${expected}`, () => {
      assert.equal(matchesSelector(parseLabelSelector(selector), labels), expected);
    });
  }

  it('a conjunction matches exactly when every term matches', () => {
    const term = fc.constantFrom(
      'routable=true',
      'env!=dev',
      'env in (prod)',
      '!missing',
      'missing',
      'env=dev',
      'empty',
    );
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 5 }), (terms) => {
        const all = matchesSelector(parseLabelSelector(terms.join(',')), labels);
        assert.equal(
          all,
          terms.every((single) => matchesSelector(parseLabelSelector(single), labels)),
        );
      }),
    );
  });
});
