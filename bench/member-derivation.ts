/**
 * What a watch event costs the Kubernetes source at 1,000 members (issue 16's push: a readiness
 * change waits, in the server, behind the member derivation of the events before it). A change
 * is two watch events, as the cluster makes them: the pod's (its Ready condition) and then its
 * EndpointSlice's (the endpoint's `ready`), each a new object among 1,000 pods and 10 slices of
 * 100. Timed per event: the derivation and `shareUnchanged`, what `KubernetesSource` runs — with a
 * `MemberMemo` (what the source does) and from scratch (as it did before), the two interleaved
 * round by round so both meet the same machine. Each round checks the two derive the same list.
 * Medians and p99 over the events, and their ratio.
 *
 * Run alone: `npx tsx --conditions=react-server bench/member-derivation.ts [--members 1000] [--rounds 200]`.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';

import type { KubernetesMember } from '../lib/members';
import {
  deriveMembers,
  MemberMemo,
  shareUnchanged,
  type NamingContext,
} from '../server/kubernetes/members';
import { countFlag } from './support/flags';
import { quantile, roundTo } from './support/stats';

const PER_SLICE = 100;
const naming: NamingContext = { mode: 'ip', basename: 'myapp', namespace: 'default' };
const ipOf = (index: number) => `10.244.${index >> 8}.${index & 255}`;

/** A pod as the informer holds it after a watch event (times as strings, as a watch sends them). */
function pod(index: number, ready: boolean): V1Pod {
  const status = ready ? 'True' : 'False';
  const at = '2026-12-07T10:00:00Z' as unknown as Date;
  return {
    metadata: {
      name: `myapp-7f4ln5qhtf-${index}`,
      namespace: 'default',
      uid: `0c8f6a52-1d3e-4b7a-9f00-${String(index).padStart(12, '0')}`,
      labels: { app: 'myapp', 'pod-template-hash': '7f4ln5qhtf' },
    },
    spec: { containers: [{ name: 'myapp', image: 'myapp:0.1.0' }], nodeName: `k8s-${index % 10}` },
    status: {
      phase: 'Running',
      podIP: ipOf(index),
      podIPs: [{ ip: ipOf(index) }],
      startTime: at,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
        type,
        status: type === 'PodScheduled' || type === 'Initialized' ? 'True' : status,
        lastTransitionTime: at,
      })),
      containerStatuses: [
        {
          name: 'myapp',
          image: 'myapp:0.1.0',
          imageID: 'myapp@sha256:0',
          ready,
          restartCount: 0,
          state: { running: { startedAt: at } },
        },
      ],
    },
  };
}

function slice(number: number, ready: (index: number) => boolean): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { name: `myapp-${number}`, labels: { 'kubernetes.io/service-name': 'myapp' } },
    endpoints: Array.from({ length: PER_SLICE }, (_, offset) => {
      const index = number * PER_SLICE + offset;
      return {
        addresses: [ipOf(index)],
        conditions: { ready: ready(index), serving: ready(index), terminating: false },
        nodeName: `k8s-${index % 10}`,
        targetRef: { kind: 'Pod', name: `myapp-7f4ln5qhtf-${index}`, namespace: 'default' },
      };
    }),
  };
}

/** The source's step after a watch event: derive, then keep the unchanged members' identity. */
class Source {
  members: KubernetesMember[] = [];
  constructor(private readonly memo: MemberMemo | undefined) {}
  event(pods: V1Pod[], slices: V1EndpointSlice[]): number {
    const started = performance.now();
    const next = deriveMembers(
      'endpointSlices',
      { endpointSlices: slices, pods },
      naming,
      this.memo,
    );
    const shared = shareUnchanged(next, this.members);
    if (shared) this.members = shared;
    return performance.now() - started;
  }
}

function main(): void {
  const { values } = parseArgs({
    options: { members: { type: 'string' }, rounds: { type: 'string' } },
  });
  const members = countFlag('members', values.members, 1000);
  const rounds = countFlag('rounds', values.rounds, 200);
  const load = loadavg()[0]!.toFixed(2);
  const ready = new Set(Array.from({ length: members }, (_, index) => index));
  const pods = Array.from({ length: members }, (_, index) => pod(index, true));
  const slices = Array.from({ length: Math.ceil(members / PER_SLICE) }, (_, number) =>
    slice(number, (index) => ready.has(index)),
  );
  const memoized = new Source(new MemberMemo());
  const scratch = new Source(undefined);
  memoized.event(pods, slices);
  scratch.event(pods, slices);
  const timings = { memo: [] as number[], scratch: [] as number[] };
  for (let round = 0; round < rounds; round += 1) {
    const index = (round * 37) % members;
    const nowReady = !ready.has(index);
    if (nowReady) ready.add(index);
    else ready.delete(index);
    // The pod's event, then its slice's: new objects for those two, the rest as they were.
    pods[index] = pod(index, nowReady);
    const podsNow = [...pods];
    const order = round % 2 === 0 ? [memoized, scratch] : [scratch, memoized];
    for (const source of order) {
      (source === memoized ? timings.memo : timings.scratch).push(source.event(podsNow, slices));
    }
    const number = Math.floor(index / PER_SLICE);
    slices[number] = slice(number, (other) => ready.has(other));
    const slicesNow = [...slices];
    for (const source of order) {
      (source === memoized ? timings.memo : timings.scratch).push(source.event(podsNow, slicesNow));
    }
    if (JSON.stringify(memoized.members) !== JSON.stringify(scratch.members)) {
      throw new Error(`round ${round}: the memoised derivation differs from the one from scratch`);
    }
  }
  const summary = (samples: number[]) => ({
    medianMs: roundTo(quantile(samples, 0.5)!, 3),
    p99Ms: roundTo(quantile(samples, 0.99)!, 3),
  });
  const memo = summary(timings.memo);
  const fromScratch = summary(timings.scratch);
  process.stdout.write(
    `${JSON.stringify(
      {
        members,
        events: timings.memo.length,
        loadAverage: Number(load),
        memo,
        fromScratch,
        ratio: {
          median: roundTo(fromScratch.medianMs / memo.medianMs, 1),
          p99: roundTo(fromScratch.p99Ms / memo.p99Ms, 1),
        },
      },
      null,
      2,
    )}\n`,
  );
}

main();
