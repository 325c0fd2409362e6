import assert from 'node:assert/strict';
import { it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { shareDispatcher } from './shared-dispatcher.ts';

const config = (ca: string) => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      { name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from(ca).toString('base64') },
    ],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kubeConfig;
};

/** The dispatchers client-node hands to consecutive API calls. */
async function dispatchersOf(kubeConfig: KubeConfig, calls: number): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (let i = 0; i < calls; i++) {
    await kubeConfig.applySecurityAuthentication({
      setHeaderParam: () => undefined,
      setDispatcher: (dispatcher: unknown) => seen.push(dispatcher),
    } as never);
  }
  return seen;
}

it('client-node alone makes a new dispatcher per call (why this exists)', async () => {
  const [a, b] = await dispatchersOf(config('ca-1'), 2);
  assert.ok(a && b);
  assert.notEqual(a, b);
});

it('shares one dispatcher per TLS identity across calls', async () => {
  const shared = shareDispatcher(config('ca-1'));
  const [a, b, c] = await dispatchersOf(shared, 3);
  assert.ok(a);
  assert.equal(a, b);
  assert.equal(b, c);
  const [other] = await dispatchersOf(shareDispatcher(config('ca-2')), 1);
  assert.notEqual(other, a);
});
