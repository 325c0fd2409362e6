import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { BUILDS, pod, send, startRouter } from '../support/harness.ts';

/** Conformance: configuration, bad source files, readiness and graceful shutdown. */

let app: EchoApp;

before(async () => {
  app = await startEchoApp({ host: '127.0.13.1', port: 0, name: 'app' });
});

after(async () => {
  await app.close();
});

for (const build of BUILDS) {
  describe(`lifecycle (${build.tier} build)`, () => {
    const appPod = () =>
      pod(build, {
        name: 'app',
        ip: '127.0.13.1',
        ports: [app.port],
        hosts: 'life.example.com',
        paths: `${app.port}:/`,
      });

    it('lists every setting with its environment variable in --help', () => {
      const help = spawnSync(process.execPath, [build.bin, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0);
      for (const name of [
        'PORT',
        'HOSTS_ANNOTATION',
        'PATHS_ANNOTATION',
        'ROUTABLE_LABEL_SELECTOR',
        'API_KEY_SECRET_LOCATION',
        'API_KEY_HEADER',
        'CLIENT_MAX_BODY_SIZE',
        'SOURCE',
        'SOURCE_FILE',
        'ADMIN_PORT',
        'WATCH_NAMESPACES',
        'KUBECONFIG',
        'WORKERS',
      ]) {
        assert.match(help.stdout, new RegExp(`env ${name},`), name);
      }
      assert.match(help.stdout, new RegExp(`default ${build.hostsAnnotation}\\)`));
      assert.match(help.stdout, new RegExp(`default routing:${build.apiKeyField}\\)`));
    });

    it('exits 2 naming the setting for invalid configuration', () => {
      const cases: [Record<string, string>, string[], RegExp][] = [
        [{ PORT: 'eighty' }, [], /PORT \(--port\)/],
        [{}, ['--client-max-body-size', '1 gigabyte'], /CLIENT_MAX_BODY_SIZE/],
        [{ SOURCE: 'file' }, [], /SOURCE_FILE \(--file\).*required/],
        [{ ROUTABLE_LABEL_SELECTOR: 'a in (b' }, [], /ROUTABLE_LABEL_SELECTOR/],
        [{ API_KEY_SECRET_LOCATION: 'no-field' }, [], /API_KEY_SECRET_LOCATION/],
        [{}, ['--no-such-flag'], /--no-such-flag: unknown option/],
      ];
      for (const [env, args, message] of cases) {
        const run = spawnSync(process.execPath, [build.bin, ...args], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', ...env },
          timeout: 30_000,
        });
        assert.equal(run.status, 2, `${JSON.stringify(env)} ${args.join(' ')}: ${run.stderr}`);
        assert.match(run.stderr, message);
      }
    });

    it('keeps the last good table when the file breaks, and reports why', async () => {
      const router = await startRouter(build, [appPod()]);
      try {
        router.writeRaw('apiVersion: v1\nkind: List\nitems: [ {unclosed\n');
        await router.waitForLog(
          (line) =>
            typeof line.msg === 'string' && line.msg.includes('keeping the last good routes'),
        );
        assert.equal(
          (await send({ port: router.port, host: 'life.example.com', path: '/' })).status,
          200,
        );
        const routes = (await router.admin('/routes')).json<{
          sourceError: string | null;
          routes: unknown[];
        }>();
        assert.match(routes.sourceError ?? '', /cluster\.yaml/);
        assert.equal(routes.routes.length, 1);
        assert.equal((await router.admin('/readyz')).status, 200);
        // Fixed again: applies, and the error clears.
        await router.setState([appPod()]);
        assert.equal(
          (await router.admin('/routes')).json<{ sourceError: string | null }>().sourceError,
          null,
        );
      } finally {
        await router.stop();
      }
    });

    it('fails readiness first on SIGTERM, drains in-flight requests, then exits 0', async () => {
      const router = await startRouter(build, [appPod()], {
        SHUTDOWN_DELAY: '400ms',
        SHUTDOWN_TIMEOUT: '5s',
      });
      const inFlight = send({ port: router.port, host: 'life.example.com', path: '/slow?ms=900' });
      await sleep(100);
      router.child.kill('SIGTERM');
      await router.waitForLog(
        (line) => typeof line.msg === 'string' && line.msg.startsWith('shutting down'),
      );
      assert.equal((await router.admin('/readyz')).status, 503);
      // Still serving during the delay, so endpoints can catch up.
      assert.equal(
        (await send({ port: router.port, host: 'life.example.com', path: '/' })).status,
        200,
      );
      const slow = await inFlight;
      assert.equal(slow.status, 200);
      assert.equal(await router.stop(), 0);
    });
  });
}
