import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { KubeApiError, type KubeConnection } from '@podrouter/core';
import { Agent } from 'undici';
import type { KubeObject } from '../alias/types.ts';
import { KubeAliasWriter, NotLeaderError, statusCode } from './writer.ts';

interface Seen {
  method: string;
  url: string;
  type: string | undefined;
  body: unknown;
}

/** An API server on loopback that records each request and answers the next scripted reply. */
const seen: Seen[] = [];
const replies: { status: number; body: unknown }[] = [];
const server = createServer(async (req, res) => {
  let text = '';
  for await (const chunk of req) text += chunk;
  seen.push({
    method: req.method ?? '',
    url: req.url ?? '',
    type: req.headers['content-type'],
    body: text ? JSON.parse(text) : undefined,
  });
  const reply = replies.shift() ?? { status: 200, body: {} };
  res.writeHead(reply.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(reply.body));
});
const agent = new Agent();
let connection: KubeConnection;
before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  connection = {
    server: `http://127.0.0.1:${port}`,
    authorize: async () => ({ headers: { authorization: 'Bearer t' }, dispatcher: agent }),
  };
});
after(async () => {
  server.close();
  await agent.close();
});

const service: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'my-app',
    namespace: 'team-a',
    labels: { 'app.kubernetes.io/managed-by': 'podrouter' },
  },
  spec: { ports: [{ name: 'http', port: 80 }] },
};
const slice: KubeObject = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'my-app-podrouter', namespace: 'team-a' },
};

test('creates, applies and deletes on the kind’s collection, as podrouter’s field manager', async () => {
  seen.length = 0;
  const writer = new KubeAliasWriter(connection, () => true);
  replies.push({ status: 201, body: { ...service, metadata: { ...service.metadata, uid: 'u1' } } });
  assert.equal((await writer.create(service)).metadata.uid, 'u1');
  replies.push({ status: 200, body: slice });
  await writer.apply(slice, 'u2');
  replies.push({ status: 200, body: {} });
  await writer.delete({
    apiVersion: 'v1',
    kind: 'Endpoints',
    namespace: 'team-a',
    name: 'my-app',
    uid: 'u3',
  });
  assert.deepEqual(
    seen.map(({ method, url, type }) => `${method} ${url} ${type}`),
    [
      'POST /api/v1/namespaces/team-a/services?fieldManager=podrouter-controller application/json',
      'PATCH /apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices/my-app-podrouter?fieldManager=podrouter-controller&force=true application/apply-patch+yaml',
      'DELETE /api/v1/namespaces/team-a/endpoints/my-app application/json',
    ],
  );
  assert.deepEqual(seen[0]?.body, service);
  assert.equal(
    (seen[1]?.body as KubeObject | undefined)?.metadata.uid,
    'u2',
    'the apply is conditioned on the uid',
  );
  assert.deepEqual((seen[2]?.body as { preconditions?: unknown } | undefined)?.preconditions, {
    uid: 'u3',
  });
});

test('failures are typed: a terminating namespace by its cause, a missing object on delete is done', async () => {
  const writer = new KubeAliasWriter(connection, () => true);
  replies.push({
    status: 403,
    body: {
      kind: 'Status',
      reason: 'Forbidden',
      message:
        'services "my-app" is forbidden: unable to create new content in namespace team-a because it is being terminated',
      details: { causes: [{ reason: 'NamespaceTerminating', field: 'metadata.namespace' }] },
      code: 403,
    },
  });
  const terminating = await writer.create(service).catch((error: unknown) => error);
  assert.ok(terminating instanceof KubeApiError);
  assert.equal(terminating.reason, 'NamespaceTerminating');
  assert.match(terminating.message, /create Service team-a\/my-app: HTTP 403 .*being terminated/);

  replies.push({ status: 409, body: { kind: 'Status', reason: 'AlreadyExists', code: 409 } });
  const taken = await writer.create(service).catch((error: unknown) => error);
  assert.equal(statusCode(taken), 409);
  assert.equal((taken as KubeApiError).reason, 'AlreadyExists');

  replies.push({ status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } });
  await writer.delete({
    apiVersion: 'v1',
    kind: 'Service',
    namespace: 'team-a',
    name: 'gone',
    uid: '',
  });
});

test('a replica that does not lead sends nothing', async () => {
  seen.length = 0;
  const writer = new KubeAliasWriter(connection, () => false);
  await assert.rejects(writer.create(service), NotLeaderError);
  await assert.rejects(writer.apply(service, 'u1'), NotLeaderError);
  await assert.rejects(
    writer.delete({ apiVersion: 'v1', kind: 'Service', namespace: 'team-a', name: 'x', uid: '' }),
    NotLeaderError,
  );
  assert.equal(seen.length, 0);
});
