import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointHealth } from './endpoint-health.ts';

function clock(start = 1_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('EndpointHealth', () => {
  it('knows nothing ejected at first', () => {
    const health = new EndpointHealth({ ejectionMs: 1000, now: clock().now });
    assert.equal(health.isEjected('10.0.0.1:80'), false);
    assert.deepEqual(health.ejected(), []);
  });

  it('ejects an endpoint for ejectionMs, then lets it back', () => {
    const time = clock();
    const health = new EndpointHealth({ ejectionMs: 1000, now: time.now });
    health.eject('10.0.0.1:80');
    assert.equal(health.isEjected('10.0.0.1:80'), true);
    assert.equal(health.isEjected('10.0.0.2:80'), false);
    time.advance(999);
    assert.equal(health.isEjected('10.0.0.1:80'), true);
    time.advance(1);
    assert.equal(health.isEjected('10.0.0.1:80'), false);
    assert.deepEqual(health.ejected(), []);
  });

  it('restarts the ejection when ejected again', () => {
    const time = clock();
    const health = new EndpointHealth({ ejectionMs: 1000, now: time.now });
    health.eject('a');
    time.advance(800);
    health.eject('a');
    time.advance(800);
    assert.equal(health.isEjected('a'), true);
    time.advance(200);
    assert.equal(health.isEjected('a'), false);
  });

  it('lists only the endpoints still ejected', () => {
    const time = clock();
    const health = new EndpointHealth({ ejectionMs: 1000, now: time.now });
    health.eject('a');
    time.advance(500);
    health.eject('b');
    health.eject('c');
    assert.deepEqual(health.ejected().sort(), ['a', 'b', 'c']);
    time.advance(500);
    assert.deepEqual(health.ejected().sort(), ['b', 'c']);
    time.advance(500);
    assert.deepEqual(health.ejected(), []);
  });

  for (const ejectionMs of [0, -1]) {
    it(`never ejects when ejectionMs is ${ejectionMs}`, () => {
      const health = new EndpointHealth({ ejectionMs, now: clock().now });
      health.eject('a');
      assert.equal(health.isEjected('a'), false);
      assert.deepEqual(health.ejected(), []);
    });
  }

  it('reads the wall clock when no clock is given', () => {
    const health = new EndpointHealth({ ejectionMs: 60_000 });
    health.eject('a');
    assert.equal(health.isEjected('a'), true);
  });
});
