// The Helm chart (charts/podrouter): `helm lint --strict`, `helm template` with default and
// overridden values checked object by object, values kept true to the three builds' --help,
// and the rendered manifests validated by the real API server of the test cluster
// (`kubectl apply --dry-run=server`, Pod Security "restricted"), with the chart's RBAC really
// applied and both routers started as the chart's ServiceAccounts. Helm is built from its Go
// module by charts/tools/helm.sh (once, then cached). Fails, never skips, when Helm cannot be
// built or the cluster cannot be had.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  kubectl,
  kubectlRun,
  serviceAccountKubeconfig,
} from '../cluster/cluster.ts';
import { BUILDS, NetnsClient, ROOT, startKubeRouter } from '../kube/support.ts';

const CHART = join(ROOT, 'charts/podrouter');
const HELM = join(ROOT, 'charts/tools/helm.sh');
const COMPONENTS = ['public', 'private', 'controller'] as const;
type Component = (typeof COMPONENTS)[number];

/** Controller settings whose chart default is "" because the chart computes them. */
const CHART_COMPUTED: Record<Component, readonly string[]> = {
  public: [],
  private: [],
  controller: ['ROUTER_SERVICE', 'LEASE_NAMESPACE', 'LEASE_NAME', 'POD_NAME'],
};

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: RBAC rules
  rules?: any[];
  // biome-ignore lint/suspicious/noExplicitAny: RBAC bindings
  roleRef?: any;
  // biome-ignore lint/suspicious/noExplicitAny: RBAC bindings
  subjects?: any[];
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, Record<string, string>>;
}

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const work = mkdtempSync(join(tmpdir(), 'podrouter-chart-'));
let files = 0;

async function helm(args: readonly string[]): Promise<Exec> {
  return exec('bash', [HELM, ...args], 20 * 60_000);
}

function valuesFile(values: object): string {
  const path = join(work, `values-${files++}.json`);
  writeFileSync(path, JSON.stringify(values));
  return path;
}

interface RenderOptions {
  release?: string;
  namespace?: string;
}

async function renderText(values: object = {}, opts: RenderOptions = {}): Promise<Exec> {
  return helm([
    'template',
    opts.release ?? 'podrouter',
    CHART,
    '--namespace',
    opts.namespace ?? 'podrouter',
    '-f',
    valuesFile(values),
  ]);
}

