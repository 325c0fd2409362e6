// Plays the kubelet for one Pod of the test cluster: a fresh Pod IP on the namespace's `lo`,
// the Pod object bound to the Node, a real backend process listening on that IP, and the
// status a kubelet would write (phase, IPs, Ready) through the status subresource.
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import {
  ClusterError,
  clusterInfo,
  kubectl,
  kubectlRun,
  runInNetns,
  spawnInNetns,
  waitFor,
} from './cluster.ts';

export interface FakePodOptions {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The Pod's `spec.containers`; default one container `app` exposing `port` as `http`. */
  containers?: readonly Record<string, unknown>[];
  /** The port the backend listens on; default 8080. */
  port?: number;
  /** The backend's command line, run inside the namespace with POD_IP, PORT, POD_NAME and
   * POD_NAMESPACE set; it must listen on POD_IP:PORT. Default: echo-server.ts, which answers
   * JSON with the request's method, url, headers and body and the Pod's name. */
  command?: readonly string[];
  /** Report the Pod Ready once the backend listens (default true). */
  ready?: boolean;
  terminationGracePeriodSeconds?: number;
  /** How long to wait for the backend to listen; default 15 s. */
  startTimeoutMs?: number;
}

export interface FakePod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly uid: string;
  readonly process: ChildProcess;
  /** Sets the Ready and ContainersReady conditions (the backend keeps running). */
  setReady(ready: boolean): Promise<void>;
  /** Deletes the Pod with a grace period: with no kubelet to finish the deletion the object
   * stays, with `deletionTimestamp` set, until `delete()`. The backend keeps running. */
  terminate(gracePeriodSeconds?: number): Promise<void>;
  /** Removes the Pod object at once and stops the backend; releases the IP. Idempotent. */
  delete(): Promise<void>;
}

const echoServer = join(clusterInfo().scriptsDir, 'echo-server.ts');

/** Adds a random unused address of 10.244.1.0–10.244.255.255 to `lo`; `ip addr add` failing
 * with "File exists" makes the choice atomic across concurrent test processes.
 * 10.244.0.0/24 is kept for the cluster's own Pods (CoreDNS). */
async function allocatePodIp(): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ip = `10.244.${randomInt(1, 256)}.${randomInt(1, 255)}`;
    const r = await runInNetns('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'], {
      allowFailure: true,
    });
    if (r.code === 0) return ip;
    if (!r.stderr.includes('File exists')) {
      throw new ClusterError(
        'CLUSTER_COMMAND_FAILED',
        `ip addr add ${ip}/32 dev lo: ${r.stderr.trim()}`,
      );
    }
  }
  throw new ClusterError('CLUSTER_COMMAND_FAILED', 'no free Pod IP found in 100 attempts');
}

