import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { kubectl, writeKubeconfig } from './kubectl';

// The pods' Eviction subresource, as kube-apiserver answers it: discovery advertises it the way
// `kubectl drain` looks for it, RBAC asks `create` on pods/eviction, the body is checked, and an
// eviction stamps the DisruptionTarget condition and deletes the pod within its grace period.

const DRAINER = 'drain-operator';
const DRAINER_TOKEN = 'drainer-token';
const GRACE_MS = 1500;

/** An emulated API where DRAINER may evict pods (and the sandbox's own user only read them). */
async function startWithDrainer(tls: boolean): Promise<EmulatedApi> {
  const started = await startEmulatedApi({
    tls,
    readyDelayMs: 20,
    terminationGraceMs: GRACE_MS,
    tokens: {
      'beamscope-token': 'system:serviceaccount:default:beamscope',
      [DRAINER_TOKEN]: DRAINER,
    },
  });
  started.rbac.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'evictor', namespace: 'default' },
    rules: [{ apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] }],
  });
  started.rbac.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'evictor', namespace: 'default' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'evictor' },
    subjects: [{ kind: 'User', name: DRAINER }],
  });
  return started;
}

let api: EmulatedApi;
let dir: string;
beforeAll(async () => {
  api = await startWithDrainer(false);
  dir = await mkdtemp(join(tmpdir(), 'beamscope-eviction-'));
});
afterAll(async () => {
  await api?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function request(
  method: string,
  path: string,
  body?: unknown,
  token = DRAINER_TOKEN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const eviction = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'policy/v1',
  kind: 'Eviction',
  metadata: { name, namespace: 'default' },
  ...extra,
});

const evictionPath = (name: string, namespace = 'default') =>
  `/api/v1/namespaces/${namespace}/pods/${name}/eviction`;

interface PodJson {
  metadata: { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  status: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

const getPod = async (name: string) =>
  (await request('GET', `/api/v1/namespaces/default/pods/${name}`, undefined, 'beamscope-token'))
    .json as unknown as PodJson & { code?: number };

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the Eviction subresource of the emulated API', () => {
  it('is advertised in /api/v1 as kubectl drain looks for it', async () => {
    const { status, json } = await request('GET', '/api/v1');
    expect(status).toBe(200);
    const resources = json.resources as Array<Record<string, unknown>>;
    expect(resources.find((resource) => resource.name === 'pods/eviction')).toEqual({
      name: 'pods/eviction',
      singularName: '',
      namespaced: true,
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    });
  });

  it('refuses a caller whose Role does not grant create on pods/eviction', async () => {
    const pod = await api.control.createPod();
    const { status, json } = await request(
      'POST',
      evictionPath(pod.name),
      eviction(pod.name),
      'beamscope-token',
    );
    expect(status).toBe(403);
    expect(json).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      message: `pods "${pod.name}" is forbidden: User "system:serviceaccount:default:beamscope" cannot create resource "pods/eviction" in API group "" in the namespace "default"`,
      details: { name: pod.name, kind: 'pods' },
    });
    expect((await getPod(pod.name)).metadata.deletionTimestamp).toBeUndefined();
  });

  it('checks the body and the pod as kube-apiserver does', async () => {
    const pod = await api.control.createPod();
    const mismatch = await request('POST', evictionPath(pod.name), eviction('another-pod'));
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toMatchObject({
      reason: 'BadRequest',
      message: 'name in URL does not match name in Eviction object',
    });
    const wrongKind = await request('POST', evictionPath(pod.name), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name },
    });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.json.message).toBe(
      'the API version in the data (v1) does not match the expected API version (policy/v1)',
    );
    const noKind = await request('POST', evictionPath(pod.name), { metadata: { name: pod.name } });
    expect(noKind.status).toBe(400);
    expect(noKind.json.message).toMatch(/^Object 'Kind' is missing in/);
    const otherNamespace = await request(
      'POST',
      evictionPath(pod.name),
      eviction(pod.name, { metadata: { name: pod.name, namespace: 'kube-system' } }),
    );
    expect(otherNamespace.status).toBe(400);
    expect(otherNamespace.json.message).toBe(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
    const unknown = await request('POST', evictionPath('no-such-pod'), eviction('no-such-pod'));
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({
      reason: 'NotFound',
      message: 'pods "no-such-pod" not found',
      details: { name: 'no-such-pod', kind: 'pods' },
    });
    const read = await request('GET', evictionPath(pod.name));
    expect(read.status).toBe(405);
    expect(read.json.reason).toBe('MethodNotAllowed');
    const badDryRun = await request(
      'POST',
      `${evictionPath(pod.name)}?dryRun=Some`,
      eviction(pod.name),
    );
    expect(badDryRun.status).toBe(400);
    // A dry run checks everything and changes nothing.
    const dryRun = await request(
      'POST',
      `${evictionPath(pod.name)}?dryRun=All`,
      eviction(pod.name),
    );
    expect(dryRun.status).toBe(201);
    const untouched = await getPod(pod.name);
    expect(untouched.metadata.deletionTimestamp).toBeUndefined();
    expect(untouched.status.conditions?.some((c) => c.type === 'DisruptionTarget')).toBe(false);
  });

  it('evicts: DisruptionTarget stamped, then deleted within its grace period', async () => {
    const pod = await api.control.createPod();
    const { status, json } = await request('POST', evictionPath(pod.name), eviction(pod.name));
    expect(status).toBe(201);
    expect(json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 201,
    });
    const evicted = await getPod(pod.name);
    expect(evicted.metadata.deletionTimestamp).toEqual(expect.any(String));
    expect(evicted.metadata.deletionGracePeriodSeconds).toBe(Math.ceil(GRACE_MS / 1000));
    expect(evicted.status.conditions?.at(-1)).toMatchObject({
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'EvictionByEvictionAPI',
      message: 'Eviction API: evicting',
    });
    // Evicting a pod already terminating succeeds and keeps its deadline.
    const again = await request('POST', evictionPath(pod.name), eviction(pod.name));
    expect(again.status).toBe(201);
    expect((await getPod(pod.name)).metadata.deletionTimestamp).toBe(
      evicted.metadata.deletionTimestamp,
    );
    await waitFor(async () => (await getPod(pod.name)).code === 404, 'the evicted pod to go');
  });

  // kubectl (client-go) sends a bearer token only over TLS (kubernetes/kubectl#744).
  it('takes an eviction from the real kubectl', async () => {
    const secure = await startWithDrainer(true);
    try {
      await evictWithKubectl(secure);
    } finally {
      await secure.stop();
    }
  });
});

async function evictWithKubectl(secure: EmulatedApi) {
  const pod = await secure.control.createPod();
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, secure, DRAINER_TOKEN);
  const body = join(dir, 'eviction.json');
  await writeFile(body, JSON.stringify(eviction(pod.name)));
  const { stdout } = await kubectl(kubeconfig, join(dir, 'cache'), [
    'create',
    '--raw',
    evictionPath(pod.name),
    '-f',
    body,
  ]);
  expect(JSON.parse(stdout)).toMatchObject({ kind: 'Status', status: 'Success', code: 201 });
  const evicted = secure.control.pods().find((candidate) => candidate.name === pod.name);
  expect(evicted?.terminating).toBe(true);
}
