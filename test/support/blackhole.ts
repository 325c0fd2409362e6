import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/**
 * A loopback address whose SYNs go unanswered, so a connect to it times out instead of
 * being refused. A listener with a backlog of one, in a thread whose event loop is blocked,
 * accepts nothing: two connections fill its accept queue and Linux then drops further SYNs.
 * (Node turns a backlog of 0 into 511, hence 1.)
 */
export interface Blackhole {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const LISTENER = `
const { workerData, parentPort } = require('node:worker_threads');
const server = require('node:net').createServer();
server.listen({ host: workerData.host, port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // After the port is posted, not before: nothing is accepted from here on.
  setImmediate(() => {
    while (Atomics.load(workerData.stop, 0) === 0) Atomics.wait(workerData.stop, 0, 0, 1000);
    server.close();
  });
});`;

export async function startBlackhole(host = '127.0.0.1'): Promise<Blackhole> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(LISTENER, { eval: true, workerData: { host, stop } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, host);
    socket.on('error', () => undefined);
    fillers.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
  }
  return {
    host,
    port,
    async close() {
      for (const socket of fillers) socket.destroy();
      Atomics.store(stop, 0, 1);
      Atomics.notify(stop, 0);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
