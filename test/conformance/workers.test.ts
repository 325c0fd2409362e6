import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, type RunningRouter, send, startRouter } from '../support/harness.ts';

/**
 * WORKERS=2: real processes on loopback, the file source read once by the primary. Which
 * worker served a request is read from its access-log line (every worker's log lines carry
 * its `worker` id).
 */

const build = BUILDS[0] as (typeof BUILDS)[number];
let app: EchoApp;

before(async () => {
  app = await startEchoApp({ host: '127.0.14.1', port: 0, name: 'app' });
});

after(async () => {
  await app.close();
});

const appPod = (hosts: string) =>
  pod(build, { name: 'app', ip: '127.0.14.1', ports: [app.port], hosts, paths: `${app.port}:/` });

interface WorkersView {
  readonly routes: { host: string }[];
  readonly workers: { id: number; pid: number; serving: boolean; version: number }[];
}

/** The sample of a metric series in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Workers whose access lines answered `host` (each request on a fresh connection). */
function servedBy(router: RunningRouter, host: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of router.logs) {
    if (line.msg !== 'access' || line.host !== host || typeof line.worker !== 'number') continue;
    counts.set(line.worker, (counts.get(line.worker) ?? 0) + 1);
  }
  return counts;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('WORKERS=2 (public build)', () => {
  it('rejects a WORKERS value that is not auto or a count', () => {
    for (const value of ['0', 'two', '-1']) {
      const run = spawnSync(process.execPath, [build.bin], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', WORKERS: value },
        timeout: 30_000,
      });
      assert.equal(run.status, 2, `${value}: ${run.stderr}`);
      assert.match(run.stderr, /WORKERS \(--workers\)/);
    }
  });

  it('stops with the exit code of a worker that cannot start (an extension setting)', () => {
    // The policy extension runs in the workers only: its configuration error surfaces there.
    const run = spawnSync(process.execPath, [build.bin], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        WORKERS: '2',
        SOURCE: 'file',
        SOURCE_FILE: '/dev/null',
        PORT: '0',
        ADMIN_PORT: '0',
        INTROSPECTION_PORT: '0',
        LISTEN_ADDRESS: '127.0.0.1',
        RATE_LIMITS: 'default: 10/s',
      },
      timeout: 30_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /RATE_LIMITS/);
  });

  it('serves from both workers, one table version, one readiness, metrics summed exactly', async () => {
    const router = await startRouter(build, [appPod('w.example.com')], { WORKERS: '2' });
    try {
      assert.equal((await router.admin('/readyz')).status, 200);
      const view = (await router.admin('/routes')).json<WorkersView>();
      assert.equal(view.workers.length, 2);
      assert.ok(view.workers.every((worker) => worker.serving && worker.version === 1));
      // One watch: only the primary reads the file (its lines have no worker id).
      const workerListening = router.logs.filter(
        (line) => line.msg === 'listening' && typeof line.worker === 'number',
      );
      assert.deepEqual(workerListening.map((line) => line.port).sort(), [router.port, router.port]);

      const requests = 40;
      for (let index = 0; index < requests; index++) {
        const answer = await send({ port: router.port, host: 'w.example.com', path: '/' });
        assert.equal(answer.status, 200);
      }
      await router.waitForLog(
        () =>
          [...servedBy(router, 'w.example.com').values()].reduce((a, b) => a + b, 0) === requests,
      );
      const counts = servedBy(router, 'w.example.com');
      assert.equal(counts.size, 2, `served by ${JSON.stringify([...counts])}`);
      // The kernel spreads connections by hash: roughly evenly (P(< 5 of 40) ≈ 1e-6).
      for (const served of counts.values()) assert.ok(served >= 5, `${[...counts]}`);

      const metrics = (await router.admin('/metrics')).body;
      assert.equal(
        sample(
          metrics,
          'podrouter_requests_total{tier="public",host="w.example.com",status="200"}',
        ),
        requests,
      );
      assert.equal(
        sample(metrics, 'podrouter_upstream_duration_seconds_count{tier="public"}'),
        requests,
      );
      // What describes the one table is taken once, not summed.
      assert.equal(sample(metrics, 'podrouter_routes{tier="public"}'), 1);
      assert.equal(sample(metrics, 'podrouter_reloads_total{tier="public",result="applied"}'), 1);
      assert.equal(sample(metrics, 'podrouter_workers{tier="public"}'), 2);
    } finally {
      await router.stop();
    }
  });

  it('sends a route change to every worker', async () => {
    const router = await startRouter(build, [appPod('before.example.com')], { WORKERS: '2' });
    try {
      const version = await router.setState([appPod('after.example.com')]);
      for (const worker of [1, 2]) {
        await router.waitForLog(
          (line) =>
            line.msg === 'route table applied' &&
            line.worker === worker &&
            line.version === version,
        );
      }
      for (let index = 0; index < 10; index++) {
        assert.equal(
          (await send({ port: router.port, host: 'after.example.com', path: '/' })).status,
          200,
        );
        assert.equal(
          (await send({ port: router.port, host: 'before.example.com', path: '/' })).status,
          404,
        );
      }
      assert.equal(servedBy(router, 'after.example.com').size, 2);
    } finally {
      await router.stop();
    }
  });

  it('replaces a killed worker, logs and counts it, keeps serving and keeps its counts', async () => {
    const router = await startRouter(build, [appPod('crash.example.com')], { WORKERS: '2' });
    const served = () =>
      [...servedBy(router, 'crash.example.com').values()].reduce((a, b) => a + b, 0);
    const requestsTotal = async () =>
      sample(
        (await router.admin('/metrics')).body,
        'podrouter_requests_total{tier="public",host="crash.example.com",status="200"}',
      );
    try {
      const before = (await router.admin('/routes')).json<WorkersView>().workers;
      const victim = before[0];
      assert.ok(victim);
      // Both workers count requests; Prometheus scrapes them, then one worker dies.
      for (let index = 0; index < 40; index++) {
        assert.equal(
          (await send({ port: router.port, host: 'crash.example.com', path: '/' })).status,
          200,
        );
      }
      await router.waitForLog(() => served() === 40);
      const victimServed = servedBy(router, 'crash.example.com').get(victim.id) ?? 0;
      assert.ok(victimServed > 0, 'the killed worker had served requests');
      assert.equal(await requestsTotal(), 40);
      process.kill(victim.pid, 'SIGKILL');
      const exited = await router.waitForLog(
        (line) => line.msg === 'worker exited; starting a new one',
      );
      assert.equal(exited.worker, victim.id);
      assert.equal(exited.signal, 'SIGKILL');
      // The other worker serves meanwhile (its socket is the port's only one until the
      // replacement binds).
      for (let index = 0; index < 20; index++) {
        assert.equal(
          (await send({ port: router.port, host: 'crash.example.com', path: '/' })).status,
          200,
        );
      }
      const after = await waitFor('a replacement worker', async () => {
        const workers = (await router.admin('/routes')).json<WorkersView>().workers;
        return workers.length === 2 &&
          workers.every((worker) => worker.serving && worker.version === 1) &&
          !workers.some((worker) => worker.pid === victim.pid)
          ? workers
          : undefined;
      });
      assert.equal(after.length, 2);
      assert.equal((await router.admin('/readyz')).status, 200);
      const metrics = (await router.admin('/metrics')).body;
      assert.equal(
        sample(metrics, 'podrouter_worker_restarts_total{tier="public",reason="SIGKILL"}'),
        1,
      );
      for (let index = 0; index < 10; index++) {
        assert.equal(
          (await send({ port: router.port, host: 'crash.example.com', path: '/' })).status,
          200,
        );
      }
      // The dead worker's scraped counts stay in the sum: no false counter reset.
      await router.waitForLog(() => served() === 70);
      assert.equal(await requestsTotal(), 70);
    } finally {
      await router.stop();
    }
  });

  it('on SIGTERM fails readiness first, drains in-flight requests in every worker, exits 0', async () => {
    const router = await startRouter(build, [appPod('drain.example.com')], {
      WORKERS: '2',
      SHUTDOWN_DELAY: '400ms',
      SHUTDOWN_TIMEOUT: '5s',
    });
    // Slow requests on fresh connections, spread over both workers (all 12 on one: P ≈ 5e-4).
    const inFlight = Array.from({ length: 12 }, () =>
      send({ port: router.port, host: 'drain.example.com', path: '/slow?ms=900' }),
    );
    await sleep(150);
    router.child.kill('SIGTERM');
    await router.waitForLog(
      (line) =>
        typeof line.msg === 'string' &&
        line.msg.startsWith('shutting down') &&
        line.worker === undefined,
    );
    assert.equal((await router.admin('/readyz')).status, 503);
    // Still serving during the delay, so endpoints can catch up.
    assert.equal(
      (await send({ port: router.port, host: 'drain.example.com', path: '/' })).status,
      200,
    );
    for (const answer of await Promise.all(inFlight)) assert.equal(answer.status, 200);
    assert.equal(await router.stop(), 0);
    const drained = router.logs.filter(
      (line) => line.msg === 'shut down' && typeof line.worker === 'number',
    );
    assert.equal(drained.length, 2);
    assert.equal(servedBy(router, 'drain.example.com').size, 2);
  });
});
