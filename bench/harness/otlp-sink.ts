/**
 * An OTLP/HTTP sink for the tracing benchmarks: takes the exporter's POSTs and answers 200
 * without decoding them, so the router pays the whole export cost (batching, encoding,
 * sending) and the sink as little as it can. Prints the number of exports on SIGTERM.
 *
 *   scripts/node.sh bench/harness/otlp-sink.ts PORT
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
let exports = 0;
createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  console.error(`otlp sink: ${exports} exports`);
  process.exit(0);
});
