/**
 * The ceiling for a Node proxy: no HTTP at all. Each client connection gets its own upstream
 * connection and the bytes are piped both ways (what an L4 proxy does).
 *
 *   scripts/node.sh bench/proxy/byte-pipe.ts PORT UPSTREAM_HOST UPSTREAM_PORT
 */
import { connect, createServer } from 'node:net';

const [port = '0', host = '127.0.0.1', upstreamPort = '80'] = process.argv.slice(2);
createServer((client) => {
  const upstream = connect(Number(upstreamPort), host);
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
}).listen(Number(port), '127.0.0.1');
