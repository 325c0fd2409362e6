import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig, RequestContext } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';
import { parse } from 'yaml';

/**
 * How to reach the API server: its URL, and for each request the credentials and the
 * connection pool (TLS identity) to send it with.
 *
 * Importing `@kubernetes/client-node` costs a router ≈77 MB of RSS and ≈0.8 s at start (its
 * KubeConfig pulls in every generated API and model; measured with Node 24, see
 * docs/benchmarks.md), half of the 150 MB a 10 000-Pod router may use. The forms a router
 * meets in practice (in-cluster ServiceAccount, a kubeconfig with a token, a token file or a
 * client certificate) are read here with nothing but `yaml` and undici; client-node is loaded
 * only for what it alone does well (exec and auth-provider plugins, proxies, basic auth).
 */
export interface KubeConnection {
  /** `https://host:port`, no trailing slash. */
  readonly server: string;
  /** Headers and dispatcher for one request; re-read each time so rotated tokens apply. */
  authorize(): Promise<Authorized>;
}

export interface Authorized {
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher: Dispatcher;
}

/** Where in-cluster credentials live; a parameter for tests. */
export interface InClusterPaths {
  readonly token: string;
  readonly ca: string;
  readonly host: string | undefined;
  readonly port: string | undefined;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export const defaultInClusterPaths = (env: NodeJS.ProcessEnv = process.env): InClusterPaths => ({
  token: `${SERVICE_ACCOUNT}/token`,
  ca: `${SERVICE_ACCOUNT}/ca.crt`,
  host: env.KUBERNETES_SERVICE_HOST,
  port: env.KUBERNETES_SERVICE_PORT,
});

/** A bound ServiceAccount token is rotated by the kubelet; re-read it at most this often. */
const TOKEN_RECHECK_MS = 10_000;

/** A token read from a file, re-read when the file changes (checked every 10 s at most). */
function tokenFile(path: string, now: () => number = Date.now): () => string {
  let token = '';
  let mtimeMs = -1;
  let checkedAt = Number.NEGATIVE_INFINITY;
  return () => {
    const at = now();
    if (at - checkedAt >= TOKEN_RECHECK_MS) {
      checkedAt = at;
      const mtime = statSync(path).mtimeMs;
      if (mtime !== mtimeMs) {
        token = readFileSync(path, 'utf8').trim();
        mtimeMs = mtime;
      }
    }
    return token;
  };
}

interface TlsIdentity {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/** One keep-alive pool per connection: lists, watches and writes share it. */
function agentFor(tls: TlsIdentity): Agent {
  return new Agent({
    connect: {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
      rejectUnauthorized: tls.rejectUnauthorized,
    },
    // Watches are long-lived responses; the pool must not time out between their chunks.
    bodyTimeout: 0,
  });
}

function staticConnection(
  server: string,
  tls: TlsIdentity,
  token: (() => string) | undefined,
): KubeConnection {
  const dispatcher = agentFor(tls);
  return {
    server: server.replace(/\/+$/, ''),
    async authorize() {
      const value = token?.();
      const headers: Record<string, string> = value ? { authorization: `Bearer ${value}` } : {};
      return { headers, dispatcher };
    },
  };
}

/** The Pod's own ServiceAccount, as client-go's rest.InClusterConfig reads it. */
export function inClusterConnection(paths: InClusterPaths = defaultInClusterPaths()) {
  if (!paths.host || !paths.port) {
    throw new Error(
      'not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set',
    );
  }
  const host = paths.host.includes(':') ? `[${paths.host}]` : paths.host;
  const token = tokenFile(paths.token);
  token(); // Fails now, with the path in the message, when there is no token.
  return staticConnection(
    `https://${host}:${paths.port}`,
    { ca: readFileSync(paths.ca), rejectUnauthorized: true },
    token,
  );
}

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

function named(list: unknown, name: string, field: string): Obj | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((item) => isObj(item) && item.name === name);
  return isObj(entry) && isObj(entry[field]) ? entry[field] : undefined;
}

/**
 * Reads the current context of a kubeconfig file. Returns `undefined` when it needs what only
 * client-node does (exec or auth-provider plugins, a proxy, basic auth).
 */
export function readKubeconfig(path: string): KubeConnection | undefined {
  const document: unknown = parse(readFileSync(path, 'utf8'));
  if (!isObj(document)) throw new Error(`${path} is not a kubeconfig (not a YAML mapping)`);
  const contextName = str(document['current-context']);
  if (contextName === undefined) throw new Error(`${path} has no current-context`);
  const context = named(document.contexts, contextName, 'context');
  if (context === undefined) throw new Error(`${path}: context ${contextName} is not defined`);
  const cluster = named(document.clusters, String(context.cluster ?? ''), 'cluster');
  if (cluster === undefined || str(cluster.server) === undefined) {
    throw new Error(`${path}: the cluster of context ${contextName} has no server`);
  }
  const user = named(document.users, String(context.user ?? ''), 'user') ?? {};
  if (
    user.exec !== undefined ||
    user['auth-provider'] !== undefined ||
    user.username !== undefined ||
    cluster['proxy-url'] !== undefined
  ) {
    return undefined;
  }
  const base = dirname(path);
  const file = (name: unknown) => {
    const value = str(name);
    return value === undefined
      ? undefined
      : readFileSync(isAbsolute(value) ? value : join(base, value));
  };
  const data = (value: unknown) => {
    const text = str(value);
    return text === undefined ? undefined : Buffer.from(text, 'base64');
  };
  const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
  const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
  const key = data(user['client-key-data']) ?? file(user['client-key']);
  const servername = str(cluster['tls-server-name']);
  const tokenValue = str(user.token);
  const tokenPath = str(user.tokenFile);
  const token =
    tokenValue !== undefined
      ? () => tokenValue
      : tokenPath !== undefined
        ? tokenFile(isAbsolute(tokenPath) ? tokenPath : join(base, tokenPath))
        : undefined;
  return staticConnection(
    String(cluster.server),
    {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    },
    token,
  );
}

/**
 * A connection that asks client-node's KubeConfig for every request (the controller, which
 * uses client-node's typed clients anyway, and kubeconfigs with plugins).
 */
export async function connectionFromKubeConfig(config: KubeConfig): Promise<KubeConnection> {
  const { RequestContext, HttpMethod } = await import('@kubernetes/client-node');
  return kubeConfigConnection(config, (url) => new RequestContext(url, HttpMethod.GET));
}

/** As `connectionFromKubeConfig`, for a caller that has client-node loaded already. */
export function kubeConfigConnection(
  config: KubeConfig,
  context: (url: string) => RequestContext,
): KubeConnection {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const fallback = new Agent({ bodyTimeout: 0 });
  return {
    server: cluster.server.replace(/\/+$/, ''),
    async authorize() {
      const request = context(cluster.server);
      await config.applySecurityAuthentication(request);
      return {
        headers: request.getHeaders(),
        dispatcher: request.getDispatcher() ?? fallback,
      };
    },
  };
}

/**
 * KUBECONFIG (or in-cluster when empty) → a connection; client-node is imported only when
 * the kubeconfig needs it.
 */
export async function loadKubeConnection(kubeconfig: string): Promise<KubeConnection> {
  if (kubeconfig === '') return inClusterConnection();
  const light = readKubeconfig(kubeconfig);
  if (light !== undefined) return light;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { shareDispatcher } = await import('../sources/shared-dispatcher.ts');
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  return connectionFromKubeConfig(shareDispatcher(config));
}
