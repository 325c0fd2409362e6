import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceInfo } from '../backends/types.ts';
import { ManualClock } from '../kube/clock.ts';
import type { ClusterState } from '../pods/types.ts';
import { ExternalNameSource, type NameResolver } from './external-names.ts';
import type { Source, SourceListener } from './types.ts';

const service = (name: string, externalName: string): ServiceInfo => ({
  namespace: 'ext',
  name,
  uid: name,
  createdAt: 0,
  labels: {},
  annotations: {},
  type: 'ExternalName',
  externalName,
  ports: [{ name: 'web', port: 443, protocol: 'TCP' }],
  terminating: false,
});

/** A source whose states the test pushes. */
class PushSource implements Source {
  readonly kind = 'push';
  listener: SourceListener | undefined;
  start(listener: SourceListener): void {
    this.listener = listener;
  }
  async stop(): Promise<void> {}
}

/** Answers from a table the test edits; a name missing from it fails with ENOTFOUND. */
class FakeResolver implements NameResolver {
  answers = new Map<string, { v4: string[]; v6: string[]; ttl: number }>();
  calls = 0;
  async resolve4(name: string) {
    this.calls++;
    return this.#answer(name, 'v4');
  }
  async resolve6(name: string) {
    return this.#answer(name, 'v6');
  }
  #answer(name: string, family: 'v4' | 'v6') {
    const answer = this.answers.get(name);
    if (answer === undefined || answer[family].length === 0) {
      throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), {
        code: answer === undefined ? 'ENOTFOUND' : 'ENODATA',
      });
    }
    return answer[family].map((address) => ({ address, ttl: answer.ttl }));
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const inner = new PushSource();
  const resolver = new FakeResolver();
  const clock = new ManualClock(0);
  const source = new ExternalNameSource(inner, {
    resolver,
    clock,
    floorMs: 5000,
    ceilingMs: 60_000,
    retryMs: 2000,
  });
  const states: ClusterState[] = [];
  source.start({ onState: (state) => states.push(state), onError: () => undefined });
  const push = (state: ClusterState) => inner.listener?.onState(state);
  return { source, resolver, clock, states, push };
}

describe('ExternalNameSource', () => {
  it('resolves A and AAAA, re-resolves on the TTL held to the floor, and marks the Service changed', async () => {
    const { resolver, clock, states, push } = setup();
    resolver.answers.set('db.example', {
      v4: ['192.0.2.2', '192.0.2.1'],
      v6: ['2001:db8::1'],
      ttl: 1,
    });
    push({ pods: [], secrets: [], services: [service('db', 'db.example')], sequence: 1 });
    await settle();
    assert.equal(states.length, 2, 'the state at once, then again when the name resolved');
    assert.equal(states[0]?.externalNames?.size, 0);
    assert.deepEqual(states[1]?.externalNames?.get('db.example'), {
      addresses: ['192.0.2.1', '192.0.2.2', '2001:db8::1'],
    });
    assert.deepEqual([...(states[1]?.changes?.services ?? [])], ['ext/db']);
    assert.equal(states[1]?.changes?.since, states[0]?.sequence);
    // A 1 s TTL is held to the 5 s floor.
    assert.deepEqual(clock.pending(), [5000]);
    resolver.answers.set('db.example', { v4: ['192.0.2.3'], v6: [], ttl: 30 });
    clock.advance(5000);
    await settle();
    assert.deepEqual(states.at(-1)?.externalNames?.get('db.example'), { addresses: ['192.0.2.3'] });
    assert.deepEqual(clock.pending(), [30_000]);
    // Unchanged answers emit nothing.
    const count = states.length;
    clock.advance(30_000);
    await settle();
    assert.equal(states.length, count);
  });

  it('keeps the last addresses when resolving fails, with the failure, and retries', async () => {
    const { resolver, clock, states, push } = setup();
    resolver.answers.set('db.example', { v4: ['192.0.2.1'], v6: [], ttl: 10 });
    push({ pods: [], secrets: [], services: [service('db', 'db.example')] });
    await settle();
    resolver.answers.delete('db.example');
    clock.advance(10_000);
    await settle();
    assert.deepEqual(states.at(-1)?.externalNames?.get('db.example'), {
      addresses: ['192.0.2.1'],
      error: 'ENOTFOUND',
    });
    assert.deepEqual(clock.pending(), [2000]);
    resolver.answers.set('db.example', { v4: ['192.0.2.1'], v6: [], ttl: 10 });
    clock.advance(2000);
    await settle();
    assert.deepEqual(states.at(-1)?.externalNames?.get('db.example'), { addresses: ['192.0.2.1'] });
  });

  it('stops resolving a name no Service uses any more', async () => {
    const { resolver, clock, push } = setup();
    resolver.answers.set('db.example', { v4: ['192.0.2.1'], v6: [], ttl: 10 });
    push({ pods: [], secrets: [], services: [service('db', 'db.example')] });
    await settle();
    push({ pods: [], secrets: [], services: [] });
    assert.deepEqual(clock.pending(), []);
    const calls = resolver.calls;
    clock.advance(60_000);
    await settle();
    assert.equal(resolver.calls, calls);
  });
});
