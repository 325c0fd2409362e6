// External backends on the real cluster: a selector-less Service with a hand-written
// EndpointSlice to "machines outside the cluster" (addresses outside the Pod CIDR, added to
// the cluster namespace's lo: the API server rejects loopback ones), reached through both
// routers (as the ServiceAccount of examples/rbac/router.yaml) with a key; endpoints changing
// live; an ExternalName Service whose name the cluster's CoreDNS resolves (to a headless
// Service's hand-written endpoints). Fails, never skips, when the cluster cannot be had (root needed).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureClusterUp,
  runInNetns,
  spawnInNetns,
} from '../cluster/cluster.ts';
import { TestCa } from '../support/certs.ts';
import {
  BUILDS,
  type KubeRouter,
  NetnsClient,
  podOf,
  ROOT,
  routeAnnotations,
  routerServiceAccount,
  startKubeRouter,
  waitForEvent,
} from './support.ts';

const run = randomBytes(3).toString('hex');
const ns = `ext-${run}`;
const host = `billing.${run}.example`;
/** Outside 10.244.0.0/16 (Pods) and 10.96.0.0/16 (Services): "a VM next to the cluster". */
const VM_IPS = ['10.250.15.1', '10.250.15.2'];
const VM_PORT = 18080;
const routers: KubeRouter[] = [];
const vms: ChildProcess[] = [];
let client: NetnsClient;

const keys = Object.fromEntries(BUILDS.map((b) => [b.apiKeyField, `${b.tier}-ext-${run}`]));
const keyOf = (router: KubeRouter) => ({
  'x-routing-api-key': keys[router.build.apiKeyField] as string,
});

function slice(ips: readonly string[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'billing-manual',
      namespace: ns,
      labels: {
        'kubernetes.io/service-name': 'billing',
        'endpointslice.kubernetes.io/managed-by': 'test.podrouter.dev',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: 'web', port: VM_PORT, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, ...extra })),
  };
}

async function startVm(ip: string, name: string): Promise<void> {
  await runInNetns('ip', ['addr', 'replace', `${ip}/32`, 'dev', 'lo']);
  const child = spawnInNetns(
    process.execPath,
    [join(import.meta.dirname, '../cluster/echo-server.ts')],
    {
      env: { PATH: process.env.PATH ?? '', POD_IP: ip, PORT: String(VM_PORT), POD_NAME: name },
      stdio: 'ignore',
    },
  );
  vms.push(child);
}

before(async () => {
  await ensureClusterUp();
  const kubeconfig = await routerServiceAccount();
  await createNamespace(ns);
  await Promise.all(VM_IPS.map((ip, index) => startVm(ip, `vm-${index + 1}`)));
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'billing',
        namespace: ns,
        labels: { routable: 'true' },
        annotations: routeAnnotations(host, 'web:/'),
      },
      // No selector: the endpoints are the hand-written slice below.
      spec: { ports: [{ name: 'web', port: 80, targetPort: VM_PORT }] },
    },
    slice([VM_IPS[0] as string]),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'routing', namespace: ns },
      stringData: keys,
    },
  ]);
  client = new NetnsClient();
  for (const build of BUILDS) routers.push(await startKubeRouter(build, client, kubeconfig));
});

after(async () => {
  await Promise.all(routers.map((router) => router.stop()));
  await client?.close();
  for (const vm of vms) {
    const exited = once(vm, 'exit');
    vm.kill();
    await exited;
  }
  for (const ip of VM_IPS) await runInNetns('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
  await deleteNamespace(ns);
});

test('a selector-less Service reaches its hand-written endpoint through both routers, with a key', async () => {
  for (const router of routers) {
    const answer = await router.until(
      `${router.build.tier}: ${host} through the EndpointSlice`,
      host,
      '/',
      (a) => podOf(a) === 'vm-1',
      keyOf(router),
    );
    assert.equal(JSON.parse(answer.body).podIp, VM_IPS[0]);
    const denied = await router.get(host, '/');
    assert.equal(denied.status, 401, `${router.build.tier}: ${denied.body}`);
  }
});

test('endpoints changing live: a new address, then a not-ready one left out', async () => {
  await apply([slice(VM_IPS)]);
  for (const router of routers) {
    const seen = new Set<string | undefined>();
    await router.until(
      `${router.build.tier}: both VMs`,
      host,
      '/',
      (a) => {
        seen.add(podOf(a));
        return seen.has('vm-1') && seen.has('vm-2');
      },
      keyOf(router),
    );
  }
  await apply([
    {
      ...slice([]),
      endpoints: [
        { addresses: [VM_IPS[0]], conditions: { ready: false } },
        { addresses: [VM_IPS[1]], conditions: { ready: true } },
      ],
    },
  ]);
  for (const router of routers) {
    await router.until(
      `${router.build.tier}: vm-2 only`,
      host,
      '/',
      (a) => podOf(a) === 'vm-2',
      keyOf(router),
    );
    for (let i = 0; i < 4; i++) {
      assert.equal(podOf(await router.get(host, '/', keyOf(router))), 'vm-2');
    }
  }
});

test('a Service losing a claim to an older Pod namespace gets an Event', async () => {
  // A second Service in the same namespace on the same host+path is the same namespace's
  // claim; another namespace's younger Service is rejected and told so on the Service.
  const other = `ext-b-${run}`;
  await createNamespace(other);
  try {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'copycat',
          namespace: other,
          labels: { routable: 'true' },
          annotations: routeAnnotations(host, 'web:/'),
        },
        spec: { ports: [{ name: 'web', port: 80 }] },
      },
    ]);
    const event = await waitForEvent(other, 'copycat', (e) => e.regarding?.kind === 'Service');
    assert.match(event.note ?? '', new RegExp(`already claimed by namespace ${ns}`));
  } finally {
    await deleteNamespace(other);
  }
});

