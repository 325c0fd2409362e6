import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaderElector, type LeaseClient, type LeaseRecord } from './lease.ts';

/** An in-memory Lease with the API server's optimistic concurrency. */
function fakeLease() {
  let record: LeaseRecord | undefined;
  let version = 0;
  let failing = false;
  const client: LeaseClient = {
    async get() {
      if (failing) throw new Error('unreachable');
      return record;
    },
    async create(value) {
      if (failing) throw new Error('unreachable');
      if (record) throw Object.assign(new Error('exists'), { code: 409 });
      record = { ...value, resourceVersion: String(++version) };
      return record;
    },
    async replace(value) {
      if (failing) throw new Error('unreachable');
      if (record?.resourceVersion !== value.resourceVersion)
        throw Object.assign(new Error('conflict'), { code: 409 });
      record = { ...value, resourceVersion: String(++version) };
      return record;
    },
  };
  return {
    client,
    get record() {
      return record;
    },
    set failing(value: boolean) {
      failing = value;
    },
  };
}

function elector(client: LeaseClient, identity: string, clock: { now: number }, log: string[]) {
  return new LeaderElector({
    client,
    identity,
    durationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    clock: { now: () => clock.now },
    onStartedLeading: () => log.push(`${identity} leads`),
    onStoppedLeading: () => log.push(`${identity} stops`),
  });
}

test('one of two replicas leads; the other takes over only after the lease duration', async () => {
  const lease = fakeLease();
  const clock = { now: 1_000_000 };
  const log: string[] = [];
  const a = elector(lease.client, 'a', clock, log);
  const b = elector(lease.client, 'b', clock, log);
  assert.equal(await a.tryAcquireOrRenew(), true);
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock.now += 10_000;
  assert.equal(await a.tryAcquireOrRenew(), true);
  assert.equal(await b.tryAcquireOrRenew(), false);
  // a dies: b waits a full duration from when it last saw the record change.
  clock.now += 14_999;
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock.now += 1;
  assert.equal(await b.tryAcquireOrRenew(), true);
  assert.equal(lease.record?.holderIdentity, 'b');
  assert.equal(lease.record?.leaseTransitions, 1);
  assert.deepEqual(log, ['a leads', 'b leads']);
});

test('a leader that cannot renew within the deadline stops leading', async () => {
  const lease = fakeLease();
  const clock = { now: 0 };
  const log: string[] = [];
  const a = elector(lease.client, 'a', clock, log);
  await a.step();
  lease.failing = true;
  clock.now += 9_999;
  await a.step();
  assert.equal(a.leading, true);
  clock.now += 1;
  await a.step();
  assert.equal(a.leading, false);
  assert.deepEqual(log, ['a leads', 'a stops']);
});

test('release on shutdown hands over at once', async () => {
  const lease = fakeLease();
  const clock = { now: 0 };
  const log: string[] = [];
  const a = elector(lease.client, 'a', clock, log);
  const b = elector(lease.client, 'b', clock, log);
  await a.tryAcquireOrRenew();
  assert.equal(await b.tryAcquireOrRenew(), false);
  await a.stop();
  assert.equal(lease.record?.holderIdentity, '');
  assert.equal(await b.tryAcquireOrRenew(), true);
  assert.deepEqual(log, ['a leads', 'a stops', 'b leads']);
});

test('a lost race (stale resourceVersion) is not leadership', async () => {
  const lease = fakeLease();
  const clock = { now: 0 };
  const a = elector(lease.client, 'a', clock, []);
  await a.tryAcquireOrRenew();
  const stale = lease.record as LeaseRecord;
  await a.tryAcquireOrRenew();
  await assert.rejects(lease.client.replace({ ...stale, holderIdentity: 'b' }), /conflict/);
});
