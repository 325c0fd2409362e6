import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { otlpHeaders } from './otlp-exporters.ts';

describe('otlpHeaders', () => {
  it('reads key=value pairs, percent-decoded, the traces variable winning', () => {
    assert.deepEqual(
      otlpHeaders({
        OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc, x-tenant=a',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=b',
      }),
      { authorization: 'Bearer abc', 'x-tenant': 'b' },
    );
  });
  it('skips malformed pairs and names', () => {
    assert.deepEqual(
      otlpHeaders({ OTEL_EXPORTER_OTLP_HEADERS: 'novalue,=x,bad name=1,ok=%E0%A4%A,fine=1' }),
      { fine: '1' },
    );
    assert.deepEqual(otlpHeaders({}), {});
  });
});
