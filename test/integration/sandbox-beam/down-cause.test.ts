/**
 * Why a node went down, against the sandbox's real BEAM pods (`beamscope sandbox`) and a
 * collector in this process: a pod OOM-killed through the sandbox's control (the emulated kubelet
 * restarts its container with `lastState.terminated.reason: OOMKilled`, exit code 137), a pod
 * whose node crashed (SIGKILL: `Error`), a pod deleted. Each `node_down` carries the cause — on
 * the event itself, or in the amendment that follows it once the pod's status lands.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TimelineEvent } from '@/lib/cluster-state';
import type { DownCause } from '@/lib/down-cause';
import { startClusterCollector, type ClusterCollector } from '@/server/collector';
import { loadConfig } from '@/server/config';

import { startSandbox, type RunningSandbox } from '../../e2e/support/app';
import { kubectl } from '../sandbox/kubectl';
import { waitFor } from './support';

let sandbox: RunningSandbox;
let upstream: ClusterCollector;
let cacheDir: string;
const events: TimelineEvent[] = [];

interface PodSummary {
  name: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
}

async function readyPods(): Promise<PodSummary[]> {
  const pods = (await sandbox.control('GET', '/pods')) as PodSummary[];
  return pods.filter((pod) => pod.ready && !pod.terminating);
}

/** The node of a pod, as the collector holds it. */
function nodeOfPod(pod: string): string {
  const member = upstream.collector
    .snapshot()
    .state.members.find((candidate) => candidate.kubernetes?.podName === pod);
  if (!member?.node) throw new Error(`no member for pod ${pod}`);
  return member.node;
}

/** Every member connected and probed: a disconnect from now on is news. */
async function allConnected(count: number): Promise<void> {
  await waitFor(
    `${count} connected members`,
    () => upstream.collector.snapshot().state.members,
    (members) =>
      members.filter(
        (member) =>
          member.kubernetes?.ready &&
          member.beam?.connection.status === 'connected' &&
          member.beam.probedAt !== null,
      ).length >= count,
    60_000,
  );
}

/**
 * The cause of the first `node_down` of `node` after `fromSeq`: the event's own, or the latest
 * amendment of it. Waits for the cause `code` (bounded), and returns the event and its cause.
 */
