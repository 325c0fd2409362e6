import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';

/**
 * A backend that records exactly the bytes it receives, per connection, and answers each
 * request head it finds: `101` (then echoes raw bytes) for a WebSocket handshake on a path
 * starting with `/ws`, `200 ok <path>` otherwise. Raw bytes, not Node's parser, so a test
 * sees what really crossed the wire, including what a proxy should never have sent.
 */
export interface RecordedRequest {
  readonly method: string;
  readonly target: string;
  /** Header lines as received, `Name: value`. */
  readonly headers: readonly string[];
  readonly body: string;
}

export interface RecordingBackend {
  readonly host: string;
  readonly port: number;
  /** Every byte received, all connections, in arrival order (latin1). */
  bytes(): string;
  readonly requests: RecordedRequest[];
  /** Open connections from the router. */
  connections(): number;
  /** Stops answering (requests are recorded but never answered) until called with false. */
  hold(on: boolean): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startRecordingBackend(host: string): Promise<RecordingBackend> {
  let all = '';
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let holding = false;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = '';
    let tunnel = false;
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      all += text;
      if (tunnel) {
        socket.write(chunk);
        return;
      }
      buffer += text;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const [line = '', ...headers] = buffer.slice(0, end).split('\r\n');
        const length = Number(
          headers
            .find((header) => header.toLowerCase().startsWith('content-length:'))
            ?.slice(15)
            .trim() ?? 0,
        );
        if (buffer.length < end + 4 + length) return;
        const body = buffer.slice(end + 4, end + 4 + length);
        buffer = buffer.slice(end + 4 + length);
        const [method = '', target = ''] = line.split(' ');
        requests.push({ method, target, headers, body });
        if (holding) continue;
        const upgrade = headers.some((header) => /^upgrade:\s*websocket/i.test(header));
        if (upgrade && target.startsWith('/ws')) {
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
          );
          tunnel = true;
          if (buffer.length > 0) socket.write(Buffer.from(buffer, 'latin1'));
          buffer = '';
          return;
        }
        const answer = `ok ${target}`;
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`,
        );
      }
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    host,
    port: (server.address() as AddressInfo).port,
    bytes: () => all,
    requests,
    connections: () => sockets.size,
    hold(on) {
      holding = on;
    },
    reset() {
      all = '';
      requests.length = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** A raw client: writes `chunks` (with pauses between them), collects the answer until close or `quietMs`. */
export function rawClient(
  port: number,
  chunks: readonly (string | Buffer)[],
  options: { pauseMs?: number; quietMs?: number; host?: string; halfClose?: boolean } = {},
): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = performance.now();
  return new Promise((done) => {
    const socket = new Socket();
    let text = '';
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(quiet);
      socket.destroy();
      done({ text, closed, ms: performance.now() - started });
    };
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), options.quietMs ?? 1500);
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      arm();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.connect(port, options.host ?? '127.0.0.1', async () => {
      for (const [index, chunk] of chunks.entries()) {
        if (index > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        if (socket.destroyed) return;
        socket.write(chunk);
      }
      if (options.halfClose) socket.end();
      arm();
    });
  });
}
