/**
 * A reference point: http-proxy-3 (the maintained successor of node-http-proxy) in front of
 * the upstream with a keep-alive agent, nothing else.
 *
 *   scripts/node.sh bench/proxy/http-proxy-3.ts PORT http://UPSTREAM:PORT
 */
import { Agent, createServer } from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const [port = '0', upstream = ''] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const proxy = createProxyServer({ target: upstream, agent, xfwd: true });
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
createServer((req, res) => proxy.web(req, res)).listen(Number(port), '127.0.0.1');
