import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ROOT, send } from '../support/harness.ts';

/**
 * The README's first command, `npm run demo`, as a newcomer runs it (on other ports and a
 * copy of the demo file): it serves, and a Pod added to the file is routable within a
 * second while an open WebSocket stays up.
 */

const PUBLIC_PORT = 18_480;
const PRIVATE_PORT = 18_481;
const dir = mkdtempSync(join(tmpdir(), 'podrouter-demo-'));
const file = join(dir, 'pods.yaml');
let demo: ReturnType<typeof spawn>;
let output = '';

before(async () => {
  copyFileSync(join(ROOT, 'examples/local/pods.yaml'), file);
  demo = spawn(process.execPath, [join(ROOT, 'examples/local/demo.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      DEMO_FILE: file,
      DEMO_PUBLIC_PORT: String(PUBLIC_PORT),
      DEMO_PRIVATE_PORT: String(PRIVATE_PORT),
      DEMO_PUBLIC_ADMIN_PORT: '18482',
      DEMO_PRIVATE_ADMIN_PORT: '18483',
      DEMO_PUBLIC_INTROSPECTION_PORT: '18484',
      DEMO_PRIVATE_INTROSPECTION_PORT: '18485',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  demo.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const deadline = Date.now() + 30_000;
  while ((output.match(/route table applied/g) ?? []).length < 2) {
    if (Date.now() > deadline || demo.exitCode !== null)
      throw new Error(`demo did not start:\n${output}`);
    await sleep(100);
  }
});

after(async () => {
  demo.kill('SIGINT');
  if (demo.exitCode === null) await once(demo, 'exit');
  rmSync(dir, { recursive: true, force: true });
});

it('prints the commands to try and serves them', async () => {
  assert.match(output, new RegExp(`curl http://shop.localhost:${PUBLIC_PORT}/catalog/items`));
  const catalog = await send({ port: PUBLIC_PORT, host: 'shop.localhost', path: '/catalog/items' });
  assert.equal(catalog.status, 200);
  assert.match(catalog.json<{ pod: string }>().pod, /^shop\/catalog-/);
  assert.equal(
    (await send({ port: PUBLIC_PORT, host: 'shop.localhost', path: '/billing/x' })).status,
    401,
  );
  const keyed = await send({
    port: PUBLIC_PORT,
    host: 'shop.localhost',
    path: '/billing/x',
    headers: { 'x-routing-api-key': 'demo-key-123' },
  });
  assert.equal(keyed.status, 200);
  assert.equal(
    (await send({ port: PRIVATE_PORT, host: 'catalog.shop', path: '/items' })).status,
    200,
  );
  const routes = (await send({ port: 18484, path: '/routes' })).json<{
    pods: { rejections: { entry: string }[] }[];
  }>();
  assert.equal(
    routes.pods.flatMap((pod) => pod.rejections.map((r) => r.entry)).join(),
    '9999:/admin',
  );
});

// The issue asks for "within a second"; a test asserts the live reload with room for a loaded
// CI machine and reports the time it took (speed itself is measured by benchmarks).
it('routes a Pod added to the file while an open WebSocket stays up', async (t) => {
  const socket = new WebSocket(`ws://127.0.0.1:${PUBLIC_PORT}/catalog/ws`, {
    headers: { host: 'shop.localhost' },
  });
  const messages: string[] = [];
  socket.on('message', (data) => messages.push(data.toString()));
  await once(socket, 'open');
  // A new Pod for a new host, on the catalog app's address.
  const addition = `
  - apiVersion: v1
    kind: Pod
    metadata:
      name: orders-1
      namespace: orders
      creationTimestamp: "2026-03-01T00:00:00Z"
      labels: { routable: "true" }
      annotations: { publicHosts: orders.localhost, publicPaths: "3000:/" }
    spec: { containers: [{ name: app, ports: [{ containerPort: 3000 }] }] }
    status: { phase: Running, podIP: 127.0.0.12, conditions: [{ type: Ready, status: "True" }] }
`;
  const written = Date.now();
  writeFileSync(file, readFileSync(file, 'utf8') + addition);
  let status = 0;
  while (Date.now() - written < 10_000) {
    status = (await send({ port: PUBLIC_PORT, host: 'orders.localhost', path: '/' })).status;
    if (status === 200) break;
    await sleep(20);
  }
  assert.equal(status, 200, 'the added Pod is routed');
  t.diagnostic(`routable ${Date.now() - written} ms after the file was written`);
  socket.send('still open');
  const deadline = Date.now() + 2000;
  while (!messages.includes('still open') && Date.now() < deadline) await sleep(10);
  assert.ok(messages.includes('still open'), 'the WebSocket kept working');
  assert.equal(socket.readyState, WebSocket.OPEN);
  socket.close();
});
