import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

// The self reviews every authenticated user may create, and RBAC verbs denied one by one, as a
// real API server answers them.

let api: EmulatedApi;
beforeAll(async () => {
  api = await startEmulatedApi({ readyDelayMs: 50, terminationGraceMs: 100 });
});
afterAll(async () => {
  await api?.stop();
});

function post(path: string, body: unknown, token = api.token) {
  return fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const accessReview = (verb: string, resource: string, group = '') =>
  post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb, resource, group, namespace: 'default' } },
  }).then(async (response) => {
    expect(response.status).toBe(201);
    return ((await response.json()) as { status: { allowed: boolean } }).status.allowed;
  });

describe('the emulated API', () => {
  it('says who the caller is (SelfSubjectReview)', async () => {
    const response = await post('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      status: {
        userInfo: {
          username: 'system:serviceaccount:default:beamscope',
          groups: [
            'system:serviceaccounts',
            'system:serviceaccounts:default',
            'system:authenticated',
          ],
        },
      },
    });
    const rejected = await post('/apis/authentication.k8s.io/v1/selfsubjectreviews', {}, 'bad');
    expect(rejected.status).toBe(401);
  });

  it('answers SelfSubjectAccessReviews by the Role, verb by verb', async () => {
    expect(await accessReview('watch', 'pods')).toBe(true);
    expect(await accessReview('delete', 'pods')).toBe(false);
    expect(await accessReview('list', 'endpointslices', 'discovery.k8s.io')).toBe(true);
    expect(await accessReview('list', 'secrets')).toBe(false);
    api.control.setForbidden('pods', true, ['watch']);
    try {
      expect(await accessReview('list', 'pods')).toBe(true);
      expect(await accessReview('watch', 'pods')).toBe(false);
      const list = await fetch(`${api.url}/api/v1/namespaces/default/pods`, {
        headers: { authorization: `Bearer ${api.token}` },
      });
      expect(list.status).toBe(200);
      const watch = await fetch(`${api.url}/api/v1/namespaces/default/pods?watch=true`, {
        headers: { authorization: `Bearer ${api.token}` },
      });
      expect(watch.status).toBe(403);
      expect(((await watch.json()) as { message: string }).message).toBe(
        'pods is forbidden: User "system:serviceaccount:default:beamscope" cannot watch resource "pods" in API group "" in the namespace "default"',
      );
    } finally {
      api.control.setForbidden('pods', false);
    }
  });

  it('keeps streaming a watch opened before its Role was revoked', async () => {
    const controller = new AbortController();
    const watch = await fetch(`${api.url}/api/v1/namespaces/default/pods?watch=true`, {
      headers: { authorization: `Bearer ${api.token}` },
      signal: controller.signal,
    });
    expect(watch.status).toBe(200);
    const reader = watch.body!.getReader();
    api.control.setForbidden('pods', true);
    try {
      const pod = await api.control.createPod();
      let text = '';
      while (!text.includes(pod.name)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(text).toContain(`"name":"${pod.name}"`);
    } finally {
      controller.abort();
      api.control.setForbidden('pods', false);
    }
  });
});
