import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Pem, TestCa } from '../../../../test/support/certs.ts';
import type { SecretInfo } from '../pods/types.ts';
import { covers, loadCertificate, validityProblem } from './certificate.ts';

const ca = new TestCa();
after(() => ca.close());
const DAY = 86_400_000;

const secretOf = (pem: Pem, extra: Partial<SecretInfo> = {}): SecretInfo => ({
  namespace: 'shop',
  name: 'web-tls',
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from(pem.cert), 'tls.key': Buffer.from(pem.key) },
  ...extra,
});

const reasonOf = (secret: SecretInfo) => {
  const result = loadCertificate(secret);
  return 'reason' in result ? result.reason : undefined;
};

describe('loadCertificate', () => {
  const good = ca.issue({ names: ['shop.example.com', '*.api.example.com', 'IP:10.0.0.7'] });

  it('loads a pair and reads its names; hosts are covered as RFC 6125 says', () => {
    const loaded = loadCertificate(secretOf(good));
    assert.ok(!('reason' in loaded));
    assert.deepEqual(loaded.names, ['shop.example.com', '*.api.example.com', '10.0.0.7']);
    assert.equal(loaded.secret, 'shop/web-tls');
    assert.equal(covers(loaded, 'shop.example.com'), true);
    assert.equal(covers(loaded, 'v1.api.example.com'), true);
    // A wildcard covers one label, not the parent nor two labels.
    assert.equal(covers(loaded, 'api.example.com'), false);
    assert.equal(covers(loaded, 'a.b.api.example.com'), false);
    assert.equal(covers(loaded, '10.0.0.7'), true);
    assert.equal(covers(loaded, '10.0.0.8'), false);
    assert.equal(validityProblem(loaded, Date.now()), undefined);
  });

  it('accepts the chain after the leaf, and refuses a chain out of order', () => {
    const chained = secretOf({ cert: good.cert + ca.cert, key: good.key });
    assert.equal(reasonOf(chained), undefined);
    const reversed = secretOf({ cert: ca.cert + good.cert, key: good.key });
    assert.match(reasonOf(reversed) ?? '', /does not belong to the first certificate/);
  });

  it('uses the CN only when there is no subjectAltName', () => {
    const loaded = loadCertificate(
      secretOf(ca.issue({ names: [], cn: 'legacy.example.com', noSan: true })),
    );
    assert.ok(!('reason' in loaded));
    assert.deepEqual(loaded.names, ['legacy.example.com']);
  });

  it('says why a Secret cannot serve, without its bytes', () => {
    const other = ca.issue({ names: ['other.example.com'] });
    const cases: [SecretInfo, RegExp][] = [
      [secretOf(good, { type: 'Opaque' }), /is of type Opaque, not kubernetes.io\/tls/],
      [secretOf(good, { data: { 'tls.key': Buffer.from(good.key) } }), /has no tls.crt/],
      [secretOf(good, { data: { 'tls.crt': Buffer.from(good.cert) } }), /has no tls.key/],
      [secretOf({ cert: 'hello', key: good.key }), /holds no PEM certificate/],
      [
        secretOf({
          cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
          key: good.key,
        }),
        /certificate 1 of tls.crt is not a valid X.509 certificate/,
      ],
      [secretOf({ cert: good.cert, key: 'not a key' }), /tls.key is not a PEM private key/],
      [secretOf({ cert: good.cert, key: other.key }), /does not belong to the first certificate/],
      [
        secretOf(ca.issue({ names: ['a.example.com'], keyType: 'rsa1024' })),
        /RSA key has 1024 bits/,
      ],
      [
        secretOf(ca.issue({ names: ['a.example.com'], keyType: 'ec-p224' })),
        /EC curve secp224r1 is not accepted/,
      ],
    ];
    for (const [secret, reason] of cases) {
      const text = reasonOf(secret) ?? '';
      assert.match(text, reason);
      assert.match(text, /^Secret shop\/web-tls: /);
      assert.ok(!text.includes('BEGIN'), text);
    }
  });

  it('refuses an expired and a not-yet-valid certificate at the time given', () => {
    const now = Date.now();
    const expired = loadCertificate(
      secretOf(
        ca.issue({
          names: ['a.example.com'],
          notBefore: new Date(now - 3 * DAY),
          notAfter: new Date(now - DAY),
        }),
      ),
    );
    assert.ok(!('reason' in expired));
    assert.match(validityProblem(expired, now) ?? '', /expired on /);
    assert.equal(validityProblem(expired, now - 2 * DAY), undefined);
    const future = loadCertificate(
      secretOf(
        ca.issue({
          names: ['a.example.com'],
          notBefore: new Date(now + DAY),
          notAfter: new Date(now + 3 * DAY),
        }),
      ),
    );
    assert.ok(!('reason' in future));
    assert.match(validityProblem(future, now) ?? '', /not valid before /);
  });
});
