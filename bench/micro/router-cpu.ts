/**
 * The router's CPU time per proxied request, this checkout against another one, interleaved:
 * podrouter-public with the API key (one route to a one-worker nginx on loopback) from both
 * checkouts at once, fed alternately by the same in-process keep-alive client (A, B, A, B, …),
 * each burst measured by the router process's own utime + stime (/proc). CPU time, not
 * throughput: a busy machine slows both alike but does not add to either's CPU per request.
 *
 *   scripts/node.sh bench/micro/router-cpu.ts --base DIR [--after DIR2] [--rounds 6] [--requests 20000] [--connections 8]
 *
 * DIR is another checkout with its own node_modules (the "before"); `--after DIR2` measures
 * DIR2 instead of this checkout (`--after DIR`: an A/A run, how wide the noise is). Loopback
 * only, bounded by the request count. Not the proxy matrix (`npm run bench`): no wrk, no pinning, no nginx
 * reference; a before/after ratio for a change to the request path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Http1Parser, type ResponseHead } from '../../packages/core/src/http1/parser.ts';
import { clusterFile, routerEnv } from '../harness/cluster.ts';
import { cpuTimes } from '../harness/cpu.ts';
import { freePort, waitFor } from '../harness/net.ts';
import { nginxArgs, upstreamConfig } from '../harness/nginx.ts';
import { Processes } from '../harness/processes.ts';
import { median } from '../harness/stats.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    after: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    requests: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '8' },
  },
});
if (values.base === undefined) throw new Error('--base DIR is required');
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests);
const CONNECTIONS = Number(values.connections);
const ROOT = resolve(import.meta.dirname, '../..');
const NODE = join(ROOT, 'scripts/node.sh');
const HOST = 'bench.local';
const KEY = 'bench-key-5e6f7a8b9c0d1e2f';
const UPSTREAM_IP = '127.0.0.2';
/** What wrk sends in the proxy matrix's API-key cell. */
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Routing-Api-Key: ${KEY}\r\n\r\n`);

const processes = new Processes();
processes.stopOnSignals();
const dir = mkdtempSync(join(tmpdir(), 'router-cpu-'));

async function start(): Promise<void> {
  const upstreamPort = await freePort(UPSTREAM_IP);
  const [nginx, ...nginxRest] = nginxArgs(
    dir,
    'upstream',
    upstreamConfig(dir, UPSTREAM_IP, upstreamPort),
  ) as [string, ...string[]];
  processes.start(nginx, nginxRest);
  const routers = await Promise.all(
    [resolve(values.base as string), resolve(values.after ?? ROOT)].map(async (root, index) => {
      const port = await freePort();
      const adminPort = await freePort();
      const file = clusterFile(join(dir, `cluster-${index}.json`), [
        {
          tier: 'public',
          namespace: 'bench',
          host: HOST,
          podIp: UPSTREAM_IP,
          port: upstreamPort,
          apiKey: KEY,
        },
      ]);
      const child = processes.start(
        NODE,
        [join(root, 'packages/public/bin/podrouter-public.js')],
        routerEnv(file, port, adminPort, { LOG_LEVEL: 'warn', ACCESS_LOG: 'off' }),
      );
      await waitFor(`http://127.0.0.1:${adminPort}/readyz`);
      return { port, pid: child.pid as number };
    }),
  );
  await waitFor(`http://${UPSTREAM_IP}:${upstreamPort}/`);
  const sides = routers.map((router) => ({ ...router, sockets: [] as Socket[] }));
  for (const side of sides) {
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = connect({ host: '127.0.0.1', port: side.port, noDelay: true });
      await new Promise((done) => socket.once('connect', done));
      side.sockets.push(socket);
    }
  }
  /** `count` requests over the side's connections, one in flight on each. */
  const burst = (sockets: Socket[], count: number) =>
    new Promise<void>((done, fail) => {
      let sent = 0;
      let answered = 0;
      for (const socket of sockets) {
        const parser = new Http1Parser<ResponseHead>('response', {
          onHead: (head) => {
            if (head.status !== 200) fail(new Error(`status ${head.status}`));
          },
          onBody: () => undefined,
          onTrailers: () => undefined,
          onComplete: () => {
            answered++;
            if (answered === count) {
              for (const s of sockets) s.removeAllListeners('data');
              done();
            } else if (sent < count) {
              sent++;
              socket.write(REQUEST);
            }
          },
        });
        socket.on('data', (chunk: Buffer) => {
          if (parser.execute(chunk) < 0) fail(parser.error);
        });
        if (sent < count) {
          sent++;
          socket.write(REQUEST);
        }
      }
    });
  // Warm both (JIT, pools) before measuring.
  for (const side of sides) await burst(side.sockets, REQUESTS);
  const perRequest: { user: number[]; sys: number[] }[] = sides.map(() => ({ user: [], sys: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so neither always follows the other.
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      const side = sides[index] as (typeof sides)[number];
      const before = cpuTimes([side.pid]);
      await burst(side.sockets, REQUESTS);
      const after = cpuTimes([side.pid]);
      const out = perRequest[index] as (typeof perRequest)[number];
      out.user.push(((after.user - before.user) * 1000) / REQUESTS);
      out.sys.push(((after.sys - before.sys) * 1000) / REQUESTS);
    }
  }
  for (const side of sides) for (const socket of side.sockets) socket.destroy();
  const [b, a] = perRequest as [(typeof perRequest)[0], (typeof perRequest)[0]];
  // The least a burst took too: interference only ever adds CPU time.
  const row = (name: string, before: number[], after: number[]) => {
    const mb = median(before);
    const ma = median(after);
    const lb = Math.min(...before);
    const la = Math.min(...after);
    console.log(
      `| ${name} | ${mb.toFixed(2)} | ${ma.toFixed(2)} | ${(ma / mb).toFixed(3)} | ${lb.toFixed(2)} | ${la.toFixed(2)} | ${(la / lb).toFixed(3)} |`,
    );
  };
  console.log(
    `router CPU µs per request, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${REQUESTS} requests each: medians and least`,
  );
  console.log(
    '| | before | after | after/before | least before | least after | least after/before |\n|---|---:|---:|---:|---:|---:|---:|',
  );
  row('user', b.user, a.user);
  row('sys', b.sys, a.sys);
  row(
    'user + sys',
    b.user.map((u, i) => u + (b.sys[i] as number)),
    a.user.map((u, i) => u + (a.sys[i] as number)),
  );
  console.log(
    `raw user µs: before ${b.user.map((x) => x.toFixed(1)).join(' ')}; after ${a.user.map((x) => x.toFixed(1)).join(' ')}`,
  );
}

try {
  await start();
} finally {
  await processes.stopAll();
  rmSync(dir, { recursive: true, force: true });
}