test('an ExternalName Service resolved by the cluster DNS, every address load-balanced', async () => {
  const dnsHost = `billing-dns.${run}.example`;
  await apply([
    // A headless selector-less Service: CoreDNS answers its name with the slice's addresses.
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'vm', namespace: ns },
      spec: { clusterIP: 'None', ports: [{ name: 'web', port: VM_PORT }] },
    },
    {
      ...slice(VM_IPS),
      metadata: {
        name: 'vm-manual',
        namespace: ns,
        labels: { 'kubernetes.io/service-name': 'vm' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'billing-dns',
        namespace: ns,
        labels: { routable: 'true' },
        annotations: routeAnnotations(dnsHost, `${VM_PORT}:/`),
      },
      spec: {
        type: 'ExternalName',
        externalName: `vm.${ns}.svc.cluster.local`,
        ports: [{ name: 'web', port: VM_PORT }],
      },
    },
  ]);
  for (const router of routers) {
    const seen = new Set<string | undefined>();
    await router.until(
      `${router.build.tier}: both addresses of the ExternalName`,
      dnsHost,
      '/',
      (a) => {
        seen.add(podOf(a));
        return seen.has('vm-1') && seen.has('vm-2');
      },
      keyOf(router),
    );
    const routes = JSON.parse((await router.admin('/routes')).body) as {
      routes: { host: string; endpoints?: unknown[] }[];
    };
    assert.ok(
      JSON.stringify(routes).includes(dnsHost),
      `${router.build.tier}: ${dnsHost} not at /routes`,
    );
  }
});

