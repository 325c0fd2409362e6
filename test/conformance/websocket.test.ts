import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type EchoApp, startEchoApp } from '../../examples/local/echo-app.ts';
import { type Blackhole, startBlackhole } from '../support/blackhole.ts';
import {
  BUILDS,
  type BuildUnderTest,
  pod,
  type RunningRouter,
  startRouter,
} from '../support/harness.ts';

/** Conformance: WebSocket upgrades, and route table swaps that must not cut them. */

let first: EchoApp;
let second: EchoApp;
let silent: Blackhole;

before(async () => {
  first = await startEchoApp({ host: '127.0.12.1', port: 0, name: 'ws-1' });
  second = await startEchoApp({ host: '127.0.12.2', port: 0, name: 'ws-2' });
  silent = await startBlackhole('127.0.12.8');
});

after(async () => {
  await Promise.all([first.close(), second.close(), silent.close()]);
});

/** A Pod serving ws.example.com/chat on `port`. */
const chatPod = (build: BuildUnderTest, name: string, ip: string, port: number) =>
  pod(build, { name, ip, ports: [port], hosts: 'ws.example.com', paths: `${port}:/chat` });

/** The count of `podrouter_upstream_failures_total` for one kind. */
async function failures(router: RunningRouter, tier: string, kind: string): Promise<number> {
  const metrics = (await router.admin('/metrics')).body;
  const line = metrics
    .split('\n')
    .find((text) =>
      text.startsWith(`podrouter_upstream_failures_total{tier="${tier}",kind="${kind}"}`),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Opens a WebSocket through the router; resolves with the socket and its greeting. */
async function open(
  port: number,
  host: string,
  path: string,
  headers: Record<string, string> = {},
) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host, ...headers } });
  const messages: string[] = [];
  const waiting: ((text: string) => void)[] = [];
  socket.on('message', (data) => {
    const text = data.toString();
    const waiter = waiting.shift();
    if (waiter) waiter(text);
    else messages.push(text);
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const queued = messages.shift();
      if (queued !== undefined) resolve(queued);
      else {
        waiting.push(resolve);
        socket.once('close', () => reject(new Error('socket closed')));
      }
    });
  await once(socket, 'open');
  const greeting = JSON.parse(await next()) as {
    pod: string;
    url: string;
    headers: Record<string, string>;
  };
  return { socket, greeting, next };
}

/** The status of an upgrade the router answered with an HTTP response instead of 101. */
async function refusedUpgrade(port: number, host: string, path: string): Promise<number> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host } });
  socket.on('error', () => undefined);
  const [, response] = (await once(socket, 'unexpected-response')) as [
    unknown,
    { statusCode: number },
  ];
  socket.terminate();
  return response.statusCode;
}

for (const build of BUILDS) {
  describe(`websocket (${build.tier} build)`, () => {
    let router: RunningRouter;

    before(async () => {
      router = await startRouter(build, [chatPod(build, 'ws-1', '127.0.12.1', first.port)]);
    });

    after(async () => {
      await router.stop();
    });

    it('upgrades and echoes messages both ways, with forwarded headers', async () => {
      const { socket, greeting, next } = await open(
        router.port,
        'ws.example.com',
        '/chat/room?id=1',
        { 'x-custom': 'kept' },
      );
      assert.equal(greeting.pod, 'ws-1');
      assert.equal(greeting.url, '/chat/room?id=1');
      assert.equal(greeting.headers.host, 'ws.example.com');
      assert.equal(greeting.headers['x-custom'], 'kept');
      assert.equal(greeting.headers['x-forwarded-for'], '127.0.0.1');
      for (const text of ['hello', 'x'.repeat(70_000)]) {
        socket.send(text);
        assert.equal(await next(), text);
      }
      socket.close();
      await once(socket, 'close');
    });

    it('answers an upgrade without a route with 404', async () => {
      assert.equal(await refusedUpgrade(router.port, 'nope.example.com', '/chat'), 404);
    });

    it('keeps an open WebSocket through route table swaps while its Pod stays routed', async () => {
      const { socket, next } = await open(router.port, 'ws.example.com', '/chat');
      // A new Pod joins (the demo's "add a Pod to the file"): routable at once…
      await router.setState([
        chatPod(build, 'ws-1', '127.0.12.1', first.port),
        pod(build, {
          name: 'ws-2',
          namespace: 'other',
          ip: '127.0.12.2',
          ports: [second.port],
          hosts: 'ws2.example.com',
          paths: `${second.port}:/`,
        }),
      ]);
      const added = await open(router.port, 'ws2.example.com', '/');
      assert.equal(added.greeting.pod, 'ws-2');
      added.socket.close();
      // …and the first socket never noticed.
      socket.send('still here');
      assert.equal(await next(), 'still here');
      // Unrelated edits, another swap.
      await router.setState([
        pod(build, {
          name: 'ws-1',
          ip: '127.0.12.1',
          ports: [first.port],
          hosts: 'ws.example.com extra.example.com',
          paths: `${first.port}:/chat`,
        }),
      ]);
      socket.send('and here');
      assert.equal(await next(), 'and here');
      assert.equal(socket.readyState, WebSocket.OPEN);
      socket.close();
      await once(socket, 'close');
    });

    it('answers 502 when the Pod refuses the upgrade connection', async () => {
      await router.setState([
        pod(build, {
          name: 'dead',
          ip: '127.0.12.9',
          ports: [1],
          hosts: 'ws.example.com',
          paths: '1:/chat',
        }),
      ]);
      assert.equal(await refusedUpgrade(router.port, 'ws.example.com', '/chat'), 502);
      assert.equal(await failures(router, build.tier, 'connect-refused'), 1);
    });
  });

  describe(`websocket connect timeouts (${build.tier} build)`, () => {
    it('answers 504 and counts a connect-timeout when the Pod does not answer the SYN', async () => {
      const router = await startRouter(
        build,
        [chatPod(build, 'silent', silent.host, silent.port)],
        { UPSTREAM_CONNECT_TIMEOUT: '300ms' },
      );
      try {
        const started = performance.now();
        assert.equal(await refusedUpgrade(router.port, 'ws.example.com', '/chat'), 504);
        assert.ok(performance.now() - started < 3000, 'the connect timeout, not a later one');
        assert.equal(await failures(router, build.tier, 'connect-timeout'), 1);
        assert.equal(await failures(router, build.tier, 'connect-refused'), 0);
      } finally {
        await router.stop();
      }
    });

    it('with UPSTREAM_CONNECT_TIMEOUT=0 leaves the connect to the kernel and opens the tunnel', async () => {
      const router = await startRouter(build, [chatPod(build, 'ws-1', '127.0.12.1', first.port)], {
        UPSTREAM_CONNECT_TIMEOUT: '0',
      });
      try {
        const { socket, greeting } = await open(router.port, 'ws.example.com', '/chat');
        assert.equal(greeting.pod, 'ws-1');
        socket.close();
        await once(socket, 'close');
      } finally {
        await router.stop();
      }
    });
  });
}
