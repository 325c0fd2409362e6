/**
 * The bench's upstream, in a process of its own: a grpc-js server (unary `Echo`, the bytes
 * back) and a node:http2 h2c server (`ok` to every request). Prints its two ports as JSON.
 */
import { createServer } from 'node:http2';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { BENCH_SERVICE } from './service.ts';

const host = process.argv[2] ?? '127.0.0.3';
const grpc = new Server();
grpc.addService(BENCH_SERVICE, {
  Echo(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
    callback(null, call.request);
  },
});
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpc.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (error, port) =>
    error ? reject(error) : resolve(port),
  ),
);
const h2 = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
h2.listen(0, host, () => {
  const address = h2.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ grpcPort, h2Port: address.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
