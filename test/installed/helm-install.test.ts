// podrouter as users install it: the images built by `npm run image` (scripts/image.sh), the
// chart installed with `helm install` and examples/helm/values.yaml onto the test cluster's
// real node (containerd + kubelet, `up.sh --real-node`), and examples/helm/app.yaml (an app
// with public and private annotations, its API keys, a consumer). Traffic goes through the
// installed routers exactly as in a cluster: the public router's Service from the cluster
// network, and the consumer Pod calling http://my-app.my-ns/ through the controller's alias
// and the private router, each request traced by its router to an OTLP receiver (otlp-sink.ts).
// Fails, never skips, when anything it needs is missing.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ClusterError,
  clusterInfo,
  isRoot,
  kubectl,
  kubectlJson,
  kubectlRun,
  run,
  runInNetns,
  spawnInNetns,
  waitFor,
} from '../cluster/cluster.ts';
import { type Answer, NetnsClient, ROOT } from '../kube/support.ts';
import type { ReceivedSpan } from '../support/otlp-receiver.ts';

const HELM = join(ROOT, 'charts/tools/helm.sh');
const CHART = join(ROOT, 'charts/podrouter');
const VALUES = join(ROOT, 'examples/helm/values.yaml');
const APP = join(ROOT, 'examples/helm/app.yaml');
const RELEASE = 'podrouter';
const NS = 'podrouter';
const NODE = 'node-2';
const COMPONENTS = ['public', 'private', 'controller'] as const;
const PUBLIC_HOST = 'my-app.example.com';
const PUBLIC_SERVICE = `${RELEASE}-public.${NS}`;
const PUBLIC_KEY = 'public-key-of-my-ns';
const PRIVATE_KEY = 'private-key-of-my-ns';
const MINUTE = 60_000;
// The OTLP receiver (otlp-sink.ts) on the cluster network's node address, which the real
// node's Pods reach through their bridge; both routers export there, quickly.
const OTLP = 'http://10.240.0.1:4318';
const TRACING = ['public', 'private'].flatMap((router) => [
  '--set',
  `${router}.env.OTEL_EXPORTER_OTLP_ENDPOINT=${OTLP}`,
  '--set-string',
  `${router}.env.OTEL_BSP_SCHEDULE_DELAY=200`,
]);

interface Pod {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    securityContext?: Record<string, unknown>;
    containers: {
      image: string;
      securityContext?: Record<string, unknown>;
      readinessProbe?: { httpGet?: { path: string } };
      livenessProbe?: { httpGet?: { path: string } };
    }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; restartCount: number }[];
  };
}

interface Echo {
  pod: string;
  url: string;
  headers: Record<string, string>;
}

function helm(args: readonly string[], timeoutMs = 10 * MINUTE) {
  const kubeconfig = clusterInfo().adminKubeconfig;
  return runInNetns('bash', [HELM, '--kubeconfig', kubeconfig, ...args], {
    timeoutMs,
    allowFailure: true,
  });
}

/** What the cluster looked like, for a failure message: Pods, events, the real node's logs. */
async function diagnostics(): Promise<string> {
  const info = clusterInfo();
  const pods = await kubectlRun(['get', 'pods', '-A', '-o', 'wide'], { allowFailure: true });
  const events = await kubectlRun(['get', 'events', '-A', '--sort-by=.lastTimestamp'], {
    allowFailure: true,
  });
  const logs: string[] = [];
  const podLogs = join(info.dir, 'real-node/kubelet/pod-logs');
  if (existsSync(podLogs)) {
    for (const pod of readdirSync(podLogs)) {
      for (const container of readdirSync(join(podLogs, pod))) {
        for (const file of readdirSync(join(podLogs, pod, container))) {
          const text = readFileSync(join(podLogs, pod, container, file), 'utf8');
          logs.push(`--- ${pod}/${container}/${file}\n${text.split('\n').slice(-15).join('\n')}`);
        }
      }
    }
  }
  return `\npods:\n${pods.stdout}\nevents:\n${events.stdout.split('\n').slice(-40).join('\n')}\n${logs.join('\n')}`;
}

