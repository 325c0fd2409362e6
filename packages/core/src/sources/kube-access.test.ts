import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeApi, startFakeApi } from '../kube/testing/fake-api.ts';
import { accessNeeds, checkAccess, POD_EVENTS_FEATURE } from './kube-access.ts';

/** A fake API server whose RBAC allows every verb on every resource but `denied`. */
describe('checkAccess', () => {
  let api: FakeApi;
  let denied = new Set<string>();
  before(async () => {
    api = await startFakeApi();
    api.server.prependListener('request', (req, res) => {
      if (req.method !== 'POST') return;
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const review = JSON.parse(body) as {
          kind: string;
          spec?: { resourceAttributes: { verb: string; resource: string } };
        };
        const attributes = review.spec?.resourceAttributes;
        const allowed = !denied.has(`${attributes?.verb} ${attributes?.resource}`);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: { allowed, userInfo: { username: 'sa:router' } } }));
      });
    });
    // Answered above; the fake's own handler must not answer POSTs as lists.
    const [ours, theirs] = api.server.listeners('request') as ((...args: unknown[]) => void)[];
    api.server.removeAllListeners('request');
    api.server.on('request', (req, res) => (req.method === 'POST' ? ours : theirs)?.(req, res));
  });
  after(() => api.close());

  const needs = accessNeeds({ namespaces: [], secretName: 'routing', events: true });

  it('turns an optional feature off when its permissions are missing', async () => {
    denied = new Set(['create events', 'get events']);
    const result = await checkAccess(api.connection, needs);
    assert.equal(result.checked, true);
    assert.deepEqual(result.disabled.get(POD_EVENTS_FEATURE), [
      'create events.events.k8s.io at cluster scope',
      'get events.events.k8s.io at cluster scope',
    ]);
  });

  it('stops on a required permission, naming only the required ones', async () => {
    denied = new Set(['watch pods', 'create events']);
    await assert.rejects(checkAccess(api.connection, needs), (error: Error) => {
      assert.match(error.message, /^forbidden: sa:router may not watch pods at cluster scope\. /);
      assert.doesNotMatch(error.message, /events/);
      return true;
    });
  });

  it('passes with nothing off when everything is granted', async () => {
    denied = new Set();
    const result = await checkAccess(api.connection, needs);
    assert.equal(result.disabled.size, 0);
  });
});
