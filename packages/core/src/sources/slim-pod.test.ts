import assert from 'node:assert/strict';
import { it } from 'node:test';
import { podFromObject } from '../pods/from-object.ts';
import { slimPod } from './slim-pod.ts';

it('keeps exactly what the router reads from a Pod', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
      creationTimestamp: new Date('2026-01-01T00:00:00Z'),
      labels: { routable: 'true' },
      annotations: { publicHosts: 'a.example.com', publicPaths: '80:/' },
      managedFields: [{ manager: 'kubectl', fieldsV1: { big: 'x'.repeat(10_000) } }],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'i',
          env: [{ name: 'SECRET', value: 's' }],
          ports: [{ containerPort: 80, name: 'http' }],
        },
      ],
      initContainers: [
        { name: 'sidecar', restartPolicy: 'Always', ports: [{ containerPort: 9000 }] },
      ],
      volumes: [{ name: 'v' }],
    },
    status: {
      phase: 'Running',
      podIP: '10.0.0.1',
      hostIP: '10.240.0.1',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 'now' }],
      containerStatuses: [{ name: 'app', ready: true }],
    },
  };
  const slim = slimPod(pod);
  assert.deepEqual(podFromObject(slim), podFromObject(pod));
  const text = JSON.stringify(slim);
  for (const dropped of ['managedFields', 'SECRET', 'volumes', 'containerStatuses', 'hostIP']) {
    assert.ok(!text.includes(dropped), dropped);
  }
  assert.ok(text.length < JSON.stringify(pod).length / 10);
  assert.equal(slim.metadata.resourceVersion, '7');
});
