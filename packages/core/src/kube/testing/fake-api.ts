import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import type { KubeConnection } from '../connection.ts';

/**
 * A fake API server on loopback that speaks just enough of list (with pages) and watch for
 * the informer's unit tests. The real API server is exercised by the cluster suites.
 */
export interface FakeApi {
  readonly server: Server;
  readonly connection: KubeConnection;
  /** URLs of list requests, in order. */
  readonly lists: string[];
  /** Open watches, in order; write events with `send`. */
  readonly watches: { url: URL; res: ServerResponse }[];
  /** Objects by collection path (e.g. /api/v1/pods). */
  readonly objects: Map<string, Record<string, unknown>[]>;
  /** Answers for the next lists, used first (status and body). */
  readonly failLists: { status: number; body?: unknown }[];
  /** Answers for the next watches (instead of streaming). */
  readonly failWatches: { status: number; body?: unknown }[];
  /** An answer for every request it returns one for (e.g. 403 for one Secret), lists and
   * watches alike, before anything else. */
  refuse: ((url: URL) => { status: number; body?: unknown } | undefined) | undefined;
  resourceVersion: string;
  /** Waits until a watch is open whose path starts with `prefix` (beyond the first `after`). */
  watchOpened(prefix: string, after?: number): Promise<{ url: URL; res: ServerResponse }>;
  close(): Promise<void>;
}

export function send(res: ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

export async function startFakeApi(): Promise<FakeApi> {
  const waiters: (() => void)[] = [];
  const agent = new Agent();
  const api = {
    server: createServer(),
    lists: [] as string[],
    watches: [] as { url: URL; res: ServerResponse }[],
    objects: new Map<string, Record<string, unknown>[]>(),
    failLists: [] as { status: number; body?: unknown }[],
    failWatches: [] as { status: number; body?: unknown }[],
    resourceVersion: '10',
    refuse: undefined,
  } as FakeApi & { connection: KubeConnection };
  api.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://api');
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const refused = api.refuse?.(url);
    if (refused) {
      if (url.searchParams.get('watch') !== '1') api.lists.push(req.url ?? '');
      answer(refused.status, refused.body ?? { kind: 'Status', code: refused.status });
      return;
    }
    if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') {
      const failure = api.failWatches.shift();
      if (failure) {
        answer(failure.status, failure.body ?? { kind: 'Status', code: failure.status });
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      api.watches.push({ url, res });
      for (const wake of waiters.splice(0)) wake();
      return;
    }
    api.lists.push(req.url ?? '');
    const failure = api.failLists.shift();
    if (failure) {
      answer(failure.status, failure.body ?? { kind: 'Status', code: failure.status });
      return;
    }
    // A `metadata.name=` field selector is honoured (the named TLS Secret watches use it).
    const named = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const all = (api.objects.get(url.pathname) ?? []).filter(
      (object) =>
        named === undefined || (object.metadata as { name?: unknown } | undefined)?.name === named,
    );
    const limit = Number(url.searchParams.get('limit') ?? all.length) || all.length;
    const from = Number(url.searchParams.get('continue') ?? 0);
    const items = all.slice(from, from + limit);
    const more = from + limit < all.length;
    answer(200, {
      kind: 'List',
      apiVersion: 'v1',
      metadata: {
        resourceVersion: api.resourceVersion,
        ...(more ? { continue: String(from + limit) } : {}),
      },
      items,
    });
  });
  await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  const server = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  api.connection = {
    server,
    authorize: async () => ({ headers: { authorization: 'Bearer fake-token' }, dispatcher: agent }),
  };
  api.watchOpened = async (prefix: string, after = 0) => {
    for (;;) {
      const found = api.watches.filter((watch) => watch.url.pathname.startsWith(prefix))[after];
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  api.close = async () => {
    for (const watch of api.watches) watch.res.destroy();
    api.server.closeAllConnections();
    await new Promise<void>((resolve) => api.server.close(() => resolve()));
    await agent.close();
  };
  return api;
}
