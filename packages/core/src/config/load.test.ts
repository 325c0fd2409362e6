import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import { checkSettings, helpText, loadRouterConfig } from './load.ts';
import { PRIVATE_DEFAULTS, PUBLIC_DEFAULTS, ROUTER_SETTINGS } from './settings.ts';
import { parseDuration, parseSize } from './units.ts';

describe('units', () => {
  it('parses durations', () => {
    const cases: [string, number | undefined][] = [
      ['250ms', 250],
      ['5s', 5000],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['3', 3000],
      ['1.5s', 1500],
      ['0', 0],
      ['-1s', undefined],
      ['5 parsecs', undefined],
      ['', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(parseDuration(text), expected, text);
  });
  it('parses nginx-style sizes', () => {
    const cases: [string, number | undefined][] = [
      ['0', 0],
      ['512', 512],
      ['10k', 10_240],
      ['1m', 1_048_576],
      ['2G', 2 * 1024 ** 3],
      ['1mb', 1_048_576],
      ['1.5m', undefined],
      ['lots', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(parseSize(text), expected, text);
  });
});

describe('loadRouterConfig', () => {
  const run = (build = PUBLIC_DEFAULTS, argv: string[] = [], env: Record<string, string> = {}) => {
    const result = loadRouterConfig(build, argv, env);
    assert.equal(result.kind, 'run');
    return (result as Extract<typeof result, { kind: 'run' }>).config;
  };

  it('gives each build its defaults and nothing else differs', () => {
    const pub = run(PUBLIC_DEFAULTS);
    const priv = run(PRIVATE_DEFAULTS);
    assert.deepEqual(
      [pub.port, pub.adminPort, pub.hostsAnnotation, pub.pathsAnnotation],
      [80, 9080, 'publicHosts', 'publicPaths'],
    );
    assert.deepEqual(
      [priv.port, priv.adminPort, priv.hostsAnnotation, priv.pathsAnnotation],
      [81, 9081, 'privateHosts', 'privatePaths'],
    );
    assert.deepEqual(pub.apiKeySecretLocation, { secretName: 'routing', field: 'public-api-key' });
    assert.deepEqual(priv.apiKeySecretLocation, {
      secretName: 'routing',
      field: 'private-api-key',
    });
    const differing = Object.keys(pub).filter(
      (key) =>
        JSON.stringify(pub[key as keyof typeof pub]) !==
        JSON.stringify(priv[key as keyof typeof priv]),
    );
    assert.deepEqual(differing.sort(), [
      'adminPort',
      'aliasHosts',
      'allowFromAnnotation',
      'apiKeySecretLocation',
      'backendServerNameAnnotation',
      'backendTlsAnnotation',
      'build',
      'denyFromAnnotation',
      'hostsAnnotation',
      'introspectionPort',
      'pathsAnnotation',
      'port',
      'tlsPort',
      'tlsSecretAnnotation',
    ]);
    assert.deepEqual(
      [pub.tlsPort, pub.tlsSecretAnnotation, priv.tlsPort, priv.tlsSecretAnnotation],
      [443, 'publicTlsSecret', undefined, 'privateTlsSecret'],
    );
  });

  it('reads the TLS settings and refuses what cannot work', () => {
    const config = run(PRIVATE_DEFAULTS, ['--tls-port=8443'], {
      DEFAULT_TLS_SECRET: 'podrouter/wildcard-tls',
      HSTS_MAX_AGE: '1h',
      HTTPS_REDIRECT: 'false',
    });
    assert.equal(config.tlsPort, 8443);
    assert.deepEqual(config.defaultTlsSecret, { namespace: 'podrouter', name: 'wildcard-tls' });
    assert.equal(config.hstsMaxAgeMs, 3_600_000);
    assert.equal(config.httpsRedirect, false);
    assert.equal(run(PUBLIC_DEFAULTS, [], { TLS_PORT: 'off' }).tlsPort, undefined);
    assert.equal(run(PUBLIC_DEFAULTS, [], { TLS_PORT: '' }).tlsPort, undefined);
    assert.throws(() => run(PUBLIC_DEFAULTS, [], { PORT: '8443', TLS_PORT: '8443' }), {
      message: 'invalid TLS_PORT (--tls-port): must differ from PORT',
    });
    assert.throws(() => run(PUBLIC_DEFAULTS, [], { DEFAULT_TLS_SECRET: 'wildcard-tls' }), {
      message:
        'invalid DEFAULT_TLS_SECRET (--default-tls-secret): "wildcard-tls" is not NAMESPACE/NAME',
    });
  });

  it('keeps the k8s-router environment variables and lets flags win', () => {
    const config = run(PUBLIC_DEFAULTS, ['--port=8000', '--trust-forwarded-headers'], {
      PORT: '7000',
      HOSTS_ANNOTATION: 'myHosts',
      CLIENT_MAX_BODY_SIZE: '10m',
      WATCH_NAMESPACES: 'a, b,,c',
      API_KEY_SECRET_LOCATION: 'keys:tier-1',
    });
    assert.equal(config.port, 8000);
    assert.equal(config.hostsAnnotation, 'myHosts');
    assert.equal(config.clientMaxBodySize, 10 * 1024 * 1024);
    assert.deepEqual(config.watchNamespaces, ['a', 'b', 'c']);
    assert.deepEqual(config.apiKeySecretLocation, { secretName: 'keys', field: 'tier-1' });
    assert.equal(config.trustForwardedHeaders, true);
  });

  it('names the setting in every error', () => {
    const bad: [string[], Record<string, string>, RegExp][] = [
      [[], { PORT: '70000' }, /^invalid PORT \(--port\)/],
      [[], { SOURCE: 'etcd' }, /^invalid SOURCE \(--source\)/],
      [[], { UPSTREAM_CONNECT_TIMEOUT: 'soon' }, /UPSTREAM_CONNECT_TIMEOUT/],
      [[], { API_KEY_HEADER: 'bad header' }, /API_KEY_HEADER/],
      [['--port'], {}, /--port \(PORT\): missing value/],
      [['--bogus'], {}, /--bogus: unknown option/],
      [[], { HOSTS_ANNOTATION: 'not an annotation!' }, /HOSTS_ANNOTATION/],
    ];
    for (const [argv, env, message] of bad) {
      assert.throws(
        () => loadRouterConfig(PUBLIC_DEFAULTS, argv, env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        `${argv} ${JSON.stringify(env)}`,
      );
    }
  });

  it('documents every setting in --help', () => {
    const help = helpText(PRIVATE_DEFAULTS, ROUTER_SETTINGS, 'summary');
    for (const setting of ROUTER_SETTINGS) {
      assert.ok(help.includes(setting.flag) && help.includes(`env ${setting.env},`), setting.env);
    }
    assert.equal(loadRouterConfig(PUBLIC_DEFAULTS, ['--help'], {}).kind, 'help');
  });
});

describe('checkSettings', () => {
  const base = ROUTER_SETTINGS[0];
  it('fails at start when two settings share an environment variable, a flag or a key', () => {
    const twin = { ...base, key: 'other', flag: '--other' };
    assert.throws(
      () => loadRouterConfig(PUBLIC_DEFAULTS, [], {}, [...ROUTER_SETTINGS, twin]),
      /environment variable PORT is declared twice \(settings "port" and "other"\)/,
    );
    const flag = { ...base, key: 'other', env: 'OTHER' };
    assert.throws(() => checkSettings([base, flag]), /flag --port is declared twice/);
    const key = { ...base, env: 'OTHER', flag: '--other' };
    assert.throws(() => checkSettings([base, key]), /key port is declared twice/);
    // --help lists the settings: it fails the same way rather than print a lie.
    assert.throws(() => loadRouterConfig(PUBLIC_DEFAULTS, ['--help'], {}, [base, twin]), /twice/);
  });
});