async function causeOfDown(
  node: string,
  fromSeq: number,
  code: DownCause['code'],
): Promise<{ down: TimelineEvent; cause: DownCause | undefined }> {
  const found = () => {
    const down = events.find(
      (event) => event.seq > fromSeq && event.kind === 'node_down' && event.node === node,
    );
    if (!down) return null;
    const amendment = events.findLast(
      (event) => event.kind === 'down_cause' && event.amends === down.seq,
    );
    return { down, cause: amendment?.cause ?? down.cause };
  };
  return waitFor(
    `a node_down of ${node} caused by ${code}`,
    () => found(),
    (value) => value?.cause?.code === code,
    20_000,
  ).catch((error: unknown) => {
    const value = found();
    if (value) return value;
    throw error;
  }) as Promise<{ down: TimelineEvent; cause: DownCause | undefined }>;
}

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'beamscope-down-cause-'));
  sandbox = await startSandbox(3);
  const config = await loadConfig(sandbox.config);
  upstream = await startClusterCollector(config.clusters[0]!, {
    localName: `beamscope_dc${process.pid}@127.0.0.1`,
  });
  upstream.collector.subscribe((message) => {
    if (message.type === 'timeline') events.push(message.event);
  });
  await allConnected(3);
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  await sandbox?.stop();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('why a node went down, on real BEAM pods', () => {
  it('an OOM-killed pod: its node_down carries OOMKilled, as the kubelet reports it', async () => {
    const [victim] = await readyPods();
    const node = nodeOfPod(victim!.name);
    const fromSeq = upstream.collector.lastSeq;
    await sandbox.control('POST', `/pods/${victim!.name}/oom-kill`);

    const { down, cause } = await causeOfDown(node, fromSeq, 'oom_killed');
    expect(cause?.code).toBe('oom_killed');
    expect(cause?.side).toBe('kubernetes');
    expect(cause?.detail).toContain('OOMKilled');
    expect(cause?.detail).toContain('exit code 137');
    // Beside the pod's fate, beamscope's own view of the connection.
    expect(cause?.evidence?.join(' ')).toMatch(/beamscope: /);

    // The Pod object, as a real kubelet writes it, read with the real kubectl.
    const pod = JSON.parse(
      (
        await kubectl(sandbox.kubeconfig, cacheDir, [
          'get',
          'pod',
          victim!.name,
          '-n',
          'default',
          '-o',
          'json',
        ])
      ).stdout,
    ) as V1Pod;
    const status = pod.status!.containerStatuses![0]!;
    expect(status.restartCount).toBe(1);
    expect(status.lastState?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(status.lastState?.terminated?.message).toBeUndefined();

    // A snapshot taken now shows the event with its cause, amended or not.
    const held = upstream.collector.snapshot().timeline.find((event) => event.seq === down.seq);
    expect(held?.cause?.code).toBe('oom_killed');

    // The pod comes back: the container restarted, its node up again.
    await allConnected(3);
  }, 90_000);

  it('a crashed node (SIGKILL): container exited with Error', async () => {
    const [, victim] = await readyPods();
    const node = nodeOfPod(victim!.name);
    const fromSeq = upstream.collector.lastSeq;
    await sandbox.control('POST', `/pods/${victim!.name}/kill`);
    const { cause } = await causeOfDown(node, fromSeq, 'container_exited');
    expect(cause?.code).toBe('container_exited');
    expect(cause?.detail).toMatch(/terminated: Error \(exit code 137/);
    await allConnected(3);
  }, 90_000);

  it('a deleted pod: pod deleted, with the kubelet’s Killing', async () => {
    const pods = await readyPods();
    const victim = pods.at(-1)!;
    const node = nodeOfPod(victim.name);
    const fromSeq = upstream.collector.lastSeq;
    await sandbox.control('DELETE', `/pods/${victim.name}`);
    const { cause } = await causeOfDown(node, fromSeq, 'pod_deleted');
    expect(cause?.code).toBe('pod_deleted');
    expect(cause?.detail).toContain(victim.name);
    // A pod deleted by hand is not replaced here: scale back to three.
    await sandbox.control('POST', '/scale', { replicas: 3 });
    await allConnected(3);
  }, 90_000);

  it('a Kubernetes node lost: its pods vanished without terminating', async () => {
    await allConnected(3);
    const pods = (await sandbox.control('GET', '/pods')) as Array<
      PodSummary & { nodeName: string }
    >;
    const lostNode = pods.find((pod) => pod.ready && !pod.terminating)!.nodeName;
    const victims = pods.filter((pod) => pod.nodeName === lostNode);
    const fromSeq = upstream.collector.lastSeq;
    await sandbox.control('POST', `/nodes/${encodeURIComponent(lostNode)}/lose`);
    try {
      for (const victim of victims) {
        const node = `myapp@${victim.ip}`;
        // Told as the node going down (then amended) or, when the pod went first, as it leaving.
        const told = await waitFor(
          `the loss of ${node} told with its cause`,
          () => {
            const event = events.find(
              (candidate) =>
                candidate.seq > fromSeq &&
                candidate.node === node &&
                (candidate.kind === 'node_down' ||
                  (candidate.kind === 'member_left' && candidate.cause !== undefined)),
            );
            if (!event) return undefined;
            const amendment = events.findLast(
              (candidate) => candidate.kind === 'down_cause' && candidate.amends === event.seq,
            );
            return amendment?.cause ?? event.cause;
          },
          (cause) => cause?.code === 'pod_removed',
          20_000,
        );
        expect(told!.detail).toContain(lostNode);
      }
    } finally {
      await sandbox.control('POST', `/nodes/${encodeURIComponent(lostNode)}/restore`);
    }
  }, 90_000);
});