async function releasePodIp(ip: string): Promise<void> {
  await runInNetns('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo'], { allowFailure: true });
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startFakePod(opts: FakePodOptions): Promise<FakePod> {
  const info = clusterInfo();
  const { namespace, name } = opts;
  const port = opts.port ?? 8080;
  const containers = opts.containers ?? [
    {
      name: 'app',
      image: 'podrouter.test/echo:fake',
      ports: [{ name: 'http', containerPort: port }],
    },
  ];
  const ip = await allocatePodIp();
  let child: ChildProcess | undefined;
  try {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: opts.labels ?? {}, annotations: opts.annotations ?? {} },
      spec: {
        nodeName: info.nodeName,
        containers,
        terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds ?? 30,
      },
    };
    let created: { metadata: { uid: string } } | undefined;
    // A namespace's default ServiceAccount appears shortly after the namespace, and the
    // ServiceAccount admission plugin rejects Pods until it does.
    await waitFor(`Pod ${namespace}/${name} to be created`, 15_000, async () => {
      const r = await kubectlRun(['create', '-f', '-', '-o', 'json'], {
        input: JSON.stringify(pod),
        allowFailure: true,
      });
      if (r.code !== 0) {
        if (/serviceaccount.*not found/i.test(r.stderr)) return false;
        throw new ClusterError(
          'CLUSTER_COMMAND_FAILED',
          `creating Pod ${namespace}/${name}: ${r.stderr.trim()}`,
        );
      }
      created = JSON.parse(r.stdout) as { metadata: { uid: string } };
      return true;
    });
    if (created === undefined)
      throw new ClusterError('CLUSTER_COMMAND_FAILED', `Pod ${namespace}/${name} not created`);
    const uid = created.metadata.uid;

    const [cmd, ...args] = opts.command ?? [process.execPath, echoServer];
    if (cmd === undefined)
      throw new ClusterError('CLUSTER_COMMAND_FAILED', 'empty backend command');
    let output = '';
    const backend = spawnInNetns(cmd, args, {
      env: {
        ...process.env,
        POD_IP: ip,
        PORT: String(port),
        POD_NAME: name,
        POD_NAMESPACE: namespace,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = backend;
    // A Pod a test forgets to delete must not keep the test process alive; down.sh ends it.
    backend.unref();
    for (const stream of [backend.stdout, backend.stderr]) {
      if (stream !== null && 'unref' in stream && typeof stream.unref === 'function')
        stream.unref();
    }
    backend.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    backend.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await waitFor(
      `backend of Pod ${namespace}/${name} to listen on ${ip}:${port}`,
      opts.startTimeoutMs ?? 15_000,
      async () => {
        if (backend.exitCode !== null || backend.signalCode !== null) {
          throw new ClusterError(
            'CLUSTER_COMMAND_FAILED',
            `backend exited (${backend.exitCode ?? backend.signalCode}): ${output}`,
          );
        }
        const r = await runInNetns('bash', ['-c', `exec 3<>/dev/tcp/${ip}/${port}`], {
          allowFailure: true,
        });
        return r.code === 0;
      },
    );

    const startedAt = timestamp();
    const patchStatus = async (ready: boolean): Promise<void> => {
      const now = timestamp();
      const readiness = ready ? 'True' : 'False';
      const status = {
        status: {
          phase: 'Running',
          hostIP: info.nodeIp,
          hostIPs: [{ ip: info.nodeIp }],
          podIP: ip,
          podIPs: [{ ip }],
          startTime: startedAt,
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
            { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
            { type: 'ContainersReady', status: readiness, lastTransitionTime: now },
            { type: 'Ready', status: readiness, lastTransitionTime: now },
          ],
          containerStatuses: containers.map((c) => ({
            name: c.name,
            image: c.image,
            imageID: '',
            containerID: `fake://${uid}/${String(c.name)}`,
            ready,
            started: true,
            restartCount: 0,
            state: { running: { startedAt } },
          })),
        },
      };
      await kubectl([
        '-n',
        namespace,
        'patch',
        'pod',
        name,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify(status),
      ]);
    };
    await patchStatus(opts.ready ?? true);

    let deleted = false;
    return {
      namespace,
      name,
      ip,
      port,
      uid,
      process: backend,
      setReady: patchStatus,
      async terminate(gracePeriodSeconds?: number): Promise<void> {
        const grace = gracePeriodSeconds ?? opts.terminationGracePeriodSeconds ?? 30;
        await kubectl([
          '-n',
          namespace,
          'delete',
          'pod',
          name,
          `--grace-period=${grace}`,
          '--wait=false',
        ]);
      },
      async delete(): Promise<void> {
        if (deleted) return;
        deleted = true;
        await kubectl(
          [
            '-n',
            namespace,
            'delete',
            'pod',
            name,
            '--grace-period=0',
            '--force',
            '--ignore-not-found',
          ],
          { allowFailure: true },
        );
        await stopProcess(backend);
        await releasePodIp(ip);
      },
    };
  } catch (error) {
    if (child !== undefined) await stopProcess(child);
    await kubectl(
      ['-n', namespace, 'delete', 'pod', name, '--grace-period=0', '--force', '--ignore-not-found'],
      {
        allowFailure: true,
      },
    );
    await releasePodIp(ip);
    throw error;
  }
}
