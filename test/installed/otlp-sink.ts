// An OTLP/HTTP trace receiver for the installed routers: it runs inside the cluster's network
// namespace on an address the real node's Pods reach (argv: HOST PORT), decodes what the
// routers' exporters POST to /v1/traces (the receiver of test/support/) and prints each span
// as a JSON line, after a first {"listening":true} line.
import { createServer } from 'node:http';
import { decodeTraces } from '../support/otlp-receiver.ts';

const [host = '10.240.0.1', port = '4318'] = process.argv.slice(2);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    try {
      for (const span of decodeTraces(Buffer.concat(chunks))) {
        process.stdout.write(`${JSON.stringify(span)}\n`);
      }
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
server.listen(Number(port), host, () => process.stdout.write('{"listening":true}\n'));
process.stdin.on('end', () => server.close(() => process.exit(0))).resume();