test('examples/external-service: the app outside the cluster behind a key and a per-client limit', async () => {
  const exampleNs = `exs-${run}`;
  const exampleHost = `billing-example.${run}.example`;
  const dir = join(ROOT, 'examples/external-service');
  // The example as it is, in this run's namespace and with this cluster's "VM" address.
  const manifest = readFileSync(join(dir, 'external-service.yaml'), 'utf8')
    .replaceAll('namespace: legacy', `namespace: ${exampleNs}`)
    .replace('name: legacy', `name: ${exampleNs}`)
    .replace('publicHosts: billing.example.com', `publicHosts: ${exampleHost}`)
    .replaceAll('8080', String(VM_PORT))
    .replace('10.250.15.1', VM_IPS[0] as string);
  assert.ok(manifest.includes(`addresses: ["${VM_IPS[0]}"]`), manifest);
  const values = parse(readFileSync(join(dir, 'values.yaml'), 'utf8')) as {
    public: { env: Record<string, string> };
  };
  await apply(manifest);
  const build = BUILDS.find((b) => b.tier === 'public') as (typeof BUILDS)[number];
  const router = await startKubeRouter(build, client, await routerServiceAccount(), {
    ...values.public.env,
    WATCH_NAMESPACES: exampleNs,
  });
  try {
    const key = { 'x-routing-api-key': 'billing-public-key' };
    // Wait on /routes, not on requests: polling requests would spend the client's budget.
    const deadline = Date.now() + 20_000;
    let routes = '';
    while (!routes.includes(`${VM_IPS[0]}:${VM_PORT}`) || !routes.includes(exampleHost)) {
      assert.ok(Date.now() < deadline, `the example is not routed: ${routes}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      routes = (await router.admin('/routes')).body;
    }
    assert.equal((await router.get(exampleHost, '/')).status, 401);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await router.get(exampleHost, '/', key)).status);
    assert.equal(statuses[0], 200, String(statuses));
    assert.ok(statuses.includes(429), `no 429 past CLIENT_RATE_LIMIT: ${statuses}`);
  } finally {
    await router.stop();
    await deleteNamespace(exampleNs);
  }
});

test('verified TLS to an outside backend: CA from a Secret granted by name, SNI from the ExternalName', async () => {
  const ip = '10.250.15.3';
  const port = 18443;
  const serverName = 'billing-tls.internal';
  const dnsName = `vmtls.${ns}.svc.cluster.local`;
  const tlsHost = `billing-tls.${run}.example`;
  const dnsHost = `billing-tls-dns.${run}.example`;
  const ca = new TestCa('outside backend CA');
  const other = new TestCa('some other CA');
  const leaf = ca.issue({ names: [serverName, dnsName] });
  await runInNetns('ip', ['addr', 'replace', `${ip}/32`, 'dev', 'lo']);
  const server = spawnInNetns(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createServer } from 'node:https';
       createServer({ cert: process.env.CERT, key: process.env.KEY }, (req, res) => {
         res.setHeader('content-type', 'application/json');
         res.end(JSON.stringify({ pod: 'vm-tls', sni: req.socket.servername || '' }));
       }).listen(Number(process.env.PORT), process.env.IP);`,
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        CERT: leaf.cert,
        KEY: leaf.key,
        IP: ip,
        PORT: String(port),
      },
      stdio: 'ignore',
    },
  );
  const caSecret = (pem: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'billing-ca', namespace: ns },
    stringData: { 'ca.crt': pem },
  });
  const tlsAnnotations = (extra: Record<string, string>) => {
    const out: Record<string, string> = {};
    for (const build of BUILDS) {
      out[`${build.tier}BackendTls`] = 'billing-ca';
      for (const [name, value] of Object.entries(extra)) out[`${build.tier}${name}`] = value;
    }
    return out;
  };
  try {
    // The CA Secret is granted by name only (the chart's rbac.backendCaSecretNames).
    await apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'podrouter-backend-ca', namespace: ns },
        rules: [
          {
            apiGroups: [''],
            resources: ['secrets'],
            resourceNames: ['billing-ca'],
            verbs: ['list', 'watch'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'podrouter-backend-ca', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'Role',
          name: 'podrouter-backend-ca',
        },
        subjects: [
          { kind: 'ServiceAccount', name: 'podrouter-router', namespace: 'podrouter-system' },
        ],
      },
    ]);
    await apply([
      caSecret(ca.cert),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'billing-tls',
          namespace: ns,
          labels: { routable: 'true' },
          annotations: {
            ...routeAnnotations(tlsHost, 'https:/'),
            ...tlsAnnotations({ BackendServerName: serverName }),
          },
        },
        spec: { ports: [{ name: 'https', port: 443 }] },
      },
      {
        ...slice([ip]),
        metadata: {
          name: 'billing-tls-manual',
          namespace: ns,
          labels: { 'kubernetes.io/service-name': 'billing-tls' },
        },
        ports: [{ name: 'https', port, protocol: 'TCP' }],
      },
      // The same backend by DNS: a headless Service CoreDNS answers, behind an ExternalName.
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'vmtls', namespace: ns },
        spec: { clusterIP: 'None', ports: [{ name: 'https', port }] },
      },
      {
        ...slice([ip]),
        metadata: {
          name: 'vmtls-manual',
          namespace: ns,
          labels: { 'kubernetes.io/service-name': 'vmtls' },
        },
        ports: [{ name: 'https', port, protocol: 'TCP' }],
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'billing-tls-dns',
          namespace: ns,
          labels: { routable: 'true' },
          annotations: { ...routeAnnotations(dnsHost, 'https:/'), ...tlsAnnotations({}) },
        },
        spec: { type: 'ExternalName', externalName: dnsName, ports: [{ name: 'https', port }] },
      },
    ]);
    const sniOf = (answer: { status: number; body: string }) =>
      answer.status === 200 ? (JSON.parse(answer.body) as { sni: string }).sni : undefined;
    for (const router of routers) {
      await router.until(
        `${router.build.tier}: ${tlsHost} over TLS`,
        tlsHost,
        '/',
        (a) => sniOf(a) === serverName,
        keyOf(router),
      );
      await router.until(
        `${router.build.tier}: ${dnsHost} over TLS, SNI from the ExternalName`,
        dnsHost,
        '/',
        (a) => sniOf(a) === dnsName,
        keyOf(router),
      );
    }
    // A CA Secret the routers are not granted: the Service's route is off, and the Event on
    // the Service names the grant to add.
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'billing-tls-denied',
          namespace: ns,
          labels: { routable: 'true' },
          annotations: {
            ...routeAnnotations(`denied-${tlsHost}`, 'https:/'),
            publicBackendTls: 'not-granted-ca',
          },
        },
        spec: { ports: [{ name: 'https', port: 443 }] },
      },
    ]);
    const denied = await waitForEvent(
      ns,
      'billing-tls-denied',
      (e) => e.regarding?.kind === 'Service' && /not-granted-ca/.test(e.note ?? ''),
    );
    assert.match(
      denied.note ?? '',
      /grant list and watch on secrets named not-granted-ca in namespace/,
    );
    const publicRouter = routers.find((router) => router.build.tier === 'public') as KubeRouter;
    assert.equal(
      (await publicRouter.get(`denied-${tlsHost}`, '/', keyOf(publicRouter))).status,
      503,
    );
    // The Secret now holds a CA that did not sign the backend: 502, never plaintext.
    await apply([caSecret(other.cert)]);
    for (const router of routers) {
      await router.until(
        `${router.build.tier}: ${tlsHost} refused with another CA`,
        tlsHost,
        '/',
        (a) => a.status === 502 && /TLS certificate could not be verified/.test(a.body),
        keyOf(router),
      );
    }
  } finally {
    const exited = once(server, 'exit');
    server.kill();
    await exited;
    await runInNetns('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
    ca.close();
    other.close();
  }
});
