// A tiny HTTP client that runs inside the cluster's network namespace, where the routers and
// their Pods are, and takes requests from the test process as JSON lines on stdin. One fresh
// connection per request, so a test sees exactly what a new client would.
import { request } from 'node:http';
import { createInterface } from 'node:readline';

interface Ask {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly path: string;
  readonly host?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const ask = JSON.parse(line) as Ask;
  const answer = (result: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ id: ask.id, ...result })}\n`);
  const req = request(
    {
      host: ask.address,
      port: ask.port,
      path: ask.path,
      headers: { ...ask.headers, ...(ask.host !== undefined ? { host: ask.host } : {}) },
      agent: false,
      timeout: ask.timeoutMs ?? 3000,
    },
    (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        answer({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (error) => answer({ status: 0, error: error.message }));
    },
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (error) => answer({ status: 0, error: error.message }));
  req.end();
});
lines.on('close', () => process.exit(0));
