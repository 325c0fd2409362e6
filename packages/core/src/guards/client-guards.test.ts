import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientAddressResolver, parseCidrs } from './client-address.ts';
import {
  type Admission,
  ClientLimits,
  type SharedClientRate,
  type SharedVerdict,
} from './client-limits.ts';

/** Without a shared store, admission is decided at once. */
function sync(admission: Admission | Promise<Admission>): Admission {
  assert.ok(!(admission instanceof Promise), 'decided synchronously');
  return admission;
}

function request(peer: string, forwardedFor?: string): IncomingMessage {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: peer });
  const req = new IncomingMessage(socket);
  if (forwardedFor !== undefined) req.headers['x-forwarded-for'] = forwardedFor;
  return req;
}

describe('ClientAddressResolver', () => {
  const behindProxies = new ClientAddressResolver({
    trustAll: false,
    trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
  });

  it('believes X-Forwarded-For only from trusted proxies, right to left', () => {
    assert.deepEqual(behindProxies.resolve(request('203.0.113.9', '1.2.3.4')), {
      address: '203.0.113.9',
      peerTrusted: false,
    });
    assert.deepEqual(behindProxies.resolve(request('10.1.1.1', '6.6.6.6, 1.2.3.4, 10.2.2.2')), {
      address: '1.2.3.4',
      peerTrusted: true,
    });
    assert.equal(behindProxies.resolve(request('::ffff:10.1.1.1', '1.2.3.4')).address, '1.2.3.4');
    assert.equal(behindProxies.resolve(request('fd00::1', '2001:db8::7')).address, '2001:db8::7');
    // Garbage in the header: the peer it is.
    assert.equal(behindProxies.resolve(request('10.1.1.1', 'nonsense')).address, '10.1.1.1');
    assert.equal(behindProxies.resolve(request('10.1.1.1')).address, '10.1.1.1');
  });

  it('with TRUST_FORWARDED_HEADERS trusts one hop: the right-most address', () => {
    const trustAll = new ClientAddressResolver({ trustAll: true, trustedProxies: [] });
    assert.equal(trustAll.resolve(request('127.0.0.1', '6.6.6.6, 1.2.3.4')).address, '1.2.3.4');
  });

  it('a client can never choose its address by prepending hops', () => {
    fc.assert(
      fc.property(
        fc.array(fc.ipV4(), { maxLength: 5 }),
        fc.ipV4().filter((ip) => !ip.startsWith('10.')),
        (forged, real) => {
          const header = [...forged, real].join(', ');
          assert.equal(behindProxies.resolve(request('10.0.0.1', header)).address, real);
        },
      ),
    );
  });

  it('refuses bad CIDRs with the entry named', () => {
    assert.throws(() => parseCidrs(['10.0.0.0/33']), /10\.0\.0\.0\/33/);
    assert.throws(() => parseCidrs(['example.com']), /example\.com/);
  });
});

describe('ClientLimits', () => {
  it('lets burst + 1 requests through at once, then answers 429 with Retry-After', () => {
    let now = 0;
    const limits = new ClientLimits({
      ratePerSecond: 2,
      burst: 2,
      maxConcurrent: 0,
      now: () => now,
    });
    const admitted = () => sync(limits.admit('a')).admitted;
    assert.deepEqual([admitted(), admitted(), admitted(), admitted()], [true, true, true, false]);
    const refused = sync(limits.admit('a'));
    assert.ok(!refused.admitted && refused.problem.status === 429);
    assert.equal(refused.admitted ? '' : refused.problem.headers?.['retry-after'], '1');
    assert.ok(sync(limits.admit('b')).admitted, 'other clients have their own budget');
    now += 500;
    assert.ok(admitted(), 'one request more every 1/rate seconds');
    assert.ok(!admitted());
  });

  it('holds the long-run rate whatever the arrival pattern', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 300 }),
        (gaps) => {
          let now = 0;
          const limits = new ClientLimits({
            ratePerSecond: 10,
            burst: 3,
            maxConcurrent: 0,
            now: () => now,
          });
          let admitted = 0;
          for (const gap of gaps) {
            now += gap;
            if (sync(limits.admit('c')).admitted) admitted++;
          }
          assert.ok(admitted <= 4 + (now * 10) / 1000 + 1e-9, `${admitted} in ${now} ms`);
        },
      ),
    );
  });

  it('counts requests in flight and gives the slot back once', () => {
    const limits = new ClientLimits({ ratePerSecond: 0, burst: 0, maxConcurrent: 2 });
    const first = sync(limits.admit('a'));
    const second = sync(limits.admit('a'));
    const third = sync(limits.admit('a'));
    assert.ok(first.admitted && second.admitted);
    assert.ok(!third.admitted && third.problem.status === 503);
    first.release();
    first.release();
    assert.ok(sync(limits.admit('a')).admitted);
    assert.ok(!sync(limits.admit('a')).admitted, 'a double release frees one slot only');
  });

  it('forgets idle clients beyond its bound', () => {
    let now = 0;
    const limits = new ClientLimits({
      ratePerSecond: 100,
      burst: 0,
      maxConcurrent: 0,
      maxClients: 10,
      now: () => now,
    });
    for (let i = 0; i < 1000; i++) {
      now += 1000;
      sync(limits.admit(`client-${i}`));
    }
    assert.ok(limits.size <= 11, `remembers ${limits.size}`);
  });

  it('asks a shared store after its own count, and falls back to its own when the store is down', async () => {
    let verdict: SharedVerdict = { allowed: true, retryAfterMs: 0 };
    const asked: string[] = [];
    const shared: SharedClientRate = {
      take: (client) => {
        asked.push(client);
        return Promise.resolve(verdict);
      },
    };
    let now = 0;
    const limits = new ClientLimits({
      ratePerSecond: 1,
      burst: 1,
      maxConcurrent: 1,
      shared,
      now: () => now,
    });
    const first = await limits.admit('a');
    assert.ok(first.admitted);
    assert.deepEqual(asked, ['a']);
    first.release();
    verdict = { allowed: false, retryAfterMs: 2500 };
    const refused = await limits.admit('a');
    assert.ok(!refused.admitted && refused.problem.status === 429);
    assert.equal(refused.admitted ? '' : refused.problem.headers?.['retry-after'], '3');
    // Over the replica's own count: refused without asking the store.
    const before = asked.length;
    assert.ok(!(await limits.admit('a')).admitted);
    assert.equal(asked.length, before);
    now += 10_000;
    verdict = 'unavailable';
    const fallback = await limits.admit('a');
    assert.ok(fallback.admitted, 'the in-memory count decides while the store is away');
    assert.ok(!(await limits.admit('a')).admitted, 'the concurrency slot is still per replica');
  });

  it('treats a shared store that fails (a rejected promise) as unavailable', async () => {
    const limits = new ClientLimits({
      ratePerSecond: 1,
      burst: 0,
      maxConcurrent: 0,
      shared: { take: () => Promise.reject(new Error('store broke')) },
      now: () => 0,
    });
    assert.ok((await limits.admit('a')).admitted, 'the in-memory count decides');
    assert.ok(!(await limits.admit('a')).admitted, 'and still counts');
  });
});
