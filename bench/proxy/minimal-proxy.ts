/**
 * A reference point, not a product: the smallest streaming proxy on the same platform as
 * podrouter (node:http server + the undici Pool podrouter uses, same dispatch-handler API),
 * with no routing, policies, metrics or header rewriting beyond hop-by-hop removal. What
 * podrouter costs above it is podrouter's own code; what it costs is the platform's floor.
 *
 *   scripts/node.sh bench/proxy/minimal-proxy.ts PORT http://UPSTREAM:PORT
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Dispatcher, Pool as PoolClass } from 'undici';

// The undici that @podrouter/core resolves, so both proxies run the same version.
const requireFromCore = createRequire(fileURLToPath(import.meta.resolve('@podrouter/core')));
const { Pool } = requireFromCore('undici') as { Pool: typeof PoolClass };

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te']);

const [port = '0', upstream = ''] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: null, pipelining: 1 });

createServer((req, res) => {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1] as string);
  }
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(controller, statusCode) {
      const rawOut = (controller.rawHeaders ?? []) as Buffer[];
      const out: string[] = [];
      for (let i = 0; i < rawOut.length; i += 2) {
        const name = (rawOut[i] as Buffer).toString('latin1');
        if (!HOP_BY_HOP.has(name.toLowerCase()))
          out.push(name, (rawOut[i + 1] as Buffer).toString('latin1'));
      }
      res.writeHead(statusCode, out);
    },
    onResponseData(controller, chunk) {
      if (!res.write(chunk)) {
        controller.pause();
        res.once('drain', () => controller.resume());
      }
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError(_controller, error) {
      if (res.headersSent) res.destroy(error);
      else {
        res.statusCode = 502;
        res.end();
      }
    },
  };
  pool.dispatch(
    {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    },
    handler,
  );
}).listen(Number(port), '127.0.0.1');
