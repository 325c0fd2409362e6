import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeApiError } from '../errors.ts';
import { ManualClock } from './clock.ts';
import { Informer, type RawObject } from './informer.ts';
import { METADATA_SHAPE, project } from './project.ts';
import { type FakeApi, send, startFakeApi } from './testing/fake-api.ts';

const pod = (name: string, rv: string, ip = '10.0.0.1') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'ns',
    uid: `uid-${name}`,
    resourceVersion: rv,
    managedFields: [{ manager: 'kubectl', fieldsV1: { big: 'x'.repeat(100) } }],
  },
  spec: { containers: [{ name: 'c', image: 'img', env: [{ name: 'A', value: 'b' }] }] },
  status: { podIP: ip, phase: 'Running' },
});

const SHAPE = { metadata: METADATA_SHAPE, status: { podIP: true } } as const;
type Slim = { metadata: { name: string }; status: { podIP: string } };

/** Records what the informer reports; `next` resolves at the next report matching. */
function recorder() {
  const changes: { key: string; ip: string | undefined; previousIp: string | undefined }[] = [];
  const lists: boolean[] = [];
  const errors: { error: KubeApiError; retryInMs: number }[] = [];
  const handlers = {
    onChange: (key: string, current: Slim | undefined, previous: Slim | undefined) => {
      changes.push({ key, ip: current?.status.podIP, previousIp: previous?.status.podIP });
    },
    onList: (first: boolean) => {
      lists.push(first);
    },
    onError: (error: KubeApiError, retryInMs: number) => {
      errors.push({ error, retryInMs });
    },
  };
  return {
    changes,
    lists,
    errors,
    handlers,
    /** Bookmarks report nothing, so this polls (once per turn of the event loop). */
    async until(predicate: () => boolean) {
      while (!predicate()) await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

function informer(
  api: FakeApi,
  clock: ManualClock,
  seen: ReturnType<typeof recorder>,
  path: string,
) {
  return new Informer<Slim>(
    {
      connection: api.connection,
      path,
      labelSelector: 'routable=true',
      decode: (object: RawObject) => project(object, SHAPE) as Slim,
      pageSize: 2,
      backoffBaseMs: 100,
      backoffCapMs: 1000,
      silenceMs: 5000,
      watchTimeoutSeconds: 60,
      clock,
    },
    seen.handlers,
  );
}

describe('Informer', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi();
  });
  after(() => api.close());

  it('lists in pages, keeps only the declared fields, then follows the watch', async () => {
    const path = '/api/v1/namespaces/a/pods';
    api.objects.set(path, [pod('p1', '5'), pod('p2', '6'), pod('p3', '7')]);
    api.resourceVersion = '10';
    const clock = new ManualClock();
    const seen = recorder();
    const subject = informer(api, clock, seen, path);
    subject.start();
    try {
      const watch = await api.watchOpened(path);
      assert.deepEqual(seen.lists, [true]);
      const lists = api.lists.filter((url) => url.startsWith(path));
      assert.equal(lists.length, 2, 'two pages of two');
      assert.match(lists[0] ?? '', /limit=2/);
      assert.match(lists[1] ?? '', /continue=2/);
      assert.equal(subject.store.size, 3);
      assert.deepEqual(subject.store.get('ns/p1'), {
        metadata: { name: 'p1', namespace: 'ns', uid: 'uid-p1', resourceVersion: '5' },
        status: { podIP: '10.0.0.1' },
      });
      assert.equal(watch.url.searchParams.get('resourceVersion'), '10');
      assert.equal(watch.url.searchParams.get('allowWatchBookmarks'), 'true');
      assert.equal(watch.url.searchParams.get('labelSelector'), 'routable=true');

      send(watch.res, 'MODIFIED', pod('p1', '11', '10.0.0.9'));
      send(watch.res, 'DELETED', pod('p2', '12'));
      send(watch.res, 'ADDED', pod('p4', '13'));
      send(watch.res, 'BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '20' } });
      await seen.until(() => seen.changes.length === 6 && subject.resourceVersion === '20');
      assert.deepEqual(seen.changes.slice(3), [
        { key: 'ns/p1', ip: '10.0.0.9', previousIp: '10.0.0.1' },
        { key: 'ns/p2', ip: undefined, previousIp: '10.0.0.1' },
        { key: 'ns/p4', ip: '10.0.0.1', previousIp: undefined },
      ]);
      // An event older than what the cache holds (a write the controller applied first).
      send(watch.res, 'MODIFIED', pod('p1', '9', '10.0.0.7'));
      send(watch.res, 'BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '21' } });
      await seen.until(() => subject.resourceVersion === '21');
      assert.equal(subject.store.get('ns/p1')?.status.podIP, '10.0.0.9');
      assert.equal(seen.changes.length, 6);
    } finally {
      await subject.stop();
    }
  });

  it('stops at once when stopped during its list, and never opens a watch after', async () => {
    const path = '/api/v1/namespaces/stop-during-list/pods';
    api.objects.set(path, [pod('p1', '5')]);
    const subject = informer(api, new ManualClock(), recorder(), path);
    subject.start();
    // The list request is in flight: a watch opened after it would have no one to abort it.
    const stopped = subject.stop().then(() => 'stopped');
    const late = new Promise<string>((resolve) => setTimeout(resolve, 3000, 'still running'));
    assert.equal(await Promise.race([stopped, late]), 'stopped');
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
    assert.equal(api.watches.filter((watch) => watch.url.pathname === path).length, 0);
  });

  it('re-lists at once after 410 Gone and reports only what differs', async () => {
    const path = '/api/v1/namespaces/b/pods';
    api.objects.set(path, [pod('p1', '5'), pod('p2', '6')]);
    const clock = new ManualClock();
    const seen = recorder();
    const subject = informer(api, clock, seen, path);
    subject.start();
    try {
      const watch = await api.watchOpened(path);
      api.objects.set(path, [pod('p1', '5'), pod('p3', '30')]);
      api.resourceVersion = '31';
      send(watch.res, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
      const again = await api.watchOpened(path, 1);
      assert.equal(again.url.searchParams.get('resourceVersion'), '31');
      assert.deepEqual(seen.lists, [true, false]);
      assert.deepEqual(
        seen.changes
          .slice(2)
          .map((change) => change.key)
          .sort(),
        ['ns/p2', 'ns/p3'],
      );
      assert.equal(seen.errors.length, 0, 'a 410 is not a failure');
      assert.deepEqual(clock.pending(), [5000], 'only the silence timer, no backoff');

      // A watch refused with 410 (its resourceVersion too old) re-lists as well.
      send(again.res, 'BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '32' } });
      again.res.end();
      api.failWatches.push({ status: 410, body: { kind: 'Status', code: 410, reason: 'Gone' } });
      await api.watchOpened(path, 2);
      assert.deepEqual(seen.lists, [true, false, false]);
    } finally {
      await subject.stop();
    }
  });

  it('backs off with jitter while the API server fails, and resets on data', async () => {
    const path = '/api/v1/namespaces/c/pods';
    api.objects.set(path, [pod('p1', '5')]);
    const clock = new ManualClock(0, () => 0.5);
    const seen = recorder();
    api.failLists.push({ status: 500, body: { message: 'boom' } }, { status: 503 });
    const subject = informer(api, clock, seen, path);
    subject.start();
    try {
      await seen.until(() => seen.errors.length === 1);
      assert.equal(seen.errors[0]?.error.status, 500);
      assert.match(
        seen.errors[0]?.error.message ?? '',
        /list \/api\/v1\/namespaces\/c\/pods: HTTP 500 boom/,
      );
      assert.equal(seen.errors[0]?.retryInMs, 50, 'half of 100 ms');
      assert.equal(subject.synced, false);
      clock.advance(50);
      await seen.until(() => seen.errors.length === 2);
      assert.equal(seen.errors[1]?.retryInMs, 100, 'half of 200 ms');
      clock.advance(100);
      const watch = await api.watchOpened(path);
      assert.equal(subject.synced, true);
      // A failed watch resumes from its resourceVersion, not with a list; the backoff
      // started again from its base once the list brought data.
      watch.res.destroy();
      await seen.until(() => seen.errors.length === 3);
      assert.equal(seen.errors[2]?.retryInMs, 50);
      const listsBefore = api.lists.length;
      clock.advance(50);
      const again = await api.watchOpened(path, 1);
      assert.equal(again.url.searchParams.get('resourceVersion'), api.resourceVersion);
      assert.equal(api.lists.length, listsBefore);
    } finally {
      await subject.stop();
    }
  });

  it('backs off when a watch ends at once without a byte, instead of spinning', async () => {
    const path = '/api/v1/namespaces/f/pods';
    api.objects.set(path, [pod('p1', '5')]);
    const clock = new ManualClock(0, () => 0.5);
    const seen = recorder();
    const subject = informer(api, clock, seen, path);
    subject.start();
    try {
      (await api.watchOpened(path)).res.end();
      await seen.until(() => seen.errors.length === 1);
      assert.equal(seen.errors[0]?.error.reason, 'EmptyWatch');
      assert.equal(seen.errors[0]?.retryInMs, 50);
      assert.equal(api.watches.filter((watch) => watch.url.pathname === path).length, 1);
      clock.advance(50);
      await api.watchOpened(path, 1);
    } finally {
      await subject.stop();
    }
  });

  it('restarts a silent watch from its last resourceVersion, without a list', async () => {
    const path = '/api/v1/namespaces/d/pods';
    api.objects.set(path, [pod('p1', '5')]);
    const clock = new ManualClock();
    const seen = recorder();
    const subject = informer(api, clock, seen, path);
    subject.start();
    try {
      const watch = await api.watchOpened(path);
      send(watch.res, 'BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '42' } });
      await seen.until(() => subject.resourceVersion === '42');
      const lists = api.lists.length;
      clock.advance(5000);
      const again = await api.watchOpened(path, 1);
      assert.equal(again.url.searchParams.get('resourceVersion'), '42');
      assert.equal(api.lists.length, lists);
      assert.equal(seen.errors[0]?.error.reason, 'Silent');
      assert.equal(seen.errors[0]?.retryInMs, 0);
      assert.match(seen.errors[0]?.error.message ?? '', /no event or bookmark for 5000 ms/);
    } finally {
      await subject.stop();
    }
  });

  it('restarts a list whose continue token expired between pages', async () => {
    const path = '/api/v1/namespaces/e/pods';
    api.objects.set(path, [pod('p1', '5'), pod('p2', '6'), pod('p3', '7')]);
    const clock = new ManualClock();
    const seen = recorder();
    const subject = informer(api, clock, seen, path);
    const original = api.failLists.length;
    assert.equal(original, 0);
    // First page answers, the second is 410: the list starts over from the first page.
    let served = 0;
    api.server.prependListener('request', (req) => {
      if (!req.url?.startsWith(path) || req.url.includes('watch')) return;
      if (++served === 2) api.failLists.unshift({ status: 410 });
    });
    subject.start();
    try {
      await api.watchOpened(path);
      const lists = api.lists.filter((url) => url.startsWith(path));
      assert.equal(lists.length, 4);
      assert.doesNotMatch(lists[2] ?? '', /continue=/);
      assert.equal(subject.store.size, 3);
      assert.equal(seen.errors.length, 0);
    } finally {
      await subject.stop();
    }
  });
});
