import { describe, expect, it } from 'vitest';

import type { TimelineEventDraft } from '@/lib/cluster-state';
import { AMEND_WINDOW_MS } from '@/lib/down-cause';
import { linkList } from '@/lib/timeline-summary';
import { DownCauses } from '@/server/collector/down-causes';
import { EventStream } from '@/server/collector/event-stream';

import { ip, n, pod, side, stateOf } from '../lib/fixtures';

const START = Date.parse('2026-06-01T12:00:00Z');

/** A collector's stream and its causes, on a clock the test moves. */
function harness() {
  let now = START;
  // The amendments go to the stream, which is made next and sees every event through the causes.
  const causes: DownCauses = new DownCauses(
    () => now,
    (draft) => stream.publishAmendment(draft),
  );
  const stream: EventStream = new EventStream({
    maxMessages: 100,
    maxMessageWeight: 1000,
    maxTimeline: 50,
    now: () => now,
    timelineHooks: causes,
  });
  const messages: unknown[] = [];
  stream.subscribe((message) => messages.push(message));
  return {
    stream,
    causes,
    messages,
    tick: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

const closed = {
  status: 'unreachable' as const,
  since: START,
  code: 'node_down' as const,
  reason: 'connection closed',
};
const nodeDown: TimelineEventDraft = {
  kind: 'node_down',
  severity: 'error',
  message: `node ${n(1)} is down`,
  key: n(1),
  node: n(1),
};

describe('DownCauses', () => {
  it('tells a node_down with the best cause known, then amends it when the pod status lands', () => {
    const { stream, causes, tick } = harness();
    causes.observe(stateOf([pod(ip(1)), pod(ip(2))], [side(n(1), [n(2)]), side(n(2), [n(1)])]));
    causes.observe(
      stateOf([pod(ip(1)), pod(ip(2))], [side(n(1), null, { connection: closed }), side(n(2), [])]),
    );
    stream.publishEvents([nodeDown]);
    const [told] = stream.recentTimeline();
    expect(told!.cause?.code).toBe('connection_closed');

    // The kubelet's status update, 300 ms later: the container was OOM-killed.
    tick(300);
    const oomPod = pod(ip(1), {
      ready: false,
      serving: false,
      restarts: 1,
      lastTermination: {
        container: 'app',
        reason: 'OOMKilled',
        exitCode: 137,
        signal: null,
        finishedAt: new Date(START).toISOString(),
      },
    });
    causes.observe(
      stateOf([oomPod, pod(ip(2))], [side(n(1), null, { connection: closed }), side(n(2), [])]),
    );
    causes.reconsider();
    const timeline = stream.recentTimeline();
    // The snapshot's timeline holds the amended event, not a second line.
    expect(timeline).toHaveLength(1);
    expect(timeline[0]!.cause).toMatchObject({
      code: 'oom_killed',
      evidence: ['beamscope: the connection closed: connection closed'],
    });
    // The stream carries the amendment, naming the event it amends.
    const amendment = stream.since(told!.seq)!;
    expect(amendment).toHaveLength(1);
    expect(amendment[0]).toMatchObject({
      type: 'timeline',
      event: { kind: 'down_cause', amends: told!.seq, cause: { code: 'oom_killed' } },
    });
    // Told once: the same evidence amends nothing again.
    causes.reconsider();
    expect(stream.lastSeq).toBe(told!.seq + 1);
  });

  it('amends nothing once the window has passed', () => {
    const { stream, causes, tick } = harness();
    causes.observe(stateOf([pod(ip(1))], [side(n(1), null, { connection: closed })]));
    stream.publishEvents([nodeDown]);
    tick(AMEND_WINDOW_MS + 1);
    causes.observe(
      stateOf([pod(ip(1), { terminating: true })], [side(n(1), null, { connection: closed })]),
    );
    causes.reconsider();
    expect(stream.recentTimeline()).toHaveLength(1);
    expect(stream.recentTimeline()[0]!.cause?.code).toBe('connection_closed');
  });

  it('a pod gone from the list without terminating: removed at once', () => {
    const { stream, causes, tick } = harness();
    causes.observe(stateOf([pod(ip(1)), pod(ip(2))], [side(n(1), [n(2)]), side(n(2), [n(1)])]));
    tick(10);
    // The pod was force-deleted: the member is gone, and its departure tells while its node was up.
    causes.observe(stateOf([pod(ip(2))], [side(n(2), [])]));
    stream.publishEvents([
      { kind: 'member_left', severity: 'info', message: 'left', key: n(1), node: n(1) },
    ]);
    expect(stream.recentTimeline()[0]!.cause?.code).toBe('pod_removed');
  });

  it('readiness failures explain the links peers dropped, from the kubelet’s Unhealthy', () => {
    const { stream, causes } = harness();
    causes.observeEvent({
      uid: 'e1',
      type: 'Warning',
      reason: 'Unhealthy',
      message: 'Readiness probe failed: connection refused',
      involvedObject: { kind: 'Pod', name: 'myapp-abc-2' },
      count: 1,
      lastTimestamp: null,
    });
    causes.observe(
      stateOf(
        [pod(ip(1)), pod(ip(2), { ready: false, serving: false })],
        [side(n(1), []), side(n(2), [])],
      ),
    );
    stream.publishEvents([
      { kind: 'link_down', severity: 'warning', message: 'link down', link: [n(1), n(2)] },
    ]);
    expect(stream.recentTimeline()[0]!.cause).toMatchObject({
      code: 'readiness_failed',
      detail: expect.stringContaining('Readiness probe failed'),
    });
  });

  it('a summary counts its causes, and a partition of healthy nodes is the network', () => {
    const { stream, causes } = harness();
    const pods = [1, 2, 3, 4].map((index) => pod(ip(index)));
    causes.observe(
      stateOf(
        pods,
        [1, 2, 3, 4].map((index) => side(n(index), [])),
      ),
    );
    const nodes = [n(1), n(2), n(3), n(4)];
    stream.publishChanges([
      {
        event: {
          kind: 'partition_detected',
          severity: 'error',
          message: 'partition detected',
          expandable: true,
        },
        details: {
          sides: [nodes.slice(0, 2), nodes.slice(2)],
          links: linkList(nodes, new Float64Array([2, 3])),
        },
      },
    ]);
    const [partition] = stream.recentTimeline();
    expect(partition!.causes).toEqual([{ code: 'peers_disconnected', count: 1 }]);
    expect(partition!.cause?.code).toBe('peers_disconnected');
  });

  it('forgets a departed member once its evidence is too old', () => {
    const { causes, tick, stream } = harness();
    causes.observe(stateOf([pod(ip(1))], [side(n(1), [])]));
    causes.observe(stateOf([], []));
    tick(120_000);
    causes.observe(stateOf([], []));
    stream.publishEvents([{ ...nodeDown }]);
    expect(stream.recentTimeline()[0]!.cause).toBeUndefined();
  });
});

describe('DownCauses, a pod replaced under the same node name', () => {
  it('explains the old pod’s node_down by its fate, not by its replacement', () => {
    let now = START;
    const amendments: TimelineEventDraft[] = [];
    const causes = new DownCauses(
      () => now,
      (draft) => amendments.push(draft),
    );
    const old = pod(ip(1), { podName: 'myapp-old', podUid: 'uid-old' });
    causes.observe(stateOf([old], [side(n(1), [])]));
    causes.observe(stateOf([old], [side(n(1), null, { connection: closed })]));
    const told = causes.decorate({ event: { ...nodeDown, pod: 'myapp-old' } }).event;
    expect(told.cause?.code).toBe('connection_closed');
    causes.published({ ...told, seq: 1, at: now }, undefined);
    // Its Kubernetes node was lost: the pod force-deleted, a new one (unready yet) at its address.
    now += 500;
    const replacement = pod(ip(1), {
      podName: 'myapp-new',
      podUid: 'uid-new',
      ready: false,
      serving: false,
    });
    causes.observe(stateOf([replacement], [side(n(1), null, { connection: closed })]));
    causes.reconsider();
    expect(amendments).toHaveLength(1);
    expect(amendments[0]!.cause).toMatchObject({
      code: 'pod_removed',
      detail: expect.stringContaining('myapp-old'),
    });
  });

  it('a replacement beamscope has been connected to is the pod that goes down next', () => {
    let now = START;
    const causes = new DownCauses(
      () => now,
      () => undefined,
    );
    const old = pod(ip(1), { podName: 'myapp-old', podUid: 'uid-old' });
    causes.observe(stateOf([old], [side(n(1), [])]));
    now += 1000;
    const replacement = pod(ip(1), { podName: 'myapp-new', podUid: 'uid-new' });
    causes.observe(stateOf([replacement], [side(n(1), null, { connection: closed })]));
    // The new pod's node comes up, then its pod is deleted a few seconds later.
    now += 2000;
    causes.observe(
      stateOf([replacement], [side(n(1), [], { connection: { status: 'connected', since: now } })]),
    );
    now += 2000;
    causes.observe(
      stateOf(
        [{ ...replacement, ready: false, terminating: true }],
        [side(n(1), null, { connection: closed })],
      ),
    );
    const told = causes.decorate({ event: { ...nodeDown, pod: 'myapp-new' } }).event;
    expect(told.cause?.code).toBe('pod_deleted');
    expect(told.cause?.detail).toContain('myapp-new');
  });
});
