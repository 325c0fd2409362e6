// The default backend of a fake-kubelet Pod: answers every request with JSON describing it
// and the Pod that served it. Listens on $POD_IP:$PORT.
import { createServer } from 'node:http';

const host = process.env.POD_IP ?? '127.0.0.1';
const port = Number(process.env.PORT ?? '8080');
const pod = process.env.POD_NAME ?? '';
const namespace = process.env.POD_NAMESPACE ?? '';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = JSON.stringify({
      pod,
      namespace,
      podIp: host,
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
});
server.listen(port, host);
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
