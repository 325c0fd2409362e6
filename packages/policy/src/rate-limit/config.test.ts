import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limitsForNamespace, parseRateLimits } from './config.ts';

describe('rate limit configuration', () => {
  const config = parseRateLimits(`
plans:
  default: { second: 10, minute: 300, day: 10000 }
  gold: { second: 100 }
namespaces:
  payments:
    default: { second: 2 }
    trial: { day: 50 }
`);

  it('merges namespace overrides field by field over the plans', () => {
    const payments = limitsForNamespace(config, 'payments');
    assert.deepEqual(
      payments.get('default')?.windows.map((w) => [w.name, w.limit]),
      [
        ['second', 2],
        ['minute', 300],
      ],
    );
    assert.equal(payments.get('default')?.day, 10000);
    assert.equal(payments.get('trial')?.day, 50);
    assert.equal(payments.get('trial')?.windows.length, 0);
    assert.equal(limitsForNamespace(config, 'other').get('trial'), undefined);
  });

  it('writes the RateLimit-Policy header of the IETF draft', () => {
    assert.equal(
      limitsForNamespace(config, 'x').get('default')?.policyHeader,
      '"second";q=10;w=1, "minute";q=300;w=60, "day";q=10000;w=86400',
    );
    assert.equal(limitsForNamespace(config, 'x').get('default')?.smallest, 10);
  });

  it('rejects unknown keys, windows and non-positive counts with a path', () => {
    assert.throws(() => parseRateLimits('plan: {}'), /unknown key "plan"/);
    assert.throws(
      () => parseRateLimits('plans: { a: { hour: 1 } }'),
      /plans\.a: unknown window "hour"/,
    );
    assert.throws(() => parseRateLimits('plans: { a: { second: 0 } }'), /plans\.a\.second/);
    assert.throws(() => parseRateLimits('plans: { a: { second: 1.5 } }'), /positive integer/);
    assert.throws(() => parseRateLimits('[1]'), /expected a map/);
  });
});
