import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Problems, sendProblem } from './problem.ts';

describe('sendProblem on node:http', () => {
  it("writes the problem's own reason phrase after a writeHead that threw", async () => {
    const server = createServer((_req, res) => {
      // node:http takes the status and its reason before it checks the fields.
      assert.throws(() => res.writeHead(401, { 'x-c': undefined as unknown as string }));
      sendProblem(res, Problems.internalError);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const req = request({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      res.resume();
      assert.equal(res.statusCode, 500);
      assert.equal(res.statusMessage, 'Internal Server Error');
    } finally {
      server.close();
    }
  });
});
