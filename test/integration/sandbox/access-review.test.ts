import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { KubernetesAccess } from '@/server/auth/kubernetes-access';
import { kubernetesReviewApi, ReviewError, type ReviewApi } from '@/server/auth/kubernetes-review';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

// TokenReview and SubjectAccessReview against the emulated API, as beamscope's mode kubernetes
// makes them (client-node, beamscope's own token), and byte for byte over HTTP: the status codes,
// bodies and RBAC decisions of a real API server, the review right granted by the very objects
// deploy/kubernetes/components/access-review renders.

const component = join(import.meta.dirname, '../../../deploy/kubernetes/components/access-review');

let api: EmulatedApi;
let review: ReviewApi;
let alice: { token: string; username: string };
let bob: { token: string; username: string };

async function call(path: string, token: string | undefined, init: RequestInit = {}) {
  const response = await fetch(api.url + path, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const control = async (method: string, path: string, body?: unknown) => {
  const answer = await call(`/_sandbox${path}`, api.token, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (answer.status >= 400) throw new Error(`${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
};

const tokenReview = (token: string) => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenReview',
  spec: { token },
});
const accessReview = (user: string, groups: string[], namespace: string) => ({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: {
    user,
    groups,
    resourceAttributes: { namespace, verb: 'get', group: '', resource: 'pods' },
  },
});

const podReader = (namespace: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: 'pod-reader', namespace },
  rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
});
const binding = (name: string, namespace: string, account: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
  subjects: [{ kind: 'ServiceAccount', name: account, namespace: 'default' }],
});

beforeAll(async () => {
  api = await startEmulatedApi({ readyDelayMs: 10 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'sandbox', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'beamscope', token: api.token }],
    contexts: [{ name: 'sandbox', cluster: 'sandbox', user: 'beamscope' }],
    currentContext: 'sandbox',
  });
  review = kubernetesReviewApi(kubeConfig, api.url);
  alice = (await control('POST', '/accounts', { name: 'alice' })) as typeof alice;
  bob = (await control('POST', '/accounts', { name: 'bob' })) as typeof bob;
});

afterAll(async () => {
  await api?.stop();
});

describe('without the access-review component', () => {
  it('refuses both reviews with the 403 a real API server sends, naming the missing right', async () => {
    const token = await call('/apis/authentication.k8s.io/v1/tokenreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(tokenReview(alice.token)),
    });
    expect(token.status).toBe(403);
    expect(token.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message:
        'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:default:beamscope" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
      details: { group: 'authentication.k8s.io', kind: 'tokenreviews' },
    });
    const access = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(accessReview(alice.username, [], 'default')),
    });
    expect(access.status).toBe(403);
    await expect(review.reviewToken(alice.token)).rejects.toThrow(
      /answered 403 to a TokenReview: .*cannot create resource "tokenreviews".*deploy\/kubernetes\/components\/access-review/,
    );
    // Without a token at all: 401, as for any other path.
    expect(
      (
        await call('/apis/authentication.k8s.io/v1/tokenreviews', undefined, {
          method: 'POST',
          body: '{}',
        })
      ).status,
    ).toBe(401);
  });
});

describe('with the ClusterRole and ClusterRoleBinding the component renders', () => {
  beforeAll(async () => {
    // The component's own files (test/integration/deploy renders it within the install).
    const files = await Promise.all(
      ['clusterrole.yaml', 'clusterrolebinding.yaml'].map(
        async (file) =>
          parseAllDocuments(await readFile(join(component, file), 'utf8'))[0]!.toJS() as Record<
            string,
            unknown
          >,
      ),
    );
    for (const object of files) {
      if (object.kind !== 'ClusterRole' && object.kind !== 'ClusterRoleBinding') continue;
      // The install's namespace, as kustomize would set it: here the sandbox's.
      const subjects = (object.subjects as Array<Record<string, unknown>> | undefined)?.map(
        (subject) => ({ ...subject, namespace: api.namespace }),
      );
      await control('POST', '/rbac', { ...object, ...(subjects ? { subjects } : {}) });
    }
  });

  it('answers a TokenReview 201 with the user, groups and audiences of a valid token', async () => {
    const answer = await call('/apis/authentication.k8s.io/v1/tokenreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(tokenReview(alice.token)),
    });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      status: {
        authenticated: true,
        user: {
          username: 'system:serviceaccount:default:alice',
          uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
          groups: [
            'system:serviceaccounts',
            'system:serviceaccounts:default',
            'system:authenticated',
          ],
        },
        audiences: ['https://kubernetes.default.svc.cluster.local'],
      },
    });
    expect(await review.reviewToken(alice.token)).toMatchObject({
      username: alice.username,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
    });
  });

  it('answers 201 with an error and no user for a token it does not know, 400 for none, 405 for a GET', async () => {
    const wrong = await call('/apis/authentication.k8s.io/v1/tokenreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(tokenReview('not-a-token-anyone-issued')),
    });
    expect(wrong.status).toBe(201);
    expect(wrong.body.status).toEqual({ user: {}, error: 'invalid bearer token' });
    expect(await review.reviewToken('not-a-token-anyone-issued')).toBeUndefined();
    const empty = await call('/apis/authentication.k8s.io/v1/tokenreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(tokenReview('')),
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({
      reason: 'BadRequest',
      message: 'token is required for TokenReview in authentication',
    });
    const get = await call('/apis/authentication.k8s.io/v1/tokenreviews', api.token);
    expect(get.status).toBe(405);
    expect(get.body.reason).toBe('MethodNotAllowed');
  });

  it("decides a SubjectAccessReview from the RoleBindings, with RBAC's reason, and flips when one is deleted", async () => {
    const user = {
      username: alice.username,
      groups: ['system:serviceaccounts', 'system:authenticated'],
    };
    expect(await review.mayAccess(user, 'get', 'pods', 'default')).toBe(false);
    const denied = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(accessReview(alice.username, [], 'default')),
    });
    expect(denied.status).toBe(201);
    expect(denied.body.status).toEqual({ allowed: false });

    await control('POST', '/rbac', podReader('default'));
    await control('POST', '/rbac', binding('alice-pods', 'default', 'alice'));
    const allowed = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(accessReview(alice.username, [], 'default')),
    });
    expect(allowed.status).toBe(201);
    expect(allowed.body.status).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "alice-pods/default" of Role "pod-reader" to ServiceAccount "alice/default"',
    });
    expect(await review.mayAccess(user, 'get', 'pods', 'default')).toBe(true);
    // A RoleBinding reaches its own namespace only; bob holds none.
    expect(await review.mayAccess(user, 'get', 'pods', 'staging')).toBe(false);
    expect(
      await review.mayAccess({ username: bob.username, groups: [] }, 'get', 'pods', 'default'),
    ).toBe(false);
    // Alice's own requests are decided by the same RBAC.
    expect((await call('/api/v1/namespaces/default/pods', alice.token)).status).toBe(200);
    expect((await call('/api/v1/namespaces/default/pods', bob.token)).status).toBe(403);

    await control('DELETE', '/rbac/rolebindings/default/alice-pods');
    expect(await review.mayAccess(user, 'get', 'pods', 'default')).toBe(false);
    expect((await call('/api/v1/namespaces/default/pods', alice.token)).status).toBe(403);
  });

  it('refuses a SubjectAccessReview that names no one or no attributes with 422 Invalid', async () => {
    const noOne = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(accessReview('', [], 'default')),
    });
    expect(noOne.status).toBe(422);
    expect(noOne.body).toMatchObject({
      reason: 'Invalid',
      message:
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
    });
    const nothing = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify({ ...accessReview('x', [], 'default'), spec: { user: 'x' } }),
    });
    expect(nothing.status).toBe(422);
    const wrongKind = await call('/apis/authorization.k8s.io/v1/subjectaccessreviews', api.token, {
      method: 'POST',
      body: JSON.stringify(tokenReview('x')),
    });
    expect(wrongKind.status).toBe(400);
  });

  it("mode kubernetes' cache: a revoked RoleBinding is refused once the cache time has passed", async () => {
    let now = 1_000_000;
    const access = new KubernetesAccess(
      new Map([
        ['sandbox', { api: review, namespace: 'default' }],
        ['staging', { api: review, namespace: 'staging' }],
      ]),
      60_000,
      () => now,
      () => undefined,
    );
    await control('POST', '/rbac', binding('alice-pods', 'default', 'alice'));
    const principal = access.principal(await access.identify(alice.token))!;
    expect(principal.subject).toBe('kubernetes:system:serviceaccount:default:alice');
    expect(await access.mayView(principal, 'sandbox')).toBe(true);
    expect(await access.mayView(principal, 'staging')).toBe(false);
    const bobs = access.principal(await access.identify(bob.token))!;
    expect(await access.mayView(bobs, 'sandbox')).toBe(false);

    await control('DELETE', '/rbac/rolebindings/default/alice-pods');
    // Within the cache time the last answer stands; past it, the API server is asked again.
    now += 59_000;
    expect(await access.mayView(principal, 'sandbox')).toBe(true);
    now += 1_000;
    expect(await access.mayView(principal, 'sandbox')).toBe(false);

    // A deleted service account's token stops authenticating once the token cache expires.
    expect((await access.identify(bob.token)).size).toBe(1);
    await control('DELETE', '/accounts/bob');
    expect((await access.identify(bob.token)).size).toBe(1);
    now += 60_000;
    expect((await access.identify(bob.token)).size).toBe(0);
    expect(await review.reviewToken(bob.token)).toBeUndefined();
  });
});

it('ReviewError names the API server and status, never a token', () => {
  const error = new ReviewError('the API server at https://x answered 403 to a TokenReview', 403);
  expect(error.status).toBe(403);
});
