import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@podrouter/core';
import { cleanupHelp, loadCleanupConfig } from './config.ts';

test('cleanup reads the controller’s own names, so its env cleans up after it', () => {
  const result = loadCleanupConfig(
    ['--controller-selector', 'app.kubernetes.io/component=controller'],
    { ROUTER_SERVICE: 'sys/router', LEASE_NAMESPACE: 'sys', LEASE_NAME: 'router-controller' },
  );
  assert.equal(result.kind, 'run');
  if (result.kind !== 'run') return;
  assert.equal(result.config.routerService, 'sys/router');
  assert.equal(result.config.leaseNamespace, 'sys');
  assert.equal(result.config.leaseName, 'router-controller');
  assert.equal(result.config.controllerSelector, 'app.kubernetes.io/component=controller');
  assert.equal(result.config.waitTimeoutMs, 120_000);
});

test('defaults: no wait and no Lease unless asked', () => {
  const result = loadCleanupConfig([], {});
  assert.equal(result.kind, 'run');
  if (result.kind !== 'run') return;
  assert.equal(result.config.routerService, 'podrouter/podrouter-private');
  assert.equal(result.config.controllerSelector, '');
  assert.equal(result.config.leaseName, '');
});

test('bad values name their setting', () => {
  assert.throws(
    () => loadCleanupConfig(['--router-service', 'no-slash'], {}),
    (error: unknown) =>
      error instanceof ConfigError && /ROUTER_SERVICE|--router-service/.test(error.message),
  );
  assert.throws(
    () => loadCleanupConfig(['--controller-selector', 'a in ('], {}),
    (error: unknown) => error instanceof ConfigError && /label selector/.test(error.message),
  );
  assert.throws(() => loadCleanupConfig(['--alias-mode', 'x'], {}), ConfigError);
});

test('--help names the command and every option', () => {
  assert.equal(loadCleanupConfig(['--help'], {}).kind, 'help');
  const help = cleanupHelp();
  assert.match(help, /^Usage: podrouter-controller cleanup/);
  for (const flag of ['--router-service', '--controller-selector', '--lease-name']) {
    assert.ok(help.includes(flag), flag);
  }
});
