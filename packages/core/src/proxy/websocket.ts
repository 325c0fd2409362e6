import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../routes/types.ts';

/**
 * Upgrade requests (WebSocket) are tunnelled as bytes: the handshake is re-sent to the Pod
 * with rewritten headers, and from then on both sockets are piped into each other. The
 * Pod's handshake answer (101 or an error) reaches the client unchanged.
 */

export type TunnelFailure = 'connect-refused' | 'connect-timeout';

export interface TunnelOptions {
  readonly connectTimeoutMs: number;
  /** Called once the tunnel is up; `closed` resolves when either side goes away. */
  readonly onOpen: (upstream: Socket) => void;
  readonly onFailure: (failure: TunnelFailure, error: Error) => void;
}

function handshake(req: IncomingMessage, headers: readonly string[]): string {
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}

export function openTunnel(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  endpoint: Endpoint,
  headers: readonly string[],
  options: TunnelOptions,
): void {
  const upstream = connect({ host: endpoint.ip, port: endpoint.port, noDelay: true });
  let connected = false;
  upstream.setTimeout(options.connectTimeoutMs, () => {
    if (!connected) {
      const error = Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' });
      upstream.destroy();
      options.onFailure('connect-timeout', error);
    }
  });
  upstream.once('error', (error) => {
    if (!connected) options.onFailure('connect-refused', error);
  });
  upstream.once('connect', () => {
    connected = true;
    upstream.setTimeout(0);
    upstream.setKeepAlive(true, 30_000);
    upstream.write(handshake(req, headers));
    if (head.length > 0) upstream.write(head);
    const closeBoth = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.on('error', closeBoth);
    client.on('error', closeBoth);
    upstream.on('close', closeBoth);
    client.on('close', closeBoth);
    upstream.pipe(client);
    client.pipe(upstream);
    options.onOpen(upstream);
  });
}