async function render(values: object = {}, opts: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await renderText(values, opts);
  assert.equal(result.code, 0, `helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => {
      assert.deepEqual(doc.errors, [], 'rendered YAML parses');
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function find(objects: readonly K8sObject[], kind: string, name: string, namespace?: string) {
  const found = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  assert.ok(found, `${kind} ${namespace ?? ''}/${name} is rendered`);
  return found;
}

function container(deployment: K8sObject) {
  const [first] = deployment.spec.template.spec.containers;
  assert.ok(first, `${deployment.metadata.name} has a container`);
  return first as {
    env: EnvVar[];
    ports: { name: string; containerPort: number }[];
    // biome-ignore lint/suspicious/noExplicitAny: probes and securityContext
    [key: string]: any;
  };
}

function envOf(deployment: K8sObject): Map<string, EnvVar> {
  const env = container(deployment).env;
  const names = env.map((e) => e.name);
  assert.equal(new Set(names).size, names.length, `no duplicate env names: ${names}`);
  return new Map(env.map((e) => [e.name, e]));
}

function plainEnv(deployment: K8sObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, e] of envOf(deployment)) if (e.value !== undefined) out[name] = e.value;
  return out;
}

/** Every `(env NAME, default VALUE)` of a build's --help. */
async function helpSettings(component: Component): Promise<Map<string, string>> {
  const bin = join(ROOT, `packages/${component}/bin/podrouter-${component}.js`);
  const result = await exec(process.execPath, [bin, '--help']);
  assert.equal(result.code, 0, result.stderr);
  const settings = new Map<string, string>();
  for (const m of result.stdout.matchAll(/\(env ([A-Z0-9_]+), default (.*)\)$/gm)) {
    settings.set(m[1] as string, m[2] === '""' ? '' : (m[2] as string));
  }
  assert.ok(settings.size > 15, `parsed the settings of podrouter-${component} --help`);
  return settings;
}

/** RBAC rules flattened to "group resource[/name] verb" for set comparisons. */
function permissions(rules: readonly { [k: string]: string[] | undefined }[]): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs ?? []) {
          const names = rule.resourceNames ?? [''];
          for (const name of names)
            out.push(`${group} ${resource}${name ? `/${name}` : ''} ${verb}`);
        }
      }
    }
  }
  return out.sort();
}

/** Objects Helm runs as hooks (not part of the release's manifest). */
const isHook = (o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'] !== undefined;

function exampleRules(file: string, kind: string, name: string) {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'examples/rbac', file), 'utf8')).map(
    (d) => d.toJS() as K8sObject,
  );
  return find(docs, kind, name).rules ?? [];
}

const defaults: { objects: K8sObject[] } = { objects: [] };

before(async () => {
  // Builds Helm on first use; a failed build fails every test below.
  const version = await helm(['version', '--short']);
  assert.equal(
    version.code,
    0,
    `charts/tools/helm.sh could not build or run Helm: ${version.stderr}`,
  );
  assert.match(version.stdout, /^v4\./);
  defaults.objects = await render();
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('helm lint', () => {
  test('--strict passes with default values and with overrides', async () => {
    const plain = await helm(['lint', '--strict', CHART]);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    const overridden = await helm([
      'lint',
      '--strict',
      CHART,
      '-f',
      valuesFile({
        public: { service: { type: 'NodePort' }, env: { WATCH_NAMESPACES: 'a,b' } },
        redis: { existingSecret: 'redis' },
        metrics: { serviceMonitor: { enabled: true } },
      }),
    ]);
    assert.equal(overridden.code, 0, overridden.stdout + overridden.stderr);
  });
});

describe('NOTES', () => {
  test('say the next steps with this release’s names and settings', async () => {
    const notes = async (values: object) => {
      const result = await helm([
        'install',
        'edge',
        CHART,
        '--namespace',
        'gw',
        '--dry-run=client',
        '-f',
        valuesFile(values),
      ]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.slice(result.stdout.indexOf('NOTES:'));
    };
    const plain = await notes({});
    assert.match(plain, /Next steps/);
    assert.match(plain, /kubectl -n gw get pods -l app\.kubernetes\.io\/instance=edge -w/);
    assert.match(
      plain,
      /kubectl -n shop create secret generic routing \\\n\s+--from-literal=public-api-key=<public key> --from-literal=private-api-key=<private key>/,
    );
    assert.match(plain, /port-forward deployment\/edge-podrouter-public 9180/);
    assert.match(plain, /post-delete hook Job edge-podrouter-cleanup/);
    const custom = await notes({
      public: { env: { API_KEY_SECRET_LOCATION: 'gateway-keys:public' } },
      controller: { cleanup: { enabled: false } },
    });
    assert.match(custom, /create secret generic gateway-keys --from-literal=public=<public key>/);
    assert.match(
      custom,
      /create secret generic routing --from-literal=private-api-key=<private key>/,
    );
    assert.match(custom, /the alias Services stay/);
  });
});

describe('values stay true to --help', () => {
  const chartValues = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<
    Component,
    { env: Record<string, unknown> }
  >;
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
    properties: Record<Component, { properties: { env: { properties: object } } }>;
  };
  for (const component of COMPONENTS) {
    test(`${component}: every --help setting is in values.${component}.env with its default`, async () => {
      const help = await helpSettings(component);
      const env = chartValues[component].env;
      assert.deepEqual(Object.keys(env).sort(), [...help.keys()].sort(), 'same names as --help');
      assert.deepEqual(
        Object.keys(schema.properties[component].properties.env.properties).sort(),
        [...help.keys()].sort(),
        'values.schema.json knows exactly these names',
      );
      for (const [name, def] of help) {
        const expected = CHART_COMPUTED[component].includes(name) ? '' : def;
        assert.equal(String(env[name]), expected, `${component}.env.${name}`);
      }
    });

    test(`${component}: each setting set through values reaches the container env`, async () => {
      const help = await helpSettings(component);
      const env = Object.fromEntries(
        [...help.keys()].map((name) => [name, settingValue(component, name)]),
      );
      const objects = await render({ [component]: { env } });
      const rendered = plainEnv(find(objects, 'Deployment', `podrouter-${component}`));
      for (const [name, value] of Object.entries(env)) {
        assert.equal(rendered[name], value, `${component}.env.${name} → container env`);
      }
    });
  }
});

/** A valid, non-default value for a setting, to see it pass through the chart. */
function settingValue(component: Component, name: string): string {
  const fixed: Record<string, string> = {
    PORT: '8081',
    ADMIN_PORT: '9099',
    TLS_PORT: '8443',
    DEFAULT_TLS_SECRET: 'podrouter/wildcard-tls',
    HSTS_MAX_AGE: '1h',
    INTROSPECTION_PORT: '9188',
    SOURCE: 'kube',
    ALIAS_MODE: 'externalname',
    LOG_LEVEL: 'debug',
    NOT_FOUND_RESPONSE: 'close',
    RATE_LIMIT_MODE: 'local-first',
    RATE_LIMIT_FAILURE_MODE: 'closed',
    SHUTDOWN_DELAY: '5s',
    SHUTDOWN_TIMEOUT: '20s',
    LEADER_ELECT: 'true',
    PATH_ESCAPED_SLASHES: 'keep',
    CONCURRENT_RECONCILES: '4',
  };
  return fixed[name] ?? `${component}-${name.toLowerCase()}`;
}

describe('helm template, default values', () => {
  const ns = 'podrouter';
  const ports: Record<Component, { http?: number; admin: number }> = {
    public: { http: 80, admin: 9080 },
    private: { http: 81, admin: 9081 },
    controller: { admin: 9082 },
  };

  test('three Deployments, each with its own ServiceAccount, PDB and matching selectors', () => {
    const { objects } = defaults;
    for (const component of COMPONENTS) {
      const name = `podrouter-${component}`;
      const deployment = find(objects, 'Deployment', name, ns);
      const pod = deployment.spec.template;
      assert.equal(deployment.spec.replicas, 2);
      for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) {
        assert.equal(pod.metadata.labels[k], v, `${name}: selector ${k} matches the Pod labels`);
      }
      assert.equal(pod.metadata.labels['app.kubernetes.io/component'], component);
      assert.equal(pod.spec.serviceAccountName, name);
      find(objects, 'ServiceAccount', name, ns);
      const pdb = find(objects, 'PodDisruptionBudget', name, ns);
      assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
      assert.equal(pdb.spec.maxUnavailable, 1);
      const c = container(deployment);
      assert.equal(c.image, `ghcr.io/podrouter/podrouter-${component}:0.1.0`);
      const admin = c.ports.find((p) => p.name === 'admin');
      assert.equal(admin?.containerPort, ports[component].admin);
      if (ports[component].http !== undefined) {
        assert.equal(c.ports.find((p) => p.name === 'http')?.containerPort, ports[component].http);
      }
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
      assert.ok(c.resources.requests.cpu && c.resources.limits.memory, `${name}: resources`);
      assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(pod.spec.securityContext.runAsNonRoot, true);
      assert.deepEqual(pod.metadata.annotations, {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(ports[component].admin),
        'prometheus.io/path': '/metrics',
      });
    }
  });

  test('routers bind ports below 1024 as non-root through the safe unprivileged-port sysctl', () => {
    for (const [component, port] of [
      ['public', '80'],
      ['private', '81'],
    ] as const) {
      const pod = find(defaults.objects, 'Deployment', `podrouter-${component}`).spec.template;
      assert.deepEqual(pod.spec.securityContext.sysctls, [
        { name: 'net.ipv4.ip_unprivileged_port_start', value: port },
      ]);
    }
    const controller = find(defaults.objects, 'Deployment', 'podrouter-controller').spec.template;
    assert.equal(controller.spec.securityContext.sysctls, undefined);
  });

  test('router env: every non-empty --help default, nothing else', async () => {
    for (const component of ['public', 'private'] as const) {
      const help = await helpSettings(component);
      const expected = Object.fromEntries([...help].filter(([, v]) => v !== ''));
      assert.deepEqual(
        plainEnv(find(defaults.objects, 'Deployment', `podrouter-${component}`)),
        expected,
      );
    }
  });

  test('controller env: ROUTER_SERVICE is the private Service, Lease in the release namespace, POD_NAME from the Pod', () => {
    const deployment = find(defaults.objects, 'Deployment', 'podrouter-controller');
    const env = envOf(deployment);
    assert.equal(env.get('ROUTER_SERVICE')?.value, `${ns}/podrouter-private`);
    assert.equal(env.get('LEASE_NAMESPACE')?.value, ns);
    assert.equal(env.get('LEASE_NAME')?.value, 'podrouter-controller');
    assert.equal(env.get('ALIAS_MODE')?.value, 'endpointslice');
    assert.equal(env.get('LEADER_ELECT')?.value, 'true');
    assert.deepEqual(env.get('POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  });

  test('Services: public LoadBalancer 80 → PORT and 443 → TLS_PORT, private ClusterIP 80 → 81 named http', () => {
    const { objects } = defaults;
    const expected = { public: 'LoadBalancer', private: 'ClusterIP' } as const;
    for (const component of ['public', 'private'] as const) {
      const service = find(objects, 'Service', `podrouter-${component}`, ns);
      const deployment = find(objects, 'Deployment', `podrouter-${component}`, ns);
      assert.equal(service.spec.type, expected[component]);
      assert.deepEqual(service.spec.ports, [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        ...(component === 'public'
          ? [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]
          : []),
      ]);
      assert.equal(
        container(deployment).ports.find((p) => p.name === 'https')?.containerPort,
        component === 'public' ? 443 : undefined,
      );
      assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    }
    assert.equal(objects.filter((o) => o.kind === 'Service').length, 2, 'no metrics Services');
    assert.equal(objects.filter((o) => o.kind === 'ServiceMonitor').length, 0);
  });

  test('terminationGracePeriodSeconds exceeds SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT', () => {
    for (const component of ['public', 'private'] as const) {
      const pod = find(defaults.objects, 'Deployment', `podrouter-${component}`).spec.template;
      assert.equal(pod.spec.terminationGracePeriodSeconds, 3 + 30 + 5);
    }
  });

  test('RBAC: exactly the rules of examples/rbac/', () => {
    const { objects } = defaults;
    const routerRules = permissions(exampleRules('router.yaml', 'ClusterRole', 'podrouter-router'));
    for (const component of ['public', 'private'] as const) {
      const name = `podrouter-${component}`;
      assert.deepEqual(permissions(find(objects, 'ClusterRole', name).rules ?? []), routerRules);
      const binding = find(objects, 'ClusterRoleBinding', name);
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name,
      });
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name, namespace: ns }]);
    }
    const name = 'podrouter-controller';
    assert.deepEqual(
      permissions(find(objects, 'ClusterRole', name).rules ?? []),
      permissions(exampleRules('podrouter-controller.yaml', 'ClusterRole', 'podrouter-controller')),
    );
    assert.deepEqual(
      permissions(find(objects, 'Role', `${name}-lease`, ns).rules ?? []),
      permissions(exampleRules('podrouter-controller.yaml', 'Role', 'podrouter-controller-lease')),
    );
    const kinds = objects
      .filter((o) => /Role/.test(o.kind) && !isHook(o))
      .map((o) => `${o.kind}/${o.metadata.name}`);
    assert.equal(kinds.length, 8, `only the expected RBAC objects: ${kinds}`);
  });

  test('helm uninstall cleanup: a post-delete Job with its own list/delete RBAC, all hook resources', () => {
    const hooks = defaults.objects.filter(isHook);
    assert.deepEqual(hooks.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRole/podrouter-cleanup',
      'ClusterRoleBinding/podrouter-cleanup',
      'Job/podrouter-cleanup',
      'Role/podrouter-cleanup',
      'Role/podrouter-cleanup-lease',
      'RoleBinding/podrouter-cleanup',
      'RoleBinding/podrouter-cleanup-lease',
      'ServiceAccount/podrouter-cleanup',
    ]);
    for (const hook of hooks) {
      const a = hook.metadata.annotations ?? {};
      assert.equal(a['helm.sh/hook'], 'post-delete', `${hook.kind}: after the release is gone`);
      assert.equal(a['helm.sh/hook-delete-policy'], 'before-hook-creation,hook-succeeded');
      // Helm creates hooks by weight: the ServiceAccount and RBAC before the Job.
      assert.equal(Number(a['helm.sh/hook-weight']) < 0, hook.kind !== 'Job', hook.kind);
    }
    assert.deepEqual(permissions(find(hooks, 'ClusterRole', 'podrouter-cleanup').rules ?? []), [
      ' endpoints delete',
      ' endpoints list',
      ' services delete',
      ' services list',
      'discovery.k8s.io endpointslices delete',
      'discovery.k8s.io endpointslices list',
    ]);
    assert.deepEqual(permissions(find(hooks, 'Role', 'podrouter-cleanup', ns).rules ?? []), [
      ' pods list',
    ]);
    assert.deepEqual(permissions(find(hooks, 'Role', 'podrouter-cleanup-lease', ns).rules ?? []), [
      'coordination.k8s.io leases/podrouter-controller delete',
    ]);
    for (const binding of hooks.filter((o) => o.kind.endsWith('Binding'))) {
      assert.deepEqual(binding.subjects, [
        { kind: 'ServiceAccount', name: 'podrouter-cleanup', namespace: ns },
      ]);
    }
    const job = find(hooks, 'Job', 'podrouter-cleanup', ns);
    const pod = job.spec.template;
    assert.equal(pod.spec.serviceAccountName, 'podrouter-cleanup');
    assert.equal(pod.spec.restartPolicy, 'Never');
    const [c] = pod.spec.containers;
    assert.equal(c.image, 'ghcr.io/podrouter/podrouter-controller:0.1.0');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    const args = new Map(
      (c.args as string[])
        .slice(1)
        .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
    );
    assert.equal(c.args[0], 'cleanup');
    assert.equal(args.get('--router-service'), `${ns}/podrouter-private`);
    assert.equal(args.get('--controller-namespace'), ns);
    assert.equal(args.get('--lease-namespace'), ns);
    assert.equal(args.get('--lease-name'), 'podrouter-controller');
    assert.equal(args.get('--wait-timeout'), '120s');
    // The selector it waits on matches the controller's Pods, and not the Job's own Pod.
    const selector = Object.fromEntries(
      (args.get('--controller-selector') ?? '').split(',').map((kv) => kv.split('=')),
    );
    const controllerPod = find(defaults.objects, 'Deployment', 'podrouter-controller').spec
      .template;
    assert.deepEqual(
      selector,
      find(defaults.objects, 'Deployment', 'podrouter-controller').spec.selector.matchLabels,
    );
    const matches = (labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    assert.ok(matches(controllerPod.metadata.labels));
    assert.ok(!matches(pod.metadata.labels), 'the Job does not wait for itself');
  });
});

describe('helm template, TLS', () => {
  test('CA Secrets for TLS to Service backends are granted by name, with or without TLS_PORT', async () => {
    const objects = await render({
      rbac: { backendCaSecretNames: ['billing-ca'] },
      public: { env: { TLS_PORT: 'off' } },
    });
    for (const name of ['podrouter-public', 'podrouter-private']) {
      assert.deepEqual(
        permissions(find(objects, 'ClusterRole', name).rules ?? []).filter((p) =>
          p.includes('secrets'),
        ),
        [
          ' secrets/billing-ca list',
          ' secrets/billing-ca watch',
          ' secrets/routing list',
          ' secrets/routing watch',
        ],
      );
    }
  });
  test('TLS_PORT opens an https port; TLS Secrets are granted by name, DEFAULT_TLS_SECRET in its namespace', async () => {
    const objects = await render({
      rbac: { tlsSecretNames: ['web-tls', 'api-tls'] },
      public: {
        service: { httpsPort: 8443 },
        env: {
          TLS_PORT: 1443,
          DEFAULT_TLS_SECRET: 'certs/wildcard-tls',
          WATCH_NAMESPACES: 'team-a',
        },
      },
      private: { env: { TLS_PORT: '8443' } },
    });
    const publicName = 'podrouter-public';
    const deployment = find(objects, 'Deployment', publicName);
    assert.equal(container(deployment).ports.find((p) => p.name === 'https')?.containerPort, 1443);
    assert.deepEqual(find(objects, 'Service', publicName).spec.ports[1], {
      name: 'https',
      port: 8443,
      targetPort: 'https',
      protocol: 'TCP',
    });
    assert.deepEqual(permissions(find(objects, 'Role', publicName, 'team-a').rules ?? []), [
      ' pods list',
      ' pods watch',
      ' secrets/api-tls list',
      ' secrets/api-tls watch',
      ' secrets/routing list',
      ' secrets/routing watch',
      ' secrets/web-tls list',
      ' secrets/web-tls watch',
      ' services list',
      ' services watch',
      'discovery.k8s.io endpointslices list',
      'discovery.k8s.io endpointslices watch',
      'events.k8s.io events create',
      'events.k8s.io events get',
      'events.k8s.io events patch',
    ]);
    assert.deepEqual(
      permissions(find(objects, 'Role', `${publicName}-default-tls`, 'certs').rules ?? []),
      [' secrets/wildcard-tls list', ' secrets/wildcard-tls watch'],
    );
    assert.deepEqual(find(objects, 'RoleBinding', `${publicName}-default-tls`, 'certs').subjects, [
      { kind: 'ServiceAccount', name: publicName, namespace: 'podrouter' },
    ]);
    const privateService = find(objects, 'Service', 'podrouter-private');
    assert.deepEqual(privateService.spec.ports[1], {
      name: 'https',
      port: 443,
      targetPort: 'https',
      protocol: 'TCP',
    });
    const wide = await render({ rbac: { tlsSecretNames: ['*'] } });
    assert.deepEqual(
      permissions(find(wide, 'ClusterRole', publicName).rules ?? []).filter((p) =>
        p.includes('secrets'),
      ),
      [' secrets list', ' secrets watch'],
    );
    const off = await render({ public: { env: { TLS_PORT: 'off' } } });
    assert.equal(
      container(find(off, 'Deployment', publicName)).ports.some((p) => p.name === 'https'),
      false,
    );
    assert.equal(find(off, 'Service', publicName).spec.ports.length, 1);
    assert.equal(plainEnv(find(off, 'Deployment', publicName)).TLS_PORT, 'off');
    const refused = await helm([
      'template',
      't',
      CHART,
      '-f',
      valuesFile({ public: { env: { TLS_PORT: '80' } } }),
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /TLS_PORT \(80\) must be a port 1-65535 other than PORT/);
  });
});

describe('helm template, overrides', () => {
  const overrides = {
    public: {
      service: { type: 'NodePort', nodePort: 30080, externalTrafficPolicy: 'Local' },
      env: {
        CLIENT_MAX_BODY_SIZE: '10m',
        SHUTDOWN_TIMEOUT: '2m',
        WATCH_NAMESPACES: 'team-a, team-b',
        API_KEY_SECRET_LOCATION: 'gateway-keys:public',
        POD_EVENTS: 'false',
        UPSTREAM_MAX_CONNECTIONS: 1_000_000,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318',
        LOG_LEVEL: 'info',
      },
      extraEnv: [
        { name: 'LOG_LEVEL', value: 'warn' },
        { name: 'NODE_OPTIONS', value: '--max-old-space-size=384' },
      ],
    },
    private: { env: { PORT: 8081 } },
    controller: {
      env: { ALIAS_MODE: 'externalname', WATCH_NAMESPACES: 'team-a' },
    },
    redis: { existingSecret: 'podrouter-redis', passwordKey: 'password' },
    metrics: { podAnnotations: false, serviceMonitor: { enabled: true } },
  };
  let objects: K8sObject[] = [];
  before(async () => {
    objects = await render(overrides, { release: 'edge', namespace: 'gw' });
  });

  test('names follow the release; public Service NodePort; env values pass through', () => {
    const service = find(objects, 'Service', 'edge-podrouter-public', 'gw');
    assert.equal(service.spec.type, 'NodePort');
    assert.equal(service.spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(service.spec.ports, [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
    ]);
    const deployment = find(objects, 'Deployment', 'edge-podrouter-public', 'gw');
    const env = envOf(deployment);
    assert.equal(env.get('CLIENT_MAX_BODY_SIZE')?.value, '10m');
    assert.equal(
      env.get('UPSTREAM_MAX_CONNECTIONS')?.value,
      '1000000',
      'numbers print as integers',
    );
    assert.equal(
      env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value,
      'http://otel-collector.observability:4318',
    );
    assert.equal(env.get('LOG_LEVEL')?.value, 'warn', 'extraEnv replaces env');
    assert.equal(env.get('NODE_OPTIONS')?.value, '--max-old-space-size=384');
    assert.equal(deployment.spec.template.spec.terminationGracePeriodSeconds, 3 + 120 + 5);
    assert.equal(deployment.spec.template.metadata.annotations, undefined);
  });

  test('Redis URL and password come from the existing Secret', () => {
    for (const component of ['public', 'private']) {
      const env = envOf(find(objects, 'Deployment', `edge-podrouter-${component}`));
      assert.deepEqual(env.get('REDIS_URL')?.valueFrom, {
        secretKeyRef: { name: 'podrouter-redis', key: 'redis-url' },
      });
      assert.deepEqual(env.get('REDIS_PASSWORD')?.valueFrom, {
        secretKeyRef: { name: 'podrouter-redis', key: 'password' },
      });
    }
    const controller = envOf(find(objects, 'Deployment', 'edge-podrouter-controller'));
    assert.equal(controller.has('REDIS_URL'), false);
  });

  test('private PORT moves the container port; the Service still listens on 80', () => {
    const deployment = find(objects, 'Deployment', 'edge-podrouter-private');
    assert.equal(container(deployment).ports.find((p) => p.name === 'http')?.containerPort, 8081);
    assert.equal(deployment.spec.template.spec.securityContext.sysctls, undefined);
    const service = find(objects, 'Service', 'edge-podrouter-private');
    assert.deepEqual(service.spec.ports, [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
    const controller = envOf(find(objects, 'Deployment', 'edge-podrouter-controller'));
    assert.equal(controller.get('ROUTER_SERVICE')?.value, 'gw/edge-podrouter-private');
    assert.equal(controller.get('ALIAS_MODE')?.value, 'externalname');
  });

  test('WATCH_NAMESPACES: per-namespace Roles, the Secret name of API_KEY_SECRET_LOCATION, no Events rule with POD_EVENTS=false', () => {
    const name = 'edge-podrouter-public';
    assert.equal(
      objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === name),
      false,
    );
    for (const namespace of ['team-a', 'team-b']) {
      const role = find(objects, 'Role', name, namespace);
      assert.deepEqual(permissions(role.rules ?? []), [
        ' pods list',
        ' pods watch',
        ' secrets/gateway-keys list',
        ' secrets/gateway-keys watch',
        ' services list',
        ' services watch',
        'discovery.k8s.io endpointslices list',
        'discovery.k8s.io endpointslices watch',
      ]);
      const binding = find(objects, 'RoleBinding', name, namespace);
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name, namespace: 'gw' }]);
    }
    // The private router keeps its cluster-wide defaults.
    assert.ok(find(objects, 'ClusterRole', 'edge-podrouter-private'));
    // Controller: Pods and their Events per watched namespace; the rest stays cluster-wide.
    const controller = 'edge-podrouter-controller';
    assert.deepEqual(permissions(find(objects, 'Role', controller, 'team-a').rules ?? []), [
      ' pods list',
      ' pods watch',
      'events.k8s.io events create',
    ]);
    const clusterWide = permissions(find(objects, 'ClusterRole', controller).rules ?? []);
    assert.equal(
      clusterWide.some((p) => p.includes('pods')),
      false,
    );
    assert.ok(clusterWide.includes('discovery.k8s.io endpointslices patch'));
  });

  test('ServiceMonitor per component over an admin-port Service', () => {
    for (const component of COMPONENTS) {
      const monitor = find(objects, 'ServiceMonitor', `edge-podrouter-${component}`, 'gw');
      const service = find(objects, 'Service', `edge-podrouter-${component}-metrics`, 'gw');
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
        assert.equal(
          service.metadata.labels?.[k],
          v,
          `ServiceMonitor selects ${service.metadata.name}`,
        );
      }
      assert.equal(monitor.spec.endpoints[0].port, 'admin');
      assert.equal(service.spec.ports[0].targetPort, 'admin');
    }
  });

  test('cleanup: names follow the release; without leader election no Lease; off = no hook', async () => {
    const job = find(objects, 'Job', 'edge-podrouter-cleanup', 'gw');
    const [c] = job.spec.template.spec.containers;
    assert.ok(c.args.includes('--router-service=gw/edge-podrouter-private'));
    assert.ok(c.args.includes('--lease-name=edge-podrouter-controller'));
    const single = await render({ controller: { replicas: 1, env: { LEADER_ELECT: 'false' } } });
    const args: string[] = find(single, 'Job', 'podrouter-cleanup').spec.template.spec.containers[0]
      .args;
    assert.ok(!args.some((a) => a.startsWith('--lease')), `no Lease to delete: ${args}`);
    assert.ok(!single.some((o) => o.metadata.name === 'podrouter-cleanup-lease'));
    const off = await render({ controller: { cleanup: { enabled: false } } });
    assert.deepEqual(off.filter(isHook), []);
    const noController = await render({ controller: { enabled: false } });
    assert.deepEqual(noController.filter(isHook), []);
  });

  test('bad values fail the render with a message naming them', async () => {
    const cases: [object, RegExp][] = [
      [{ public: { env: { CLIENT_MAX_BODYSIZE: '1m' } } }, /CLIENT_MAX_BODYSIZE/],
      [{ public: { terminationGracePeriodSeconds: 20 } }, /terminationGracePeriodSeconds/],
      [{ private: { env: { SHUTDOWN_DELAY: 'soon' } } }, /SHUTDOWN_DELAY/],
      [{ controller: { env: { LEADER_ELECT: 'false' } } }, /LEADER_ELECT/],
      [{ controller: { env: { ALIAS_MODE: 'vip' } } }, /ALIAS_MODE/],
      [{ controller: { cleanup: { waitTimeout: 'a while' } } }, /waitTimeout/],
      [
        { public: { env: { REDIS_URL: 'redis://x' } }, redis: { existingSecret: 's' } },
        /REDIS_URL/,
      ],
    ];
    for (const [values, message] of cases) {
      const result = await renderText(values);
      assert.notEqual(result.code, 0, `rejected: ${JSON.stringify(values)}`);
      assert.match(result.stderr, message);
    }
  });
});

describe('the real API server', () => {
  const run = randomBytes(3).toString('hex');
  const ns = `chart-${run}`;
  const watched = [`chart-${run}-a`, `chart-${run}-b`];
  const release = `pr${run}`;
  const clusterScoped: string[] = [];
  let client: NetnsClient | undefined;

  before(async () => {
    await ensureClusterUp();
    for (const namespace of [ns, ...watched]) await createNamespace(namespace);
    // Pods (and so Deployments' templates) must meet Pod Security "restricted".
    await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  });

  after(async () => {
    await client?.close();
    for (const name of clusterScoped) {
      await kubectl(['delete', name, '--ignore-not-found', '--wait=false']);
    }
    for (const namespace of [ns, ...watched]) await deleteNamespace(namespace);
  });

  async function dryRun(objects: readonly K8sObject[]): Promise<void> {
    const input = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
    const result = await kubectlRun(['apply', '--dry-run=server', '-f', '-'], {
      input,
      allowFailure: true,
    });
    assert.equal(result.code, 0, `the API server rejected the chart: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /warning/i, 'no API server warnings');
    const accepted = result.stdout.trim().split('\n');
    assert.equal(accepted.length, objects.length, result.stdout);
  }

  const noCrd = (o: K8sObject) => o.kind !== 'ServiceMonitor';

  test('default values: every object passes server-side dry-run', async () => {
    await dryRun(await render({}, { release, namespace: ns }));
  });

  test('overrides (NodePort, WATCH_NAMESPACES, Redis Secret, metrics Services) pass too', async () => {
    const objects = await render(
      {
        public: {
          service: { type: 'NodePort' },
          env: { WATCH_NAMESPACES: watched.join(','), POD_EVENTS: 'false' },
        },
        controller: { env: { WATCH_NAMESPACES: watched[0], ALIAS_MODE: 'cluster-ip' } },
        redis: { existingSecret: 'redis' },
        metrics: { serviceMonitor: { enabled: true } },
      },
      { release, namespace: ns },
    );
    // The test cluster has no Prometheus Operator CRDs; the rest goes to the API server.
    assert.equal(objects.filter((o) => !noCrd(o)).length, 3);
    await dryRun(objects.filter(noCrd));
  });

  test('each Deployment and Job Pod template is admitted under Pod Security "restricted"', async () => {
    const objects = await render({}, { release, namespace: ns });
    // The ServiceAccount admission plugin needs the Pods' ServiceAccounts to exist.
    await apply(objects.filter((o) => o.kind === 'ServiceAccount'));
    const pods = objects
      .filter((o) => o.kind === 'Deployment' || o.kind === 'Job')
      .map((d) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...d.spec.template.metadata, name: d.metadata.name, namespace: ns },
        spec: { ...d.spec.template.spec, nodeName: 'node-1' },
      }));
    assert.equal(pods.length, 4, 'three Deployments and the cleanup Job');
    const result = await kubectlRun(['create', '--dry-run=server', '-f', '-', '-o', 'name'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }),
      allowFailure: true,
    });
    assert.equal(result.code, 0, `Pod Security "restricted" refused a Pod: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /violate|warning/i);
  });

  test("both routers start and become ready as the chart's ServiceAccounts, with the chart's env", async () => {
    const objects = await render({}, { release, namespace: ns });
    const rbac = objects.filter((o) =>
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(
        o.kind,
      ),
    );
    for (const o of rbac) {
      if (o.kind.startsWith('Cluster'))
        clusterScoped.push(`${o.kind.toLowerCase()}/${o.metadata.name}`);
    }
    await apply(rbac);
    client = new NetnsClient();
    for (const build of BUILDS) {
      const name = `${release}-podrouter-${build.tier}`;
      const env = plainEnv(find(objects, 'Deployment', name));
      // Ports and address are the test's (routers share the namespace's loopback); the rest
      // is exactly what the chart gives the container.
      for (const key of ['PORT', 'ADMIN_PORT', 'TLS_PORT', 'LISTEN_ADDRESS', 'SHUTDOWN_DELAY'])
        delete env[key];
      const kubeconfig = await serviceAccountKubeconfig(ns, name, { create: false });
      const router = await startKubeRouter(build, client, kubeconfig, env);
      assert.equal((await router.admin('/readyz')).status, 200);
      assert.equal(await router.stop(), 0);
    }
  });

  test('the controller ServiceAccount holds exactly its permissions', async () => {
    const sa = `system:serviceaccount:${ns}:${release}-podrouter-controller`;
    const can = async (args: string[]) =>
      (
        await kubectlRun(['auth', 'can-i', '--as', sa, ...args], { allowFailure: true })
      ).stdout.trim();
    assert.equal(await can(['create', 'services', '-n', watched[1] as string]), 'yes');
    assert.equal(await can(['patch', 'endpointslices.discovery.k8s.io', '-n', 'default']), 'yes');
    assert.equal(await can(['watch', 'pods', '--all-namespaces']), 'yes');
    assert.equal(await can(['update', 'leases.coordination.k8s.io', '-n', ns]), 'yes');
    assert.equal(await can(['update', 'leases.coordination.k8s.io', '-n', 'default']), 'no');
    assert.equal(await can(['list', 'secrets', '-n', ns]), 'no');
    assert.equal(await can(['update', 'services', '-n', ns]), 'no');
  });

  test('the cleanup hook ServiceAccount may list and delete aliases and its Lease, nothing else', async () => {
    const sa = `system:serviceaccount:${ns}:${release}-podrouter-cleanup`;
    const can = async (args: string[]) =>
      (
        await kubectlRun(['auth', 'can-i', '--as', sa, ...args], { allowFailure: true })
      ).stdout.trim();
    assert.equal(await can(['delete', 'services', '-n', watched[1] as string]), 'yes');
    assert.equal(await can(['list', 'endpointslices.discovery.k8s.io', '--all-namespaces']), 'yes');
    assert.equal(await can(['delete', 'endpoints', '-n', 'default']), 'yes');
    assert.equal(await can(['list', 'pods', '-n', ns]), 'yes');
    assert.equal(
      await can(['delete', `leases.coordination.k8s.io/${release}-podrouter-controller`, '-n', ns]),
      'yes',
    );
    assert.equal(await can(['delete', 'leases.coordination.k8s.io/other', '-n', ns]), 'no');
    assert.equal(await can(['create', 'services', '-n', ns]), 'no');
    assert.equal(await can(['patch', 'endpointslices.discovery.k8s.io', '-n', ns]), 'no');
    assert.equal(await can(['list', 'pods', '-n', 'default']), 'no');
    assert.equal(await can(['get', 'secrets', '-n', ns]), 'no');
  });
});
