import { type IncomingMessage, request } from 'node:http';
import { request as requestTls } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isTlsFailure, tlsConnectOptions } from '../backends/backend-tls.ts';
import type { Endpoint } from '../routes/types.ts';
import { connectFailureKind, type FailureKind, type UpstreamOutcome } from './engine.ts';
import { clientResponseHeaders } from './headers.ts';
import { reasonPhrase } from './problem.ts';

/**
 * Upgrade requests (WebSocket). The handshake goes to the Pod as an HTTP request, and the
 * client's socket is not read until the Pod answers it: only a `101` opens the tunnel (both
 * sockets piped into each other). Any other answer is relayed as an ordinary response and
 * the connection closes, so the bytes a client sent after its upgrade request are never
 * forwarded unrouted (the WebSocket/h2c smuggling class). The Pod's answer is parsed by
 * Node's own strict parser.
 */

export interface TunnelCall {
  readonly req: IncomingMessage;
  readonly client: Duplex;
  /** Bytes the client sent after the handshake: WebSocket frames, held until the 101. */
  readonly head: Buffer;
  readonly endpoint: Endpoint;
  /** Flat `[name, value, …]` list, already rewritten for the upstream. */
  readonly headers: string[];
  /** 0 = no limit of the router's own (the kernel's SYN retries end the wait). */
  readonly connectTimeoutMs: number;
  /** Longest wait for the Pod's answer to the handshake. */
  readonly idleTimeoutMs: number;
  readonly responseHeaders?: ReadonlyMap<string, string> | undefined;
  /** Called with the upstream socket once the tunnel is open. */
  readonly onOpen: (upstream: Socket) => void;
}

function headText(status: number, message: string, headers: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${message || reasonPhrase(status)}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}

const withPolicyHeaders = (
  headers: string[],
  extra: ReadonlyMap<string, string> | undefined,
): string[] => {
  if (extra) for (const [name, value] of extra) headers.push(name, value);
  return headers;
};

/** Opens the tunnel or relays the Pod's refusal; `done` is called exactly once. */
export function openTunnel(call: TunnelCall, done: (outcome: UpstreamOutcome) => void): void {
  const { client, endpoint } = call;
  let finished = false;
  let connected = false;
  let answered = false;
  const finish = (outcome: UpstreamOutcome) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    client.off('close', onClientClose);
    done(outcome);
  };
  const fail = (kind: FailureKind, error: Error) =>
    finish({ status: 0, failure: { kind, error, responseStarted: answered } });

  const requestOptions = {
    host: endpoint.ip,
    port: endpoint.port,
    method: call.req.method ?? 'GET',
    path: call.req.url ?? '/',
    headers: call.headers,
    agent: false as const,
    setHost: false,
  };
  // Over TLS, the handshake request is written only after the certificate is verified.
  const upstreamRequest =
    endpoint.tls === undefined
      ? request(requestOptions)
      : requestTls({
          ...tlsConnectOptions(endpoint.tls, endpoint.ip, endpoint.port),
          ...requestOptions,
        });
  const expire = () => {
    const error = new Error(connected ? 'no answer to the upgrade request' : 'connect timeout');
    upstreamRequest.destroy();
    fail(connected ? 'timeout' : 'connect-timeout', error);
  };
  let timer = call.connectTimeoutMs > 0 ? setTimeout(expire, call.connectTimeoutMs) : undefined;
  upstreamRequest.once('socket', (socket: Socket) => {
    socket.setNoDelay(true);
    socket.once(endpoint.tls === undefined ? 'connect' : 'secureConnect', () => {
      connected = true;
      clearTimeout(timer);
      if (call.idleTimeoutMs > 0) timer = setTimeout(expire, call.idleTimeoutMs);
    });
  });
  const onClientClose = () => {
    upstreamRequest.destroy();
    fail('client-gone', new Error('client closed the connection'));
  };
  client.once('close', onClientClose);

  upstreamRequest.once('error', (error: NodeJS.ErrnoException) => {
    if (finished) return;
    // Before the connection (or its TLS handshake) is made: refused or timed out, as the
    // HTTP engines tell them apart.
    const code = error.code ?? '';
    if (connected) fail('connection-lost', error);
    else if (isTlsFailure(code)) fail('tls-handshake', error);
    else fail(connectFailureKind(code), error);
  });

  upstreamRequest.once(
    'upgrade',
    (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      answered = true;
      if (finished || client.destroyed) {
        upstream.destroy();
        return;
      }
      const headers = clientResponseHeaders(res.rawHeaders);
      headers.push('connection', 'upgrade');
      if (res.headers.upgrade) headers.push('upgrade', res.headers.upgrade);
      client.write(
        headText(101, res.statusMessage ?? '', withPolicyHeaders(headers, call.responseHeaders)),
      );
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (call.head.length > 0) upstream.write(call.head);
      upstream.setNoDelay(true);
      upstream.setKeepAlive(true, 30_000);
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
      finish({ status: 101 });
      call.onOpen(upstream);
    },
  );

  upstreamRequest.once('response', (res: IncomingMessage) => {
    answered = true;
    clearTimeout(timer);
    if (finished) {
      res.destroy();
      return;
    }
    // Not a 101: relay it as a plain response, then close. Nothing the client sent after
    // its upgrade request is read, so nothing of it reaches any Pod.
    const headers = clientResponseHeaders(res.rawHeaders);
    const cleaned: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      if (name.toLowerCase() === 'content-length') continue;
      cleaned.push(name, headers[i + 1] as string);
    }
    const length = res.headers['content-length'];
    if (length !== undefined) cleaned.push('content-length', length);
    cleaned.push('connection', 'close');
    client.write(
      headText(
        res.statusCode ?? 502,
        res.statusMessage ?? '',
        withPolicyHeaders(cleaned, call.responseHeaders),
      ),
    );
    res.pipe(client);
    res.once('end', () => {
      finish({ status: res.statusCode ?? 0 });
      upstreamRequest.destroy();
      // The client's later bytes are dropped unread, so that its close is seen.
      client.resume();
    });
    res.once('error', (error) => {
      client.destroy();
      fail('connection-lost', error);
    });
  });
  upstreamRequest.end();
}
