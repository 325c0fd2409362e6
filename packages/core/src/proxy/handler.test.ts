import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { RoundRobin } from '../balancer/round-robin.ts';
import { ClientAddressResolver } from '../guards/client-address.ts';
import { ClientLimits } from '../guards/client-limits.ts';
import type { Endpoint, Route, RouteTable } from '../routes/types.ts';
import type { FailureKind, UpstreamEngine } from './engine.ts';
import { type ExchangeRecord, RouterProxy } from './handler.ts';
import { writeRawProblem } from './problem.ts';

/**
 * The request path when something in it throws after an await (a shared client-rate count,
 * an asynchronous hook): the client gets a 500 and the exchange its record, never an
 * unhandled rejection and a client left waiting.
 */

const HOST = 'h.example';
const servers: Server[] = [];
const errors: unknown[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  for (const server of servers) server.close();
});

const engine: UpstreamEngine = {
  forward: () => assert.fail('no exchange reaches the engine'),
} as unknown as UpstreamEngine;

function route(overrides: Partial<Route>): Route {
  return {
    host: HOST,
    path: '/',
    namespace: 'default',
    claimedAt: 0,
    balancer: { pick: () => undefined } as unknown as RoundRobin<Endpoint>,
    access: null,
    pipeline: null,
    ...overrides,
  };
}

const tableOf = (only: Route): RouteTable => ({
  version: 1,
  builtAt: 0,
  hosts: new Map([[HOST, new Map([['/', only]])]]),
  routes: [only],
  pods: [],
  rejectedEntries: 0,
});

/** A router proxy behind node:http, with a shared client-rate count that answers later. */
async function serve(
  table: () => RouteTable,
  upstream: UpstreamEngine = engine,
  eject: (key: string) => void = () => undefined,
) {
  const records: ExchangeRecord[] = [];
  const proxy = new RouterProxy({
    table,
    engine: upstream,
    health: { eject },
    options: {
      clientAddress: new ClientAddressResolver({ trustAll: false, trustedProxies: [] }),
      clientLimits: new ClientLimits({
        ratePerSecond: 1000,
        burst: 1000,
        maxConcurrent: 0,
        shared: { take: () => Promise.resolve({ allowed: true, retryAfterMs: 0 }) },
      }),
      maxBodyBytes: 0,
      bodyTimeoutMs: 0,
      notFound: 'problem',
      underscores: false,
      identityHeaders: new Set(),
      upgradeTokens: new Set(['websocket']),
      totalTimeoutMs: 0,
      connectTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      methods: { any: true, listed: new Set() },
      mergeSlashes: false,
      escapedSlashes: 'reject',
    },
    observe: (record) => records.push(record),
    onHookError: (error) => errors.push(error),
    onError: (error) => errors.push(error),
  });
  const server = createServer(proxy.handleRequest);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, records };
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/x', headers: { host: HOST } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end();
  });
}

describe('a throw on the request path after an await', () => {
  it('after a shared-count admission (the route table throws): 500 and a record', async () => {
    errors.length = 0;
    const { port, records } = await serve(() => {
      throw new Error('table broke');
    });
    const answer = await get(port);
    assert.equal(answer.status, 500);
    assert.match(answer.body, /"title":"Internal error"/);
    assert.doesNotMatch(answer.body, /table broke/);
    assert.deepEqual(
      records.map((record) => record.status),
      [500],
    );
    assert.match(String(errors[0]), /table broke/);
    assert.deepEqual(unhandled, []);
  });

  it('after an asynchronous hook (dispatch throws): 500 and a record, not a hook failure', async () => {
    errors.length = 0;
    const only = route({
      pipeline: { run: () => Promise.resolve(undefined) },
      balancer: {
        pick: () => {
          throw new Error('balancer broke');
        },
      } as unknown as RoundRobin<Endpoint>,
    });
    const { port, records } = await serve(() => tableOf(only));
    const answer = await get(port);
    assert.equal(answer.status, 500);
    assert.match(answer.body, /"title":"Internal error"/);
    assert.deepEqual(
      records.map((record) => record.status),
      [500],
    );
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /balancer broke/);
    assert.deepEqual(unhandled, []);
  });
});

describe('a connect failure, through the steps around the engine', () => {
  const pod: Endpoint = {
    key: '10.0.0.1:80',
    origin: 'http://10.0.0.1:80',
    ip: '10.0.0.1',
    port: 80,
    protocol: 'http1',
    namespace: 'default',
    podName: 'pod-1',
  };
  /** A single-Pod route whose engine fails every connect with `kind`. */
  async function failing(kind: FailureKind) {
    const ejected: string[] = [];
    const only = route({
      // The only Pod; nothing else to retry on.
      balancer: { pick: (avoid?: Endpoint) => (avoid ? undefined : pod) } as RoundRobin<Endpoint>,
    });
    const upstream = {
      forward: (_call, done) =>
        done({ status: 0, failure: { kind, error: new Error(kind), responseStarted: false } }),
      retainOnly: () => undefined,
      close: () => Promise.resolve(),
    } as UpstreamEngine;
    const { port, records } = await serve(
      () => tableOf(only),
      upstream,
      (key) => ejected.push(key),
    );
    const answer = await get(port);
    return { answer, ejected, failure: records[0]?.failure };
  }

  it('ejects a Pod that refused the connection (502) or left it unanswered (504)', async () => {
    const refused = await failing('connect-refused');
    assert.equal(refused.answer.status, 502);
    assert.deepEqual(refused.ejected, [pod.key]);
    const timedOut = await failing('connect-timeout');
    assert.equal(timedOut.answer.status, 504);
    assert.deepEqual(timedOut.ejected, [pod.key]);
  });

  it('answers 502 and ejects nobody when the router itself could not connect', async () => {
    const local = await failing('connect-local');
    assert.equal(local.answer.status, 502);
    assert.match(local.answer.body, /The router could not open a connection/);
    assert.equal(local.failure, 'connect-local');
    assert.deepEqual(local.ejected, []);
  });
});

describe('a problem written raw (upgrade refusals, parser errors)', () => {
  /** The bytes writeRawProblem writes for `problem`. */
  function raw(problem: Parameters<typeof writeRawProblem>[1]): string {
    let written = '';
    const socket = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString('latin1');
        done();
      },
    });
    Object.assign(socket, { resume: () => undefined });
    writeRawProblem(socket as unknown as Parameters<typeof writeRawProblem>[0], problem);
    return written;
  }

  it('writes none of its extra fields when one could split the head', () => {
    const written = raw({
      status: 401,
      title: 'Refused',
      headers: { 'x-ok': '1', 'x-c': 'v\r\nX-Injected: 1' },
    });
    assert.match(written, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.doesNotMatch(written, /X-Injected|x-ok/);
    assert.doesNotMatch(raw({ status: 401, title: 'x', headers: { 'a\r\nb': '1' } }), /a\r\nb/);
    assert.match(
      raw({ status: 429, title: 'Slow down', headers: { 'retry-after': '2' } }),
      /\r\nretry-after: 2\r\n/,
    );
  });
});
