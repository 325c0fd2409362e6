import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startEchoApp } from './echo-app.ts';

/**
 * `npm run demo`: podrouter on one machine, no cluster. Starts the apps that
 * examples/local/pods.yaml describes (Pod IPs are 127.0.0.x) and both routers over that
 * file, then prints what to try. Edit pods.yaml while it runs: routes follow within a second.
 */

const root = resolve(import.meta.dirname, '../..');
const file = resolve(process.env.DEMO_FILE ?? resolve(import.meta.dirname, 'pods.yaml'));
const PUBLIC_PORT = process.env.DEMO_PUBLIC_PORT ?? '8080';
const PRIVATE_PORT = process.env.DEMO_PRIVATE_PORT ?? '8081';
const PUBLIC_ADMIN_PORT = process.env.DEMO_PUBLIC_ADMIN_PORT ?? '9080';
const PRIVATE_ADMIN_PORT = process.env.DEMO_PRIVATE_ADMIN_PORT ?? '9081';
const PUBLIC_INTROSPECTION_PORT = process.env.DEMO_PUBLIC_INTROSPECTION_PORT ?? '9180';
const PRIVATE_INTROSPECTION_PORT = process.env.DEMO_PRIVATE_INTROSPECTION_PORT ?? '9181';

const apps = await Promise.all([
  startEchoApp({ host: '127.0.0.11', port: 3000, name: 'shop/catalog-7d9f-abcde' }),
  startEchoApp({ host: '127.0.0.12', port: 3000, name: 'shop/catalog-7d9f-fghij' }),
  startEchoApp({ host: '127.0.0.13', port: 8080, name: 'billing/billing-5c6b-klmno' }),
]);

function startRouter(
  tier: 'public' | 'private',
  port: string,
  adminPort: string,
  introspectionPort: string,
): ChildProcess {
  const child = spawn(
    process.execPath,
    [resolve(root, `packages/${tier}/bin/podrouter-${tier}.js`)],
    {
      env: {
        ...process.env,
        SOURCE: 'file',
        SOURCE_FILE: file,
        PORT: port,
        ADMIN_PORT: adminPort,
        TLS_PORT: '',
        INTROSPECTION_PORT: introspectionPort,
        LISTEN_ADDRESS: '127.0.0.1',
        SHUTDOWN_DELAY: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Logs are JSON lines; the demo shows the interesting ones in short form.
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as { level: string; msg: string; [key: string]: unknown };
      const { level, msg, time: _time, name: _name, ...rest } = entry;
      process.stdout.write(`[${tier}] ${level} ${msg} ${JSON.stringify(rest)}\n`);
    } catch {
      process.stdout.write(`[${tier}] ${line}\n`);
    }
  });
  child.on('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`podrouter-${tier} exited with ${code}; stopping the demo\n`);
      void stop(1);
    }
  });
  return child;
}

let stopping = false;
const routers = [
  startRouter('public', PUBLIC_PORT, PUBLIC_ADMIN_PORT, PUBLIC_INTROSPECTION_PORT),
  startRouter('private', PRIVATE_PORT, PRIVATE_ADMIN_PORT, PRIVATE_INTROSPECTION_PORT),
];

async function stop(code = 0): Promise<void> {
  stopping = true;
  for (const router of routers) router.kill('SIGTERM');
  await Promise.all(
    routers.map((router) =>
      router.exitCode === null ? new Promise((done) => router.once('exit', done)) : undefined,
    ),
  );
  await Promise.all(apps.map((app) => app.close()));
  process.exit(code);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

process.stdout.write(`
podrouter demo: both routers run over ${file}

Public router (traffic entering the cluster) on http://127.0.0.1:${PUBLIC_PORT}
  curl http://shop.localhost:${PUBLIC_PORT}/catalog/items         # load-balanced over two catalog Pods
  curl http://shop.localhost:${PUBLIC_PORT}/billing/invoices      # 401: billing requires its API key
  curl -H 'X-ROUTING-API-KEY: demo-key-123' http://shop.localhost:${PUBLIC_PORT}/billing/invoices
  curl http://shop.localhost:${PUBLIC_PORT}/catalogx              # 404: prefixes match on segment boundaries
  curl http://127.0.0.1:${PUBLIC_INTROSPECTION_PORT}/routes                      # the table, and billing's rejected 9999:/admin entry

Private router (traffic between apps) on http://127.0.0.1:${PRIVATE_PORT}
  curl -H 'Host: catalog.shop' http://127.0.0.1:${PRIVATE_PORT}/items
  curl -H 'Host: billing.billing' http://127.0.0.1:${PRIVATE_PORT}/
  curl http://127.0.0.1:${PRIVATE_ADMIN_PORT}/metrics

WebSocket through the public router (the apps echo messages):
  scripts/node.sh -e "const w=new WebSocket('ws://shop.localhost:${PUBLIC_PORT}/catalog/ws');w.onmessage=e=>{console.log(e.data);w.close()}"

Edit examples/local/pods.yaml (add a Pod, change an annotation): the routers reload within a second.
Ctrl-C stops everything.
`);
