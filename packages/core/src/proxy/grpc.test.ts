import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import {
  acceptsTrailers,
  encodeGrpcMessage,
  exchangeDeadlineMs,
  grpcStatusFor,
  grpcTimeoutMs,
} from './grpc.ts';

const request = (headers: Record<string, string>, httpVersionMajor = 1) =>
  ({ headers, httpVersionMajor }) as unknown as IncomingMessage;

describe('grpcTimeoutMs', () => {
  const cases: Array<[string | undefined, number | undefined]> = [
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 2],
    ['1n', 1],
    ['99999999S', 99_999_999_000],
    // Malformed: ignored, as gRPC servers do.
    ['123456789S', undefined],
    ['10', undefined],
    ['10s', undefined],
    ['-1S', undefined],
    [' 1S', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [value, expected] of cases) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(grpcTimeoutMs(value), expected);
    });
  }
});

describe('exchangeDeadlineMs', () => {
  const grpc = (timeout: string) =>
    request({ 'content-type': 'application/grpc+proto', 'grpc-timeout': timeout });
  it("takes the caller's grpc-timeout when it is shorter, or when the router has none", () => {
    assert.equal(exchangeDeadlineMs(grpc('100m'), 30_000), 100);
    assert.equal(exchangeDeadlineMs(grpc('100m'), 0), 100);
    assert.equal(exchangeDeadlineMs(grpc('60S'), 30_000), 30_000);
  });
  it('ignores grpc-timeout on a request that is not gRPC', () => {
    assert.equal(exchangeDeadlineMs(request({ 'grpc-timeout': '100m' }), 30_000), 30_000);
  });
});

describe('grpcStatusFor', () => {
  it('maps the router answers the issue names, and the rest by the gRPC spec', () => {
    const table = [401, 403, 429, 413, 503, 502, 504, 408, 404, 400, 500, 308, 418].map(
      (status) => [status, grpcStatusFor(status)],
    );
    assert.deepEqual(table, [
      [401, 16],
      [403, 7],
      [429, 8],
      [413, 8],
      [503, 14],
      [502, 14],
      [504, 4],
      [408, 4],
      [404, 12],
      [400, 13],
      [500, 13],
      [308, 9],
      [418, 2],
    ]);
  });
});

describe('encodeGrpcMessage', () => {
  it('percent-encodes %, controls and non-ASCII as UTF-8 bytes', () => {
    assert.equal(encodeGrpcMessage('No route: 100% é\n'), 'No route: 100%25 %C3%A9%0A');
  });
});

describe('acceptsTrailers', () => {
  it('is true over HTTP/2 and for TE: trailers, false otherwise', () => {
    assert.equal(acceptsTrailers(request({}, 2)), true);
    assert.equal(acceptsTrailers(request({ te: 'gzip, Trailers' })), true);
    assert.equal(acceptsTrailers(request({ te: 'gzip' })), false);
    assert.equal(acceptsTrailers(request({})), false);
  });
});
