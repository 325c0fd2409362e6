import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/**
 * A tiny app for the demo and the tests: answers JSON describing the request it got (so
 * you can see what podrouter forwarded), echoes WebSocket messages, and has a few paths
 * that misbehave on purpose.
 *   /slow?ms=N     answers after N ms
 *   /status/NNN    answers with that status
 *   /stream?n=N    N chunks, 10 ms apart, chunked encoding
 *   /upload        reads the whole body and reports its size
 */
export interface EchoApp {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

function describeRequest(name: string, req: IncomingMessage, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    pod: name,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    ...extra,
  });
}

export async function startEchoApp(options: {
  host: string;
  port: number;
  name: string;
}): Promise<EchoApp> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': options.name });
      res.end(body);
    };
    if (url.pathname.endsWith('/slow')) {
      setTimeout(
        () => reply(200, describeRequest(options.name, req)),
        Number(url.searchParams.get('ms') ?? 100),
      );
      return;
    }
    const status = /\/status\/([0-9]{3})$/.exec(url.pathname);
    if (status) {
      reply(Number(status[1]), describeRequest(options.name, req));
      return;
    }
    if (url.pathname.endsWith('/stream')) {
      const chunks = Number(url.searchParams.get('n') ?? 5);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': options.name });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`chunk ${sent}\n`);
        if (++sent >= chunks) {
          clearInterval(timer);
          res.end();
        }
      }, 10);
      res.on('close', () => clearInterval(timer));
      return;
    }
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => reply(200, describeRequest(options.name, req, { bodyBytes: bytes })));
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket, req) => {
    socket.send(JSON.stringify({ pod: options.name, url: req.url, headers: req.headers }));
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.main) {
  const [host = '127.0.0.1', port = '3000', name = 'echo'] = process.argv.slice(2);
  const app = await startEchoApp({ host, port: Number(port), name });
  process.stdout.write(`echo app ${name} on http://${host}:${app.port}/\n`);
}
