import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { RawRequest } from './raw-request.ts';
import { RawResponse } from './raw-response.ts';

/** A response on a socket that keeps what is written, for a GET on a keep-alive HTTP/1.1 connection. */
function response(): { res: RawResponse; written: () => string } {
  let text = '';
  const socket = {
    write(data: string | Buffer, ...rest: unknown[]) {
      text += typeof data === 'string' ? data : data.toString('latin1');
      const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    },
    cork() {},
    uncork() {},
  } as unknown as Socket;
  const req = { method: 'GET', keepAlive: true, httpVersionMinor: 1 } as RawRequest;
  const res = new RawResponse(req, socket, { responseEnded() {} });
  return { res, written: () => text };
}

const FIELDS = [
  'Server',
  'nginx',
  'Date',
  'Thu, 03 Dec 2026 09:21:53 GMT',
  'Content-Length',
  '2',
  'Connection',
  'keep-alive',
  'X-Obs',
  'caf\xe9\tok',
];

describe('RawResponse.writeCheckedHead', () => {
  it('writes the head writeHead writes for the same fields', () => {
    const checked = response();
    checked.res.writeCheckedHead(200, 'OK', FIELDS);
    checked.res.end('hi');
    const plain = response();
    plain.res.writeHead(200, 'OK', [...FIELDS]);
    plain.res.end('hi');
    assert.equal(checked.written(), plain.written());
    assert.match(checked.written(), /^HTTP\/1\.1 200 OK\r\nServer: nginx\r\n/);
    assert.equal(checked.res.statusCode, 200);
  });

  it('falls back to the checks when setHeader gave fields nobody checked', () => {
    const { res } = response();
    res.setHeader('x-bad', 'a\r\nb');
    assert.throws(() => res.writeCheckedHead(200, 'OK', FIELDS), { code: 'ERR_INVALID_CHAR' });
    assert.equal(res.headersSent, false);
  });

  it('leaves the public writeHead checking every field', () => {
    const { res } = response();
    assert.throws(() => res.writeHead(200, ['X-A', 'ok', 'X-B', 'a\nb']), {
      code: 'ERR_INVALID_CHAR',
    });
    assert.throws(() => res.writeHead(200, ['Bad Name', 'ok']), {
      code: 'ERR_INVALID_HTTP_TOKEN',
    });
    assert.equal(res.headersSent, false);
  });
});