async function explained<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}${await diagnostics()}`);
  }
}

async function podsOf(namespace: string, selector: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(['-n', namespace, 'get', 'pods', '-l', selector]))
    .items;
}

function ready(pod: Pod): boolean {
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Runs node inside the consumer Pod (kubectl exec through the API server to the kubelet). */
async function fromConsumer(url: string, headers: Record<string, string>): Promise<Answer> {
  const script = `const r = await fetch(${JSON.stringify(url)}, { headers: ${JSON.stringify(headers)} });
process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const result = await kubectlRun(
    ['-n', 'my-consumer', 'exec', 'consumer', '--', 'node', '--input-type=module', '-e', script],
    { allowFailure: true, timeoutMs: 30_000 },
  );
  if (result.code !== 0) return { status: 0, body: '', error: result.stderr.trim() };
  return JSON.parse(result.stdout) as Answer;
}

/** The trace the router started for a request, from the traceparent the app received. */
function traceOf(seen: Echo): string {
  const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(
    seen.headers.traceparent ?? '',
  )?.[1];
  assert.ok(traceId, `the router sent a traceparent upstream: ${JSON.stringify(seen.headers)}`);
  return traceId;
}

function echo(answer: Answer): Echo {
  assert.equal(answer.status, 200, `expected 200 from the app, got ${JSON.stringify(answer)}`);
  return JSON.parse(answer.body) as Echo;
}

