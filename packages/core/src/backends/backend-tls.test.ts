import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecretInfo } from '../pods/types.ts';
import {
  type BackendTlsContext,
  isTlsFailure,
  serviceTls,
  tlsConnectOptions,
} from './backend-tls.ts';
import { PARSEABLE_CA as CA } from './testing/ca.ts';
import type { ServiceInfo } from './types.ts';

const service = (overrides: Partial<ServiceInfo> = {}): ServiceInfo => ({
  namespace: 'ext',
  name: 'vault',
  uid: 'u',
  createdAt: 0,
  labels: {},
  annotations: {},
  type: 'ClusterIP',
  externalName: '',
  ports: [
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'https', port: 443, protocol: 'TCP' },
  ],
  terminating: false,
  ...overrides,
});

const context = (
  secrets: SecretInfo[] = [],
  errors = new Map<string, string>(),
): BackendTlsContext => ({
  annotations: { tls: 'publicBackendTls', serverName: 'publicBackendServerName' },
  secret: (key) => secrets.find((s) => `${s.namespace}/${s.name}` === key),
  secretErrors: errors,
});

describe('serviceTls', () => {
  it('is off without the annotation, a port named https, or a context', () => {
    const plain = service({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    assert.equal(serviceTls(plain, context()).ports.size, 0);
    assert.equal(serviceTls(service(), undefined).ports.size, 0);
  });

  it('speaks TLS with the system roots to https ports, and to every port with the annotation', () => {
    const named = serviceTls(service(), context());
    assert.deepEqual([...named.ports.keys()], [443]);
    assert.equal(named.ports.get(443)?.ca, undefined);
    const app = serviceTls(
      service({ ports: [{ name: 'web', port: 8443, protocol: 'TCP', appProtocol: 'https' }] }),
      context(),
    );
    assert.deepEqual([...app.ports.keys()], [8443]);
    const all = serviceTls(service({ annotations: { publicBackendTls: 'system' } }), context());
    assert.deepEqual([...all.ports.keys()], [80, 443]);
  });

  it('takes the ExternalName as the server name unless the annotation names one', () => {
    const external = service({ type: 'ExternalName', externalName: 'API.Example.com.' });
    assert.equal(serviceTls(external, context()).ports.get(443)?.serverName, 'api.example.com');
    const named = service({ annotations: { publicBackendServerName: 'vault.internal' } });
    assert.equal(serviceTls(named, context()).ports.get(443)?.serverName, 'vault.internal');
    assert.equal(serviceTls(service(), context()).ports.get(443)?.serverName, '');
  });

  it('reads the CA of a Secret in the Service namespace; its digest is part of the identity', () => {
    const secret = { namespace: 'ext', name: 'ca', data: { 'ca.crt': Buffer.from(CA) } };
    const tls = serviceTls(service({ annotations: { publicBackendTls: 'ca' } }), context([secret]));
    const port = tls.ports.get(443);
    assert.equal(port?.caSource, 'Secret ext/ca');
    assert.match(port?.ca ?? '', /BEGIN CERTIFICATE/);
    const system = serviceTls(service(), context()).ports.get(443);
    assert.notEqual(port?.id, system?.id);
  });

  it('parses a bundle once per Secret version, and reads a changed one again', () => {
    const annotated = service({ annotations: { publicBackendTls: 'ca' } });
    const tlsOf = (bytes: Buffer, name = 'ca') =>
      serviceTls(
        name === 'ca' ? annotated : service({ annotations: { publicBackendTls: name } }),
        context([{ namespace: 'ext', name, data: { 'ca.crt': bytes } }]),
      );
    const bytes = Buffer.from(CA);
    const first = tlsOf(bytes).ports.get(443);
    assert.match(first?.ca ?? '', /BEGIN CERTIFICATE/);
    // The same version (a source keeps an unchanged Secret's decoded object) is not parsed
    // again: even bytes overwritten in place are not looked at.
    bytes.write('junk', 0, 'latin1');
    assert.equal(tlsOf(bytes).ports.get(443)?.id, first?.id);
    // A new version is: another bundle, another identity; a broken one disables the ports.
    const two = tlsOf(Buffer.from(`${CA}\n${CA}`)).ports.get(443);
    assert.equal(two?.ca?.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.notEqual(two?.id, first?.id);
    const broken = Buffer.from(`${CA}\n${CA.replace(/\n[A-Za-z0-9+/]{12}/, '\n############')}`);
    const refused = tlsOf(broken);
    assert.equal(refused.ports.size, 0);
    assert.match(refused.problems[0]?.reason ?? '', /certificate 2 in ca\.crt of ext\/ca /);
    // A parse remembered for its bytes still names the Secret it is read for.
    assert.match(tlsOf(broken, 'ca2').problems[0]?.reason ?? '', /of ext\/ca2 /);
  });

  it('disables the TLS ports with a reason for every unusable CA, never plaintext', () => {
    const annotated = service({ annotations: { publicBackendTls: 'ca' } });
    const cases: [BackendTlsContext, RegExp][] = [
      [context(), /CA Secret ext\/ca does not exist/],
      [context([], new Map([['ext/ca', 'forbidden']])), /cannot be read: forbidden/],
      [context([{ namespace: 'ext', name: 'ca', data: {} }]), /has no ca\.crt/],
      [
        context([{ namespace: 'ext', name: 'ca', data: { 'ca.crt': Buffer.from('junk') } }]),
        /holds no PEM certificate/,
      ],
      [
        context([{ namespace: 'other', name: 'ca', data: { 'ca.crt': Buffer.from(CA) } }]),
        /does not exist/,
      ],
    ];
    for (const [ctx, reason] of cases) {
      const tls = serviceTls(annotated, ctx);
      assert.equal(tls.ports.size, 0);
      assert.deepEqual([...tls.disabled], [80, 443]);
      assert.match(tls.problems[0]?.reason ?? '', reason);
      assert.equal(tls.problems[0]?.annotation, 'publicBackendTls');
    }
    const otherNamespace = serviceTls(
      service({ annotations: { publicBackendTls: 'other/ca' } }),
      context(),
    );
    assert.match(otherNamespace.problems[0]?.reason ?? '', /own namespace/);
    const badName = serviceTls(
      service({ annotations: { publicBackendServerName: 'not a name' } }),
      context(),
    );
    assert.deepEqual([...badName.disabled], [443]);
  });
});

describe('tlsConnectOptions', () => {
  it('sends a DNS name as SNI, never an IP, and always verifies', () => {
    const tls = { serverName: 'api.example.com', ca: CA, caSource: '', id: '' };
    const named = tlsConnectOptions(tls, '10.0.0.1', 443);
    assert.equal(named.servername, 'api.example.com');
    assert.equal(named.rejectUnauthorized, true);
    assert.equal(named.ca, CA);
    const ip = tlsConnectOptions({ ...tls, serverName: '' }, '10.0.0.1', 443);
    assert.equal(ip.servername, undefined);
    assert.equal(ip.rejectUnauthorized, true);
  });

  it('knows the TLS failure codes', () => {
    for (const code of [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'EPROTO',
    ])
      assert.equal(isTlsFailure(code), true);
    assert.equal(isTlsFailure('ECONNRESET'), false);
  });
});
