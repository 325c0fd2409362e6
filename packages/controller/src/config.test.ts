import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@podrouter/core';
import { controllerHelp, loadControllerConfig } from './config.ts';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const result = loadControllerConfig(argv, env);
  assert.equal(result.kind, 'run');
  return result.kind === 'run' ? result.config : (undefined as never);
};

test('defaults follow DESIGN.md', () => {
  const config = run([]);
  assert.equal(config.aliasMode, 'endpointslice');
  assert.deepEqual(config.routerService, { namespace: 'podrouter', name: 'podrouter-private' });
  assert.equal(config.clusterDomain, 'cluster.local');
  assert.equal(config.aliasGracePeriodMs, 300_000);
  assert.equal(config.leaderElect, true);
  assert.equal(config.adminPort, 9082);
  assert.equal(config.hostsAnnotation, 'privateHosts');
  assert.equal(config.routableLabelSelector, 'routable=true');
  assert.deepEqual(config.allowCrossNamespace, []);
});

test('flags win over environment variables', () => {
  const config = run(['--alias-mode', 'externalname', '--allow-cross-namespace-aliases=a/b,*/c'], {
    ALIAS_MODE: 'cluster-ip',
    ROUTER_SERVICE: 'sys/router',
    ALIAS_GRACE_PERIOD: '30s',
    LEADER_ELECT: 'false',
    WATCH_NAMESPACES: 'a, b',
  });
  assert.equal(config.aliasMode, 'externalname');
  assert.deepEqual(config.routerService, { namespace: 'sys', name: 'router' });
  assert.equal(config.aliasGracePeriodMs, 30_000);
  assert.equal(config.leaderElect, false);
  assert.deepEqual(config.watchNamespaces, ['a', 'b']);
  assert.deepEqual(config.allowCrossNamespace, [
    { from: 'a', to: 'b' },
    { from: '*', to: 'c' },
  ]);
});

test('bad values name the setting', () => {
  for (const [env, value, pattern] of [
    ['ALIAS_MODE', 'nodeport', /ALIAS_MODE.*not one of/],
    ['ROUTER_SERVICE', 'router', /ROUTER_SERVICE.*NAMESPACE\/NAME/],
    ['ALIAS_GRACE_PERIOD', 'soon', /ALIAS_GRACE_PERIOD.*duration/],
    ['ALLOW_CROSS_NAMESPACE_ALIASES', 'a', /FROM_NAMESPACE\/TO_NAMESPACE/],
    ['CLUSTER_DOMAIN', 'bad_domain', /CLUSTER_DOMAIN/],
    ['LEASE_RENEW_DEADLINE', '20s', /LEASE_RENEW_DEADLINE/],
  ] as const) {
    assert.throws(
      () => loadControllerConfig([], { [env]: value }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }
  assert.throws(() => loadControllerConfig(['--nope'], {}), ConfigError);
});

test('--help lists every setting with its variable', () => {
  assert.deepEqual(loadControllerConfig(['--help'], {}), { kind: 'help' });
  const help = controllerHelp();
  for (const name of [
    'ALIAS_MODE',
    'ROUTER_SERVICE',
    'CLUSTER_DOMAIN',
    'ALIAS_GRACE_PERIOD',
    'LEADER_ELECT',
    'LEASE_NAMESPACE',
    'LEASE_NAME',
    'ADMIN_PORT',
    'ROUTABLE_LABEL_SELECTOR',
    'HOSTS_ANNOTATION',
    'KUBECONFIG',
    'WATCH_NAMESPACES',
    'ALLOW_CROSS_NAMESPACE_ALIASES',
  ]) {
    assert.match(help, new RegExp(`env ${name},`));
  }
});
