import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

type WatchEvent = { type: string; object: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A watch stream read line by line, with bounded waits for the events a test expects. */
class WatchStream {
  readonly events: WatchEvent[] = [];
  ended = false;
  error: unknown;
  private readonly controller = new AbortController();
  status = 0;
  headers?: Headers;

  constructor(url: string, token: string) {
    void this.read(url, token);
  }

  private async read(url: string, token: string): Promise<void> {
    try {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: this.controller.signal,
      });
      this.status = response.status;
      this.headers = response.headers;
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          this.events.push(JSON.parse(buffer.slice(0, newline)) as WatchEvent);
          buffer = buffer.slice(newline + 1);
        }
      }
      this.ended = true;
    } catch (error) {
      this.error = error;
    }
  }

  async until(
    predicate: (events: WatchEvent[]) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<WatchEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.type))}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.events;
  }

  close(): void {
    this.controller.abort();
  }
}

async function waitFor(probe: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const PODS = '/api/v1/namespaces/default/pods';

describe('the emulated Kubernetes API over HTTP', () => {
  let api: EmulatedApi;
  const streams: WatchStream[] = [];
  const get = (path: string, init: RequestInit & { token?: string | null } = {}) =>
    fetch(api.url + path, {
      ...init,
      headers:
        init.token === null
          ? {}
          : { authorization: `Bearer ${init.token ?? api.token}`, ...(init.headers ?? {}) },
    });
  const json = async (path: string) => (await get(path)).json() as Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const watch = (path: string) => {
    const stream = new WatchStream(api.url + path, api.token);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    api = await startEmulatedApi({
      readyDelayMs: 50,
      terminationGraceMs: 200,
      bookmarkIntervalMs: 40,
    });
    await api.control.scale(2);
    await waitFor(() => api.control.pods().every((pod) => pod.ready), 'pods ready');
  });
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
    api.control.setTokenRejected(false);
    for (const resource of ['endpointslices', 'endpoints', 'pods', 'events'] as const)
      api.control.setForbidden(resource, false);
  });
  afterAll(async () => {
    await api.stop();
  });

  it('serves version and discovery, with verbs and short names', async () => {
    expect((await json('/version')).gitVersion).toMatch(/^v1\.33\./);
    expect((await json('/api')).versions).toEqual(['v1']);
    expect((await json('/apis')).groups.map((group: { name: string }) => group.name)).toEqual([
      'authentication.k8s.io',
      'authorization.k8s.io',
      'discovery.k8s.io',
    ]);
    expect((await json('/apis/authorization.k8s.io')).preferredVersion.groupVersion).toBe(
      'authorization.k8s.io/v1',
    );
    // Reviews are answered, never stored: cluster-scoped, with `create` alone.
    expect((await json('/apis/authentication.k8s.io/v1')).resources).toContainEqual({
      name: 'tokenreviews',
      singularName: 'tokenreview',
      namespaced: false,
      kind: 'TokenReview',
      verbs: ['create'],
    });
    expect(
      (await json('/apis/authorization.k8s.io/v1')).resources.map(
        (resource: { name: string }) => resource.name,
      ),
    ).toEqual(['selfsubjectaccessreviews', 'subjectaccessreviews']);
    expect((await get('/apis/apps.example.com')).status).toBe(404);
    const core = await json('/api/v1');
    expect(
      core.resources.find((resource: { name: string }) => resource.name === 'pods'),
    ).toMatchObject({
      kind: 'Pod',
      namespaced: true,
      shortNames: ['po'],
      verbs: expect.arrayContaining(['get', 'list', 'watch']),
    });
    const discovery = await json('/apis/discovery.k8s.io/v1');
    expect(discovery.resources.map((resource: { name: string }) => resource.name)).toEqual([
      'endpointslices',
    ]);
  });

  it('lists with kind, apiVersion and resourceVersion, items without kind, filtered by selectors', async () => {
    const list = await json(
      `${SLICES}?labelSelector=${encodeURIComponent('kubernetes.io/service-name=myapp')}`,
    );
    expect(list).toMatchObject({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1' });
    expect(list.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(list.items).toHaveLength(1);
    expect(list.items[0].kind).toBeUndefined();
    expect(list.items[0].metadata).toMatchObject({
      uid: expect.any(String),
      generation: expect.any(Number),
    });
    expect(list.items[0].metadata.managedFields[0].manager).toBe('kube-controller-manager');
    expect((await json(`${SLICES}?labelSelector=app%20notin%20(myapp)`)).items).toHaveLength(0);

    const [pod] = api.control.pods();
    const byName = await json(`${PODS}?fieldSelector=metadata.name%3D${pod!.name}`);
    expect(byName.items.map((item: { metadata: { name: string } }) => item.metadata.name)).toEqual([
      pod!.name,
    ]);
    const single = await json(`${PODS}/${pod!.name}`);
    expect(single).toMatchObject({
      kind: 'Pod',
      apiVersion: 'v1',
      status: { podIP: pod!.ip, phase: 'Running' },
    });

    const bad = await get(`${PODS}?labelSelector=app%20in%20myapp`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    const missing = await get(`${PODS}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      reason: 'NotFound',
      message: 'pods "nope" not found',
    });
  });

  it('watches ADDED/MODIFIED/DELETED, turning selector transitions into ADDED and DELETED', async () => {
    const { resourceVersion } = (await json(PODS)).metadata;
    const all = watch(`${PODS}?watch=true&resourceVersion=${resourceVersion}`);
    // Pending pods match phase!=Running; once Running they leave this watch's selection.
    const pending = watch(
      `${PODS}?watch=1&resourceVersion=${resourceVersion}&fieldSelector=status.phase!%3DRunning`,
    );
    const pod = await api.control.createPod();

    await all.until(
      (events) =>
        events.some(
          (event) => event.type === 'MODIFIED' && event.object.status?.phase === 'Running',
        ),
      'running',
    );
    expect(all.events[0]).toMatchObject({
      type: 'ADDED',
      object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: pod.name } },
    });
    await pending.until(
      (events) => events.some((event) => event.type === 'DELETED'),
      'DELETED on leaving the selection',
    );
    const types = pending.events.map((event) => event.type);
    expect(types[0]).toBe('ADDED');
    expect(types.at(-1)).toBe('DELETED');
    expect(types.slice(1, -1).every((type) => type === 'MODIFIED')).toBe(true);
    const deleted = pending.events.at(-1)!.object;
    expect(deleted.status.phase).toBe('Pending'); // the last state that matched…
    const running = all.events.find((event) => event.object.status?.phase === 'Running')!;
    expect(deleted.metadata.resourceVersion).toBe(running.object.metadata.resourceVersion); // …at the new version

    api.control.deletePod(pod.name);
    await all.until((events) => events.some((event) => event.type === 'DELETED'), 'pod deleted');
    const order = all.events.map((event) => Number(event.object.metadata.resourceVersion));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('sends BOOKMARK events only to watches that allow them, with just the resourceVersion', async () => {
    const { resourceVersion } = (await json(SLICES)).metadata;
    const plain = watch(`${SLICES}?watch=true&resourceVersion=${resourceVersion}`);
    const bookmarked = watch(
      `${SLICES}?watch=true&resourceVersion=${resourceVersion}&allowWatchBookmarks=true`,
    );
    const events = await bookmarked.until(
      (seen) => seen.filter((event) => event.type === 'BOOKMARK').length >= 3,
      'bookmarks',
    );
    expect(events[0]).toEqual({
      type: 'BOOKMARK',
      object: {
        kind: 'EndpointSlice',
        apiVersion: 'discovery.k8s.io/v1',
        metadata: { resourceVersion: expect.stringMatching(/^\d+$/) },
      },
    });
    expect(plain.events.filter((event) => event.type === 'BOOKMARK')).toEqual([]);
  });

  it('answers a watch from before a compaction with 200 and one 410 Expired ERROR, then closes', async () => {
    const { resourceVersion } = (await json(SLICES)).metadata;
    const open = watch(`${SLICES}?watch=true&resourceVersion=${resourceVersion}`);
    await waitFor(() => open.status === 200, 'watch open');
    api.control.compact();
    await waitFor(() => open.ended, 'open watch closed cleanly by the compaction');

    const expired = watch(`${SLICES}?watch=true&resourceVersion=${resourceVersion}`);
    await waitFor(() => expired.ended, 'expired watch closed');
    expect(expired.status).toBe(200);
    expect(expired.events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'The resourceVersion for the provided watch is too old.',
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
    const exact = await get(
      `${SLICES}?resourceVersion=${resourceVersion}&resourceVersionMatch=Exact`,
    );
    expect(exact.status).toBe(410);
    // A fresh list's version is watchable again.
    const fresh = (await json(SLICES)).metadata.resourceVersion;
    const again = watch(`${SLICES}?watch=true&resourceVersion=${fresh}&allowWatchBookmarks=true`);
    await again.until(
      (events) => events.some((event) => event.type === 'BOOKMARK'),
      'a live watch',
    );
  });

  it('closes a watch after timeoutSeconds, and resets every watch on dropWatches', async () => {
    const timed = watch(`${PODS}?watch=true&timeoutSeconds=1`);
    await waitFor(() => timed.ended, 'timeout close', 4000);
    expect(timed.error).toBeUndefined();
    const cut = watch(`${PODS}?watch=true`);
    await cut.until((events) => events.length >= 2, 'initial ADDED events');
    api.control.dropWatches();
    await waitFor(() => cut.error !== undefined, 'connection reset');
  });

  it('rejects a missing, unknown or rejected token with a 401 Status', async () => {
    expect((await get(PODS, { token: null })).status).toBe(401);
    const unknown = await get(PODS, { token: 'nope' });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({
      kind: 'Status',
      reason: 'Unauthorized',
      code: 401,
    });
    expect((await get(PODS, { token: 'constructor' })).status).toBe(401);
    api.control.setTokenRejected(true);
    expect((await get(PODS)).status).toBe(401);
    // The control surface still answers, so a test can undo it over HTTP.
    const undo = await get('/_sandbox/token-rejected', {
      method: 'POST',
      body: JSON.stringify({ rejected: false }),
    });
    expect(undo.status).toBe(200);
    expect((await get(PODS)).status).toBe(200);
  });

  it('forbids with the RBAC message naming the user, verb, resource, group and namespace', async () => {
    api.control.setForbidden('endpointslices', true);
    const response = await get(SLICES);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:default:beamscope" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default"',
      reason: 'Forbidden',
      details: { group: 'discovery.k8s.io', kind: 'endpointslices' },
      code: 403,
    });
    expect((await get(`${SLICES}?watch=true`)).status).toBe(403);
    const elsewhere = await get('/api/v1/namespaces/kube-system/pods');
    expect((await elsewhere.json()).message).toBe(
      'pods is forbidden: User "system:serviceaccount:default:beamscope" cannot list resource "pods" in API group "" in the namespace "kube-system"',
    );
    expect((await get(PODS, { method: 'DELETE' })).status).toBe(403);
  });

  it('sends the deprecation Warning with Endpoints, and lists their ready addresses', async () => {
    const response = await get('/api/v1/namespaces/default/endpoints');
    expect(response.headers.get('warning')).toBe(
      '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"',
    );
    const list = (await response.json()) as {
      kind: string;
      items: Array<{ subsets: Array<{ addresses: unknown[] }> }>;
    };
    expect(list.kind).toBe('EndpointsList');
    expect(list.items[0]!.subsets[0]!.addresses).toHaveLength(
      api.control.pods().filter((pod) => pod.ready).length,
    );
    expect((await get(SLICES)).headers.get('warning')).toBeNull();
  });

  it('serves a meta.k8s.io Table when asked, as kubectl does', async () => {
    const response = await get(PODS, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
    });
    const table = (await response.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(table.kind).toBe('Table');
    expect(
      table.columnDefinitions.map((column: { name: string }) => column.name).slice(0, 5),
    ).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(table.rows[0].object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: expect.any(String) },
    });
    expect(table.rows[0].object.metadata.managedFields).toBeUndefined();
  });

  it('drives the sandbox over /_sandbox with the bearer token', async () => {
    const created = await get('/_sandbox/pods', {
      method: 'POST',
      body: JSON.stringify({ ready: false }),
    });
    expect(created.status).toBe(201);
    const pod = (await created.json()) as { name: string; ip: string; ready: boolean };
    expect(pod.ready).toBe(false);
    expect(
      (await get(`/_sandbox/pods/${pod.name}/ready`, { method: 'POST', body: '{"ready":true}' }))
        .status,
    ).toBe(200);
    await waitFor(
      () => api.control.pods().find((candidate) => candidate.name === pod.name)?.ready === true,
      'ready',
    );
    expect((await get(`/_sandbox/pods/${pod.name}`, { method: 'DELETE' })).status).toBe(202);
    expect((await get('/_sandbox/pods/nope', { method: 'DELETE' })).status).toBe(404);
    expect((await get('/_sandbox/pods', { token: 'nope' })).status).toBe(401);
    const invalid = await get('/_sandbox/pods', { method: 'POST', body: '{"name":"Not_Valid"}' });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'invalid_name' } });
    await waitFor(
      () => !api.control.pods().some((candidate) => candidate.name === pod.name),
      'gone',
    );
  });

  it('restarts on the same port with the same objects after stop()', async () => {
    const before = (await json(PODS)).items.length;
    await api.stop();
    await expect(fetch(api.url + '/version')).rejects.toThrow();
    await api.start();
    expect((await json(PODS)).items.length).toBe(before);
  });
});
