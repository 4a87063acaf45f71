import { describe, expect, it } from 'vitest';

import { buildClusterState } from '@/lib/state-builder';
import type { BeamSide, ClusterState, TimelineEvent } from '@/lib/cluster-state';
import type { KubernetesMember } from '@/lib/members';

import { components, diff, missingTimeline, type Truth } from './support';

// The harness's own checks: a diff that always came out empty would make every scenario pass.

const node = (i: number) => `myapp@10.244.0.${i}`;

function member(i: number, overrides: Partial<KubernetesMember> = {}): KubernetesMember {
  return {
    ip: `127.0.0.${i}`,
    podName: `myapp-${i}`,
    podUid: `uid-${i}`,
    k8sNode: 'sandbox-node-1',
    zone: null,
    hostname: null,
    ready: true,
    serving: true,
    terminating: false,
    phase: 'Running',
    restarts: 0,
    startTime: null,
    beamNode: node(i),
    source: { kind: 'EndpointSlice', name: 'myapp-x' },
    ...overrides,
  };
}

function side(
  i: number,
  sees: number[],
  status: BeamSide['connection']['status'] = 'connected',
): BeamSide {
  return {
    node: node(i),
    connection: { status, since: 1 },
    otpRelease: '27',
    elixirVersion: null,
    processCount: 1,
    memoryBytes: 1,
    runQueue: 0,
    uptimeMs: 1,
    sees: status === 'connected' ? sees.map(node) : null,
    registries: [],
    netTicktimeSeconds: 60,
    links: null,
    distBufBusyLimitBytes: null,
    probedAt: 1,
    probeMs: 1,
    probeError: null,
    applications: null,
    codeScan: null,
  };
}

function state(
  members: KubernetesMember[],
  sides: BeamSide[],
  link: ClusterState['kubernetes'] = { state: 'ok', since: 1 },
): ClusterState {
  return buildClusterState({
    clusterId: 'sandbox',
    at: 1,
    localNode: 'beamscope@127.0.0.1',
    kubernetes: link,
    distribution: { state: 'ok' },
    kubernetesMembers: members,
    beam: new Map(sides.map((entry) => [entry.node, entry])),
  });
}

function truth(ready: boolean[], mesh: number[][]): Truth {
  const nodes = mesh.flatMap((part) =>
    part.map((i) => ({
      node: node(i),
      pod: `myapp-${i}`,
      sees: part
        .filter((j) => j !== i)
        .map(node)
        .sort(),
      refused: [],
    })),
  );
  return {
    at: 1,
    members: ready.map((isReady, index) => ({
      ip: `127.0.0.${index + 2}`,
      node: node(index + 2),
      podName: `myapp-${index + 2}`,
      ready: isReady,
      terminating: false,
      phase: 'Running',
      restarts: 0,
    })),
    nodes,
    partitions: components(new Map(nodes.map((entry) => [entry.node, entry.sees]))),
  };
}

describe('the reliability harness', () => {
  const healthy = state(
    [member(2), member(3), member(4)],
    [side(2, [3, 4]), side(3, [2, 4]), side(4, [2, 3])],
  );

  it('finds no difference where there is none', () => {
    expect(diff(truth([true, true, true], [[2, 3, 4]]), healthy)).toEqual([]);
  });

  it('names a missing member, a stale readiness, a stale link and a missed partition', () => {
    const lines = diff(
      truth(
        [true, false, true, true],
        [
          [2, 3],
          [4, 5],
        ],
      ),
      {
        ...healthy,
        kubernetes: { state: 'error', since: 1, code: 'unreachable', reason: 'down' },
      },
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^kubernetes link: error \(unreachable: down\)/),
        expect.stringMatching(
          /member myapp@10\.244\.0\.3 .*ready is false, the dashboard shows true/,
        ),
        expect.stringMatching(
          /member myapp@10\.244\.0\.5 .*Kubernetes lists it, the dashboard does not/,
        ),
        expect.stringMatching(
          /member myapp@10\.244\.0\.2 .*the node sees myapp@10\.244\.0\.3, the dashboard shows/,
        ),
        expect.stringMatching(/^partitions: /),
      ]),
    );
  });

  it('names a member shown that Kubernetes no longer lists, and a node shown connected that is down', () => {
    const lines = diff(truth([true, true], [[2, 3]]), healthy);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /member myapp@10\.244\.0\.4: the dashboard lists it, Kubernetes does not/,
        ),
      ]),
    );
    const down = diff(truth([true, true, true], [[2, 3]]), healthy);
    expect(down).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /myapp@10\.244\.0\.4 .*not running, the dashboard shows it connected/,
        ),
      ]),
    );
  });

  it('wants a timeline event for each net change of the truth', () => {
    const before = truth([true, true], [[2, 3]]);
    const after = truth([false, true, true], [[2, 3, 4]]);
    const events: TimelineEvent[] = [
      {
        seq: 5,
        at: 1,
        kind: 'member_joined',
        severity: 'info',
        message: 'joined',
        key: node(4),
        node: node(4),
      },
    ];
    expect(missingTimeline(before, after, events)).toEqual([
      'timeline: no pod_unready for myapp@10.244.0.2',
    ]);
    expect(missingTimeline(after, before, [])).toEqual([
      'timeline: no pod_ready for myapp@10.244.0.2',
      'timeline: no member_left for myapp@10.244.0.4',
    ]);
  });
});
