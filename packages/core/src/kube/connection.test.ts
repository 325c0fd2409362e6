import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inClusterConnection, readKubeconfig } from './connection.ts';

const dir = mkdtempSync(join(tmpdir(), 'podrouter-kubeconfig-'));

function kubeconfig(name: string, user: string, cluster = 'server: https://10.0.0.1:6443'): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: ctx
contexts:
  - name: other
    context: { cluster: nowhere, user: nobody }
  - name: ctx
    context: { cluster: c, user: u }
clusters:
  - name: c
    cluster:
      ${cluster}
users:
  - name: u
    user:
${user}
`,
  );
  return path;
}

describe('readKubeconfig', () => {
  it('reads the current context: server and a bearer token', async () => {
    const connection = readKubeconfig(kubeconfig('token.yaml', '      token: abc'));
    assert.equal(connection?.server, 'https://10.0.0.1:6443');
    assert.deepEqual((await connection?.authorize())?.headers, { authorization: 'Bearer abc' });
  });

  it('reads a token file relative to the kubeconfig, and re-reads it when it changes', async () => {
    writeFileSync(join(dir, 'sa-token'), 'first\n');
    const connection = readKubeconfig(kubeconfig('file.yaml', '      tokenFile: sa-token'));
    assert.deepEqual((await connection?.authorize())?.headers, { authorization: 'Bearer first' });
  });

  it('leaves plugins and proxies to client-node (undefined)', () => {
    assert.equal(
      readKubeconfig(kubeconfig('exec.yaml', '      exec: { command: aws, apiVersion: x }')),
      undefined,
    );
    assert.equal(
      readKubeconfig(
        kubeconfig('proxy.yaml', '      token: a', 'server: https://a\n      proxy-url: http://p'),
      ),
      undefined,
    );
  });

  it('names what is missing', () => {
    const path = join(dir, 'empty.yaml');
    writeFileSync(path, 'apiVersion: v1\nkind: Config\n');
    assert.throws(() => readKubeconfig(path), /has no current-context/);
    assert.throws(
      () =>
        readKubeconfig(
          kubeconfig('noserver.yaml', '      token: a', 'insecure-skip-tls-verify: true'),
        ),
      /has no server/,
    );
  });
});

describe('inClusterConnection', () => {
  it('reads the ServiceAccount token and CA, and needs the service environment', async () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    writeFileSync(join(dir, 'ca.crt'), 'not checked until a request');
    const paths = { token: join(dir, 'token'), ca: join(dir, 'ca.crt') };
    const connection = inClusterConnection({ ...paths, host: 'fd00::1', port: '443' });
    assert.equal(connection.server, 'https://[fd00::1]:443');
    assert.deepEqual((await connection.authorize()).headers, {
      authorization: 'Bearer sa-token',
    });
    assert.throws(
      () => inClusterConnection({ ...paths, host: undefined, port: undefined }),
      /KUBERNETES_SERVICE_HOST/,
    );
  });
});