describe('podrouter installed with helm on a real node', { timeout: 90 * MINUTE }, () => {
  // Made once the namespace exists (before() may create it).
  let client: NetnsClient | undefined;
  let sink: ChildProcess | undefined;
  const spans: ReceivedSpan[] = [];
  const traced = (service: string, traceId: string) =>
    explained(`a ${service} span of trace ${traceId}`, () =>
      waitFor(`${service} span of trace ${traceId}`, MINUTE, async () =>
        spans.some((span) => span.service === service && span.traceId === traceId),
      ),
    );
  const images = mkdtempSync(join(tmpdir(), 'podrouter-images-'));

  before(async () => {
    if (!isRoot()) {
      throw new ClusterError('CLUSTER_NOT_ROOT', 'the real node and image builds need root');
    }
    const up = await run('bash', [join(ROOT, 'test/cluster/up.sh'), '--real-node'], {
      timeoutMs: 45 * MINUTE,
      allowFailure: true,
    });
    assert.equal(up.code, 0, `up.sh --real-node failed:\n${up.stderr}${up.stdout}`);
    client = new NetnsClient();
    sink = spawnInNetns(
      process.execPath,
      [join(import.meta.dirname, 'otlp-sink.ts'), '10.240.0.1', '4318'],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const listening = new Promise<void>((resolve, reject) => {
      sink?.once('exit', (code) => reject(new Error(`otlp-sink.ts exited ${code}`)));
      let buffered = '';
      sink?.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
          const line = JSON.parse(buffered.slice(0, nl)) as ReceivedSpan | { listening: true };
          buffered = buffered.slice(nl + 1);
          if ('listening' in line) resolve();
          else spans.push(line);
        }
      });
    });
    await listening;
    // The tag examples/helm/values.yaml names.
    const built = await run('bash', [join(ROOT, 'scripts/image.sh'), '--save', images], {
      env: { ...process.env, PODROUTER_IMAGE_TAG: 'dev' },
      timeoutMs: 30 * MINUTE,
      allowFailure: true,
    });
    assert.equal(built.code, 0, `scripts/image.sh failed:\n${built.stderr}`);
    const tars = readdirSync(images).map((f) => join(images, f));
    assert.equal(tars.length, 3, `three image archives: ${tars}`);
    const imported = await run(
      'bash',
      [join(ROOT, 'test/cluster/real-node.sh'), 'import', ...tars],
      {
        timeoutMs: 10 * MINUTE,
        allowFailure: true,
      },
    );
    assert.equal(imported.code, 0, `importing the images failed:\n${imported.stderr}`);
    rmSync(images, { recursive: true, force: true });
    const helmBuilt = await run('bash', [HELM, '--build-only'], {
      timeoutMs: 20 * MINUTE,
      allowFailure: true,
    });
    assert.equal(helmBuilt.code, 0, `Helm could not be built:\n${helmBuilt.stderr}`);
    // A release or app left by an interrupted run.
    await helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--wait']);
    await kubectl([
      'delete',
      'namespace',
      'my-ns',
      'my-consumer',
      '--ignore-not-found',
      '--wait=true',
      '--timeout=120s',
    ]);
  });

  after(async () => {
    await client?.close();
    sink?.stdin?.end();
    rmSync(images, { recursive: true, force: true });
    await helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--wait']);
    await kubectlRun(
      ['delete', 'namespace', 'my-ns', 'my-consumer', NS, '--ignore-not-found', '--wait=false'],
      {
        allowFailure: true,
      },
    );
  });

  test('helm install runs the three components on the real node, as the chart says', async () => {
    const installed = await helm([
      'install',
      RELEASE,
      CHART,
      '-n',
      NS,
      '--create-namespace',
      '-f',
      VALUES,
      ...TRACING,
      '--wait',
      '--timeout',
      '5m',
    ]);
    if (installed.code !== 0) {
      assert.fail(`helm install failed: ${installed.stderr}${await diagnostics()}`);
    }
    for (const component of COMPONENTS) {
      const pods = await podsOf(NS, `app.kubernetes.io/component=${component}`);
      assert.equal(pods.length, 1, `one ${component} Pod (values.yaml: replicas 1)`);
      const [pod] = pods as [Pod];
      const [c] = pod.spec.containers;
      assert.ok(c);
      assert.equal(pod.spec.nodeName, NODE, `${component} scheduled on the real node`);
      assert.ok(ready(pod), `${component} Ready (its readiness probe passed)`);
      assert.equal(
        pod.status.containerStatuses?.[0]?.restartCount,
        0,
        `${component} never restarted`,
      );
      assert.equal(pod.spec.serviceAccountName, `${RELEASE}-${component}`);
      assert.equal(c.image, `localhost/podrouter-${component}:dev`);
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      assert.equal(pod.spec.securityContext?.runAsUser, 1000);
      assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
    }
  });

  test('the example app and consumer start on the real node', async () => {
    await kubectl(['apply', '-f', APP]);
    await explained('example Pods Ready', () =>
      waitFor('my-app and consumer Ready', 3 * MINUTE, async () => {
        const app = await podsOf('my-ns', 'app=my-app');
        const consumer = await kubectlJson<Pod>(['-n', 'my-consumer', 'get', 'pod', 'consumer']);
        return app.length === 1 && ready(app[0] as Pod) && ready(consumer);
      }),
    );
  });

  test('public route: through the public router Service, 401 without the key, 403 with the wrong one, 200 with it', async () => {
    assert.ok(client);
    const netns = client;
    const withKey = { 'x-routing-api-key': PUBLIC_KEY };
    let answer: Answer = { status: 0, body: '' };
    await explained('the public route answering', () =>
      waitFor('the public router to route my-app.example.com', 2 * MINUTE, async () => {
        answer = await netns.request(80, PUBLIC_HOST, '/hello?x=1', withKey, PUBLIC_SERVICE);
        return answer.status === 200;
      }),
    );
    const seen = echo(answer);
    assert.equal(seen.pod, 'my-app');
    assert.equal(seen.url, '/hello?x=1');
    assert.equal(seen.headers['x-routing-api-key'], undefined, 'the key is not forwarded');
    assert.match(seen.headers['x-podrouter-key-id'] ?? '', /^[0-9a-f]{8}$/);
    await traced('podrouter-public', traceOf(seen));
    const without = await netns.request(80, PUBLIC_HOST, '/hello', {}, PUBLIC_SERVICE);
    assert.equal(without.status, 401, without.body);
    const wrong = await netns.request(
      80,
      PUBLIC_HOST,
      '/hello',
      { 'x-routing-api-key': PRIVATE_KEY },
      PUBLIC_SERVICE,
    );
    assert.equal(wrong.status, 403, 'the private tier key does not open the public route');
  });

  test('private route: the consumer calls http://my-app.my-ns/ through the alias and the private router', async () => {
    const alias = await explained('the alias Service', async () => {
      await waitFor('alias Service my-ns/my-app', 2 * MINUTE, async () => {
        const r = await kubectlRun(['-n', 'my-ns', 'get', 'service', 'my-app'], {
          allowFailure: true,
        });
        return r.code === 0;
      });
      return kubectlJson<{ metadata: { labels: Record<string, string> } }>([
        '-n',
        'my-ns',
        'get',
        'service',
        'my-app',
      ]);
    });
    assert.equal(alias.metadata.labels['app.kubernetes.io/managed-by'], 'podrouter');
    let answer: Answer = { status: 0, body: '' };
    await explained('the consumer reaching my-app', () =>
      waitFor('http://my-app.my-ns/ from the consumer', 2 * MINUTE, async () => {
        answer = await fromConsumer('http://my-app.my-ns/from-consumer', {
          'x-routing-api-key': PRIVATE_KEY,
        });
        return answer.status === 200;
      }),
    );
    const seen = echo(answer);
    assert.equal(seen.pod, 'my-app');
    assert.equal(seen.url, '/from-consumer');
    assert.equal(seen.headers['x-routing-api-key'], undefined);
    await traced('podrouter-private', traceOf(seen));
    // The router saw the consumer's own Pod address: it came through the alias, not a proxy.
    const consumer = await kubectlJson<Pod>(['-n', 'my-consumer', 'get', 'pod', 'consumer']);
    assert.ok(consumer.status.podIP);
    assert.equal(seen.headers['x-forwarded-for'], consumer.status.podIP);
    const without = await fromConsumer('http://my-app.my-ns/from-consumer', {});
    assert.equal(without.status, 401, JSON.stringify(without));
    const wrong = await fromConsumer('http://my-app.my-ns/', { 'x-routing-api-key': PUBLIC_KEY });
    assert.equal(wrong.status, 403, 'the public tier key does not open the private route');
  });
  test('helm upgrade with a changed value rolls both routers without a failed request', async (t) => {
    assert.ok(client);
    const netns = client;
    const before = new Map<string, string>();
    for (const component of ['public', 'private'] as const) {
      const [pod] = await podsOf(NS, `app.kubernetes.io/component=${component}`);
      assert.ok(pod);
      before.set(component, pod.metadata.name);
    }
    // A client calling both routers, one fresh connection per request, for as long as the
    // upgrade takes: through the public Service, and through the alias to the private router.
    const failures: string[] = [];
    let requests = 0;
    let upgrading = true;
    const load = (async () => {
      while (upgrading) {
        const pub = await netns.request(
          80,
          PUBLIC_HOST,
          '/during-upgrade',
          { 'x-routing-api-key': PUBLIC_KEY },
          PUBLIC_SERVICE,
        );
        const priv = await netns.request(
          80,
          'my-app.my-ns',
          '/during-upgrade',
          { 'x-routing-api-key': PRIVATE_KEY },
          'my-app.my-ns',
        );
        requests += 2;
        for (const [name, answer] of [
          ['public', pub],
          ['private', priv],
        ] as const) {
          if (answer.status !== 200)
            failures.push(`${name}: ${answer.status} ${answer.error ?? answer.body.slice(0, 200)}`);
        }
      }
    })();
    const upgraded = await helm([
      'upgrade',
      RELEASE,
      CHART,
      '-n',
      NS,
      '-f',
      VALUES,
      ...TRACING,
      '--set',
      'public.env.LOG_LEVEL=debug',
      '--set',
      'private.env.LOG_LEVEL=debug',
      '--wait',
      '--timeout',
      '5m',
    ]);
    // Until the old Pods are gone, not only until the new ones are Ready.
    await explained('the old router Pods gone', () =>
      waitFor('the old router Pods to terminate', 2 * MINUTE, async () => {
        for (const [component, name] of before) {
          const pods = await podsOf(NS, `app.kubernetes.io/component=${component}`);
          if (pods.some((p) => p.metadata.name === name) || pods.length !== 1) return false;
        }
        return true;
      }),
    );
    upgrading = false;
    await load;
    if (upgraded.code !== 0)
      assert.fail(`helm upgrade failed: ${upgraded.stderr}${await diagnostics()}`);
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${requests} requests failed during the roll`,
    );
    assert.ok(requests >= 20, `the client kept calling during the roll (${requests} requests)`);
    t.diagnostic(`${requests} requests through both routers during the roll, none failed`);
  });

  test('helm uninstall removes every object of the release, and the aliases its controller made', async () => {
    // This release's aliases, in the namespaces of the example: other suites on the same
    // cluster leave aliases of their own routers elsewhere.
    const ours = new Set(['my-ns', 'my-consumer', NS]);
    const aliases = async () => {
      const list = JSON.parse(
        await kubectl([
          'get',
          'services,endpointslices,endpoints',
          '-A',
          '-l',
          'app.kubernetes.io/managed-by=podrouter',
          '-o',
          'json',
        ]),
      ) as {
        items: {
          kind: string;
          apiVersion: string;
          metadata: { name: string; namespace: string };
        }[];
      };
      return list.items
        .filter((item) => ours.has(item.metadata.namespace))
        .map((item) =>
          item.kind === 'EndpointSlice'
            ? `endpointslice.discovery.k8s.io/${item.metadata.name}`
            : `${item.kind.toLowerCase()}/${item.metadata.name}`,
        )
        .sort();
    };
    // What the controller made, which Helm does not know: the alias and its endpoints, and
    // the leader-election Lease.
    assert.deepEqual(await aliases(), [
      'endpointslice.discovery.k8s.io/my-app-podrouter-0',
      'service/my-app',
    ]);
    const lease = ['-n', NS, 'get', 'lease', `${RELEASE}-controller`, '--ignore-not-found'];
    assert.notEqual((await kubectl([...lease, '-o', 'name'])).trim(), '', 'the Lease exists');
    const removed = await helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '5m']);
    if (removed.code !== 0) {
      const job = await kubectlRun(['-n', NS, 'logs', `job/${RELEASE}-cleanup`], {
        allowFailure: true,
      });
      assert.fail(
        `helm uninstall failed: ${removed.stderr}\ncleanup Job: ${job.stdout}${job.stderr}${await diagnostics()}`,
      );
    }
    // The post-delete hook ran `podrouter-controller cleanup` once the controller was gone.
    assert.deepEqual(await aliases(), [], 'no alias Service, EndpointSlice or Endpoints is left');
    assert.equal((await kubectl([...lease, '-o', 'name'])).trim(), '', 'the Lease is gone');
    const selector = `app.kubernetes.io/instance=${RELEASE}`;
    await explained('the release gone', () =>
      waitFor("the release's Pods to be gone", 2 * MINUTE, async () => {
        const left = await kubectl(['-n', NS, 'get', 'pods', '-l', selector, '-o', 'name']);
        return left.trim() === '';
      }),
    );
    const namespaced = await kubectl([
      '-n',
      NS,
      'get',
      'deployments,replicasets,jobs,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings,leases',
      '-l',
      selector,
      '-o',
      'name',
    ]);
    assert.equal(
      namespaced.trim(),
      '',
      'no namespaced object of the release (nor of its cleanup hook) is left',
    );
    const cluster = await kubectl([
      'get',
      'clusterroles,clusterrolebindings',
      '-l',
      selector,
      '-o',
      'name',
    ]);
    assert.equal(cluster.trim(), '', 'no ClusterRole or ClusterRoleBinding of the release is left');
  });
});
