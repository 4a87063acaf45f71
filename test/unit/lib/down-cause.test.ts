import { describe, expect, it } from 'vitest';

import type { BeamConnection, TimelineEvent } from '@/lib/cluster-state';
import {
  applyCauseAmendment,
  CAUSE_TEXT_LIMIT,
  lastDownOf,
  linkCause,
  nodeCause,
  outranks,
  tallyCauses,
  tallyText,
  type NodeEvidence,
} from '@/lib/down-cause';

import { ip, n, pod } from './fixtures';

const NOW = Date.parse('2026-06-01T12:00:10Z');
const closed: BeamConnection = {
  status: 'unreachable',
  since: NOW,
  code: 'node_down',
  reason: 'connection to node myapp@10.0.0.1 closed',
};

function evidence(overrides: Partial<NodeEvidence> = {}): NodeEvidence {
  return {
    kubernetes: pod(ip(1)),
    goneAt: null,
    wasTerminating: false,
    podEvents: [],
    connection: closed,
    ...overrides,
  };
}

const terminated = (reason: string, exitCode: number, finishedAt = '2026-06-01T12:00:09Z') => ({
  container: 'app',
  reason,
  exitCode,
  signal: null,
  finishedAt,
});

describe('nodeCause', () => {
  it('names an OOM kill from the container’s last termination, beamscope’s view beside it', () => {
    const cause = nodeCause(
      evidence({
        kubernetes: pod(ip(1), { restarts: 2, lastTermination: terminated('OOMKilled', 137) }),
      }),
      NOW,
    );
    expect(cause).toMatchObject({ code: 'oom_killed', side: 'kubernetes' });
    expect(cause!.detail).toBe(
      'container app of pod myapp-abc-1 was OOMKilled (exit code 137, restarts 2)',
    );
    expect(cause!.evidence).toEqual([
      'beamscope: the connection closed: connection to node myapp@10.0.0.1 closed',
    ]);
  });

  it('names any other termination with its reason and exit code', () => {
    const cause = nodeCause(
      evidence({ kubernetes: pod(ip(1), { lastTermination: terminated('Error', 1) }) }),
      NOW,
    );
    expect(cause).toMatchObject({ code: 'container_exited' });
    expect(cause!.detail).toContain('terminated: Error (exit code 1');
  });

  it('does not blame a termination long before the disconnect (the container ran since)', () => {
    const cause = nodeCause(
      evidence({
        kubernetes: pod(ip(1), {
          lastTermination: terminated('OOMKilled', 137, '2026-06-01T11:50:00Z'),
        }),
      }),
      NOW,
    );
    expect(cause?.code).toBe('connection_closed');
  });

  it('does not blame a termination from before the node last came up (an earlier run)', () => {
    const oomThenRestarted = evidence({
      kubernetes: pod(ip(1), { lastTermination: terminated('OOMKilled', 137) }),
      upSince: Date.parse('2026-06-01T12:00:09.500Z') + 2000,
    });
    expect(nodeCause(oomThenRestarted, NOW)?.code).toBe('connection_closed');
    // Up since before the termination (whole seconds read early): the termination is this run's.
    expect(
      nodeCause({ ...oomThenRestarted, upSince: Date.parse('2026-06-01T12:00:09.800Z') }, NOW)
        ?.code,
    ).toBe('oom_killed');
  });

  it('tells a deletion (terminating, or gone after terminating) from a pod that vanished at once', () => {
    const killing = { reason: 'Killing', message: 'Stopping container app', at: NOW - 1000 };
    expect(
      nodeCause(
        evidence({ kubernetes: pod(ip(1), { terminating: true }), podEvents: [killing] }),
        NOW,
      ),
    ).toMatchObject({ code: 'pod_deleted', detail: expect.stringContaining('Stopping container') });
    expect(nodeCause(evidence({ goneAt: NOW, wasTerminating: true }), NOW)?.code).toBe(
      'pod_deleted',
    );
    expect(nodeCause(evidence({ goneAt: NOW, wasTerminating: false }), NOW)).toMatchObject({
      code: 'pod_removed',
      detail: expect.stringContaining('sandbox-node-1'),
    });
  });

  it('names an eviction from its Event', () => {
    const evicted = {
      reason: 'Evicted',
      message: 'The node was low on resource: memory.',
      at: NOW,
    };
    expect(nodeCause(evidence({ podEvents: [evicted] }), NOW)?.code).toBe('pod_evicted');
  });

  it('names an eviction through the API, and other disruptions, from DisruptionTarget', () => {
    const evicted = {
      terminating: true,
      disruption: { reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' },
    };
    expect(nodeCause(evidence({ kubernetes: pod(ip(1), evicted) }), NOW)).toMatchObject({
      code: 'pod_evicted',
      side: 'kubernetes',
      detail:
        'pod myapp-abc-1 was evicted through the Eviction API (a drain of its node sandbox-node-1, the cluster autoscaler or a descheduler)',
    });
    // Still told once the pod has gone, from the pod as last listed.
    expect(
      nodeCause(
        evidence({ kubernetes: pod(ip(1), evicted), goneAt: NOW, wasTerminating: true }),
        NOW,
      )?.code,
    ).toBe('pod_evicted');
    const preempted = pod(ip(1), {
      terminating: true,
      disruption: { reason: 'PreemptionByScheduler', message: null },
    });
    expect(nodeCause(evidence({ kubernetes: preempted }), NOW)?.detail).toBe(
      'pod myapp-abc-1 was preempted by the scheduler for a higher-priority pod',
    );
    const unknown = pod(ip(1), {
      terminating: true,
      disruption: { reason: 'SomethingNew', message: 'a controller took it' },
    });
    expect(nodeCause(evidence({ kubernetes: unknown }), NOW)?.detail).toBe(
      'pod myapp-abc-1 was disrupted: SomethingNew: a controller took it',
    );
    // Marked but not deleted (yet): the pod is not down for it.
    const marked = pod(ip(1), { disruption: { reason: 'EvictionByEvictionAPI', message: null } });
    expect(nodeCause(evidence({ kubernetes: marked }), NOW)?.code).toBe('connection_closed');
  });

  it('names a failing readiness probe, with the kubelet’s message', () => {
    const unhealthy = {
      reason: 'Unhealthy',
      message: 'Readiness probe failed: connection refused',
      at: NOW - 2000,
    };
    const cause = nodeCause(
      evidence({
        kubernetes: pod(ip(1), { ready: false, serving: false }),
        podEvents: [unhealthy],
        connection: { status: 'connected', since: 1 },
      }),
      NOW,
    );
    expect(cause).toMatchObject({ code: 'readiness_failed', side: 'kubernetes' });
    expect(cause!.detail).toContain('Readiness probe failed: connection refused');
    // An old Unhealthy event on a pod that is ready again says nothing.
    expect(
      nodeCause(
        evidence({
          podEvents: [{ ...unhealthy, at: NOW - 120_000 }],
          connection: { status: 'connected', since: 1 },
        }),
        NOW,
      ),
    ).toBeNull();
  });

  it('falls back to beamscope’s own connection, by its code', () => {
    const beam = (connection: Partial<BeamConnection>) =>
      nodeCause(
        evidence({
          kubernetes: null,
          connection: { status: 'unreachable', since: NOW, ...connection },
        }),
        NOW,
      )?.code;
    expect(beam({ code: 'auth_failed', status: 'auth_failed' })).toBe('auth_failed');
    expect(beam({ code: 'node_name_mismatch' })).toBe('name_mismatch');
    expect(beam({ code: 'timeout', status: 'timeout' })).toBe('tick_timeout');
    expect(beam({ code: 'dist_unreachable' })).toBe('unreachable');
    expect(beam({ code: 'node_down' })).toBe('connection_closed');
    expect(
      nodeCause(evidence({ kubernetes: null, connection: { status: 'connected', since: 1 } }), NOW),
    ).toBeNull();
  });
});

describe('linkCause', () => {
  const link: [string, string] = [n(1), n(2)];
  const healthy = evidence({ connection: { status: 'connected', since: 1 } });

  it('takes the stronger end’s cause', () => {
    const unready = evidence({
      kubernetes: pod(ip(2), { ready: false, serving: false }),
      connection: { status: 'connected', since: 1 },
    });
    expect(linkCause([healthy, unready], link, NOW).code).toBe('readiness_failed');
  });

  it('says the nodes lost each other when both are healthy and answer beamscope', () => {
    const cause = linkCause([healthy, null], link, NOW);
    expect(cause).toMatchObject({ code: 'peers_disconnected', side: 'beam' });
    expect(cause.detail).toContain(n(1));
  });
});

describe('tallies and ranks', () => {
  it('counts causes by code, most frequent first, ties by strength', () => {
    const oom = { code: 'oom_killed' as const, side: 'kubernetes' as const, detail: '' };
    const deleted = { code: 'pod_deleted' as const, side: 'kubernetes' as const, detail: '' };
    const tally = tallyCauses([deleted, oom, null, deleted]);
    expect(tally).toEqual([
      { code: 'pod_deleted', count: 2 },
      { code: 'oom_killed', count: 1 },
    ]);
    expect(tallyText(tally)).toBe('pod deleted ×2, OOMKilled ×1');
    expect(tallyCauses([deleted, oom])[0]!.code).toBe('oom_killed');
    expect(outranks(oom, deleted)).toBe(true);
    expect(outranks(deleted, oom)).toBe(false);
    expect(outranks(null, undefined)).toBe(false);
  });
});

describe('amendments in the browser', () => {
  const down: TimelineEvent = {
    seq: 7,
    at: 1,
    kind: 'node_down',
    severity: 'error',
    message: 'node myapp@10.0.0.1 is down',
    key: n(1),
    node: n(1),
    cause: { code: 'connection_closed', side: 'beam', detail: 'the connection closed' },
  };
  const amendment: TimelineEvent = {
    seq: 9,
    at: 2,
    kind: 'down_cause',
    severity: 'error',
    message: 'why myapp@10.0.0.1 went down: OOMKilled',
    amends: 7,
    key: n(1),
    cause: { code: 'oom_killed', side: 'kubernetes', detail: 'was OOMKilled' },
  };

  it('puts the cause on the event it amends instead of adding a line', () => {
    const timeline = applyCauseAmendment([down], amendment);
    expect(timeline).toHaveLength(1);
    expect(timeline[0]!.cause?.code).toBe('oom_killed');
    expect(down.cause?.code).toBe('connection_closed');
    expect(lastDownOf(timeline, { key: n(1), node: n(1) })).toEqual({
      at: 1,
      seq: 7,
      cause: amendment.cause,
    });
    expect(lastDownOf(timeline, { key: n(2), node: n(2) })).toBeNull();
  });

  it('keeps the amendment as its own line when the event is no longer held', () => {
    const timeline = applyCauseAmendment([], amendment);
    expect(timeline).toEqual([amendment]);
  });
});

describe('bounded text', () => {
  it('cuts a long probe message, so a cause stays small on the wire', () => {
    const cause = nodeCause(
      evidence({
        kubernetes: pod(ip(1), { ready: false, serving: false }),
        podEvents: [{ reason: 'Unhealthy', message: 'x'.repeat(10_000), at: NOW }],
      }),
      NOW,
    );
    expect(cause!.detail.length).toBeLessThan(CAUSE_TEXT_LIMIT + 200);
    expect(JSON.stringify(cause).length).toBeLessThan(1_000);
  });
});
