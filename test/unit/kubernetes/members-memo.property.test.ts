import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  deriveMembers,
  MemberMemo,
  type MemberInputs,
  type NamingContext,
} from '@/server/kubernetes/members';

const naming: NamingContext = { mode: 'ip', basename: 'myapp', namespace: 'shop' };
const PODS = 12;
const SLICES = 3;
const ipOf = (index: number) => `10.0.0.${index + 1}`;

/** A pod as an informer holds it: a new object whenever the watch says it changed. */
function pod(
  index: number,
  version: { restarts: number; ready: boolean; deleting: boolean },
): V1Pod {
  return {
    metadata: {
      name: `myapp-${index}`,
      uid: `uid-${index}`,
      ...(version.deleting ? { deletionTimestamp: new Date('2026-01-01T00:00:10Z') } : {}),
    },
    spec: { containers: [], nodeName: `node-${index % 3}` },
    status: {
      phase: 'Running',
      podIP: ipOf(index),
      startTime: '2026-01-01T00:00:00Z' as unknown as Date,
      conditions: [{ type: 'Ready', status: version.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'app',
          image: 'i',
          imageID: '',
          ready: version.ready,
          restartCount: version.restarts,
        },
      ],
    },
  };
}

/** A slice listing the given pods, each endpoint ready or not. */
function slice(
  index: number,
  members: ReadonlyArray<{ pod: number; ready: boolean }>,
): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { name: `myapp-${index}` },
    endpoints: members.map(({ pod: podIndex, ready }) => ({
      addresses: [ipOf(podIndex)],
      conditions: { ready, serving: true, terminating: false },
      targetRef: { kind: 'Pod', name: `myapp-${podIndex}`, uid: `uid-${podIndex}` },
    })),
  };
}

/** One watch event: a pod changed, gone or back, or one slice rewritten. */
const event = fc.oneof(
  fc.record({
    kind: fc.constant('pod' as const),
    index: fc.nat(PODS - 1),
    restarts: fc.nat(3),
    ready: fc.boolean(),
    deleting: fc.boolean(),
    gone: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('slice' as const),
    index: fc.nat(SLICES - 1),
    // Any pods, so an address can sit in two slices at once, as while the controller moves it.
    members: fc.uniqueArray(fc.record({ pod: fc.nat(PODS - 1), ready: fc.boolean() }), {
      selector: (member) => member.pod,
      maxLength: 6,
    }),
  }),
);

describe('MemberMemo', () => {
  it('derives what a derivation from scratch does, event after event, reusing every member an event left alone', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('endpointSlices' as const, 'pods' as const),
        fc.array(event, { maxLength: 40 }),
        (mode, events) => {
          const pods = new Map<number, V1Pod>();
          for (let index = 0; index < PODS; index += 1) {
            pods.set(index, pod(index, { restarts: 0, ready: true, deleting: false }));
          }
          const slices = new Map<number, V1EndpointSlice>();
          for (let index = 0; index < SLICES; index += 1) {
            slices.set(
              index,
              slice(
                index,
                [...Array(PODS / SLICES).keys()].map((k) => ({
                  pod: index * (PODS / SLICES) + k,
                  ready: true,
                })),
              ),
            );
          }
          const inputs = (): MemberInputs => ({
            pods: [...pods.values()],
            endpointSlices: [...slices.values()],
          });
          const memo = new MemberMemo();
          let last = deriveMembers(mode, inputs(), naming, memo);
          expect(last).toEqual(deriveMembers(mode, inputs(), naming));
          for (const change of events) {
            const before = { pods: new Map(pods), slices: new Map(slices) };
            if (change.kind === 'pod') {
              if (change.gone) pods.delete(change.index);
              else pods.set(change.index, pod(change.index, change));
            } else slices.set(change.index, slice(change.index, change.members));

            const next = deriveMembers(mode, inputs(), naming, memo);
            expect(next).toEqual(deriveMembers(mode, inputs(), naming));
            // A member whose pod and slice are the objects they were is the member it was.
            const lastByIp = new Map(last.map((member) => [member.ip, member]));
            for (const member of next) {
              const previous = lastByIp.get(member.ip);
              const podIndex = Number(member.ip.split('.')[3]) - 1;
              const sliceIndex = Number(member.source.name.split('-')[1]);
              const untouched =
                previous !== undefined &&
                before.pods.get(podIndex) === pods.get(podIndex) &&
                (mode === 'pods' ||
                  (before.slices.get(sliceIndex) === slices.get(sliceIndex) &&
                    previous.source.name === member.source.name));
              if (untouched) expect(member).toBe(previous);
            }
            last = next;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('builds again a member whose naming changed', () => {
    const pods = [pod(0, { restarts: 0, ready: true, deleting: false })];
    const memo = new MemberMemo();
    const first = deriveMembers('pods', { pods }, naming, memo);
    const renamed = deriveMembers('pods', { pods }, { ...naming, basename: 'other' }, memo);
    expect(first[0]!.beamNode).toBe('myapp@10.0.0.1');
    expect(renamed[0]!.beamNode).toBe('other@10.0.0.1');
  });
});
