/**
 * A Service past 1,000 pods watched through Endpoints: the emulated controller cuts the object at
 * 1,000 addresses and annotates it `endpoints.kubernetes.io/over-capacity: truncated`, as the real
 * one does; the real kubectl reads it so; beamscope's members from it carry the annotation and
 * the doctor says the object was truncated from it, not from a count. Below the limit again, the
 * annotation goes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { V1Endpoints } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { configFindings } from '@/lib/config-findings';
import { buildClusterState } from '@/lib/state-builder';
import { membersFromEndpoints } from '@/server/kubernetes/members';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { kubectl, writeKubeconfig } from './kubectl';

describe('Endpoints over capacity, from the emulated controller to the doctor', () => {
  let api: EmulatedApi;
  let dir: string;
  let kubeconfig: string;
  const getEndpoints = async () =>
    JSON.parse(
      (await kubectl(kubeconfig, join(dir, 'cache'), ['get', 'endpoints', 'myapp', '-o', 'json']))
        .stdout,
    ) as V1Endpoints;
  const readyPods = () => api.control.pods().filter((pod) => pod.ready && !pod.terminating);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-endpoints-capacity-'));
    kubeconfig = join(dir, 'kubeconfig');
    api = await startEmulatedApi({ tls: true, readyDelayMs: 1, terminationGraceMs: 50 });
    await writeKubeconfig(kubeconfig, api);
  });

  afterAll(async () => {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts 1,003 ready pods to 1,000 addresses, annotated; the doctor reads the annotation', async () => {
    await api.control.scale(1003);
    await expect.poll(() => readyPods().length, { timeout: 60_000, interval: 100 }).toBe(1003);
    await expect
      .poll(async () => (await getEndpoints()).subsets?.[0]?.addresses?.length, {
        timeout: 10_000,
      })
      .toBe(1000);
    const endpoints = await getEndpoints();
    expect(endpoints.metadata?.annotations?.['endpoints.kubernetes.io/over-capacity']).toBe(
      'truncated',
    );
    expect(endpoints.subsets?.[0]?.notReadyAddresses).toBeUndefined();

    const members = membersFromEndpoints([endpoints], undefined, {
      mode: 'ip',
      basename: 'myapp',
      namespace: 'default',
    });
    expect(members).toHaveLength(1000);
    expect(members[0]!.source).toEqual({
      kind: 'Endpoints',
      name: 'myapp',
      overCapacity: 'truncated',
    });
    const state = buildClusterState({
      clusterId: 'sandbox',
      at: Date.now(),
      localNode: 'beamscope@127.0.0.1',
      kubernetes: { state: 'ok', since: 0 },
      distribution: { state: 'ok' },
      kubernetesMembers: members,
      beam: new Map(),
    });
    const findings = configFindings(state, { discoveryMode: 'endpoints' });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      subject: 'endpoints myapp',
      code: 'endpoints_truncated',
      verdict: 'fail',
    });
    expect(findings[0]!.reason).toMatch(
      /^the Endpoints controller truncated this object \(annotation endpoints\.kubernetes\.io\/over-capacity: truncated\): it lists 1000 addresses/,
    );
  }, 120_000);

  it('takes the annotation off once the Service is back under 1,000', async () => {
    await api.control.scale(990);
    await expect
      .poll(async () => (await getEndpoints()).subsets?.[0]?.addresses?.length, {
        timeout: 30_000,
        interval: 200,
      })
      .toBe(990);
    const endpoints = await getEndpoints();
    expect(
      endpoints.metadata?.annotations?.['endpoints.kubernetes.io/over-capacity'],
    ).toBeUndefined();
  }, 60_000);
});
