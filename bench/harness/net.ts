/** Loopback plumbing: free ports, a GET with an explicit Host, waiting for a server. */
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port free on `host` now (the kernel's pick; a race with other processes is possible). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, host, done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** GET with an explicit Host header and extra headers (fetch() does not let a caller set Host). */
export function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const request = httpGet(url, { headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => done({ status: response.statusCode ?? 0, body }));
      response.on('error', fail);
    });
    request.on('error', fail);
  });
}

/** Waits (≤ `timeoutMs`) for `url` to answer 200; returns the body. */
export async function waitFor(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const { status, body } = await get(url, headers);
      if (status === 200) return body;
      last = `${status} ${body}`;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready: ${String(last)}`);
}
