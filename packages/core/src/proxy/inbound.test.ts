import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { type InboundOptions, inspectInbound, isProblem } from './inbound.ts';

const OPTIONS: InboundOptions = {
  methods: { any: true, listed: new Set() },
  mergeSlashes: false,
  escapedSlashes: 'reject',
};

function request(target: string, headers: [string, string][], method = 'GET', version = '1.1') {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = target;
  req.httpVersion = version;
  req.rawHeaders = headers.flat();
  for (const [name, value] of headers) req.headers[name.toLowerCase()] ??= value;
  return req;
}

const statusOf = (req: IncomingMessage, options = OPTIONS) => {
  const result = inspectInbound(req, options);
  return isProblem(result) ? result.status : 0;
};

describe('inspectInbound', () => {
  it('needs exactly one valid Host (RFC 9112 §3.2)', () => {
    assert.equal(statusOf(request('/', [['Host', 'a.example']])), 0);
    assert.equal(statusOf(request('/', [['Host', 'a.example:8080']])), 0);
    assert.equal(statusOf(request('/', [['Host', '[::1]:80']])), 0);
    assert.equal(statusOf(request('/', [])), 400);
    assert.equal(statusOf(request('/', [], 'GET', '1.0')), 0);
    for (const host of ['a:80@evil.com', 'a/b', 'a b', '', 'a:8o', 'a?x']) {
      assert.equal(statusOf(request('/', [['Host', host]])), 400, host);
    }
    assert.equal(
      statusOf(
        request('/', [
          ['Host', 'a'],
          ['host', 'a'],
        ]),
      ),
      400,
    );
  });

  it('routes an absolute-form target by its authority and rewrites it to origin form', () => {
    const req = request('http://b.example/x/../y?q=1', [['Host', 'a.example']]);
    assert.deepEqual(inspectInbound(req, OPTIONS), { host: 'b.example', path: '/y' });
    assert.equal(req.url, '/y?q=1');
    assert.deepEqual(req.rawHeaders, ['Host', 'b.example']);
    assert.equal(statusOf(request('http://user@b.example/', [['Host', 'a']])), 400);
    assert.equal(statusOf(request('ftp://b.example/', [['Host', 'a']])), 400);
    // Two Host lines are refused even when the target would replace them.
    assert.equal(
      statusOf(
        request('http://b.example/', [
          ['Host', 'a'],
          ['Host', 'c'],
        ]),
      ),
      400,
    );
  });

  it('serves every method but TRACE by default; a list restricts and may allow TRACE', () => {
    assert.equal(statusOf(request('/', [['Host', 'a']], 'TRACE')), 405);
    assert.equal(statusOf(request('/', [['Host', 'a']], 'PROPFIND')), 0);
    const listed = { ...OPTIONS, methods: { any: false, listed: new Set(['GET', 'TRACE']) } };
    assert.equal(statusOf(request('/', [['Host', 'a']], 'TRACE'), listed), 0);
    assert.equal(statusOf(request('/', [['Host', 'a']], 'POST'), listed), 405);
    const answer = inspectInbound(request('/', [['Host', 'a']], 'POST'), listed);
    assert.ok(isProblem(answer));
    assert.equal(answer.headers?.allow, 'GET, TRACE');
  });

  it('normalises the path and keeps the query as sent', () => {
    const req = request('/a/%2e%2E/b/./c?x=/../%2e', [['Host', 'a']]);
    assert.deepEqual(inspectInbound(req, OPTIONS), { host: 'a', path: '/b/c' });
    assert.equal(req.url, '/b/c?x=/../%2e');
    assert.equal(statusOf(request('/../x', [['Host', 'a']])), 400);
  });
});
