import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { ClusterMember, RegistryCount } from '@/lib/cluster-state';
import { packMembers, unpackMember } from '@/lib/member-pack';

import { ip, n, pod, side } from './fixtures';

/** A value drawn from a few, so that members share some and differ in others. */
const few = <T>(...values: T[]) => fc.constantFrom(...values);

const arbitraryRegistry: fc.Arbitrary<RegistryCount> = fc.record(
  {
    registry: few('swarm', 'pg', 'registry:MyApp.Registry'),
    count: few(0, 10, 100_000),
    hosted: few<number | null>(null, 0, 55),
    replicated: fc.boolean(),
    groups: few(0, 3),
  },
  { requiredKeys: ['registry', 'count', 'hosted', 'replicated'] },
);

const arbitraryMember = (index: number): fc.Arbitrary<ClusterMember> =>
  fc
    .record({
      keyed: few<'node' | 'ip'>('node', 'node', 'ip'),
      otherName: fc.boolean(),
      hasPod: fc.boolean(),
      hasBeam: fc.boolean(),
      phase: few('Running', 'Pending'),
      terminated: fc.boolean(),
      beamNodeNull: fc.boolean(),
      connection: few('connected', 'unreachable'),
      otp: few<string | null>('27', '26', null),
      processCount: few<number | null>(100, 4000 + index, null),
      sees: few<'all' | 'none' | 'null'>('all', 'all', 'none', 'null'),
      registries: fc.array(arbitraryRegistry, { maxLength: 3 }),
      partition: few<number | null>(0, 0, 1, null),
    })
    .map((pick): ClusterMember => {
      const node = n(index);
      const key = pick.keyed === 'node' ? node : `ip:${ip(index)}`;
      const kubernetes = pick.hasPod
        ? pod(ip(index), {
            phase: pick.phase,
            ...(pick.beamNodeNull ? { beamNode: null } : {}),
            ...(pick.terminated
              ? {
                  lastTermination: {
                    container: 'app',
                    reason: 'OOMKilled',
                    exitCode: 137,
                    signal: null,
                    finishedAt: '2026-01-01T00:00:00Z',
                  },
                }
              : {}),
          })
        : null;
      const beam = pick.hasBeam
        ? side(
            pick.otherName ? `other@${ip(index)}` : node,
            pick.sees === 'null' ? null : pick.sees === 'none' ? [] : [n(index + 1)],
            {
              connection: { status: pick.connection, since: 1 } as never,
              otpRelease: pick.otp,
              processCount: pick.processCount,
              registries: pick.registries,
            },
          )
        : null;
      return {
        key,
        node: pick.keyed === 'node' ? node : pick.otherName ? `other@${ip(index)}` : null,
        kubernetes,
        beam,
        partition: pick.partition,
      };
    });

const arbitraryMembers = fc
  .integer({ min: 0, max: 12 })
  .chain((size) =>
    fc.tuple(...Array.from({ length: size }, (_, index) => arbitraryMember(index + 1))),
  );

describe('packed members', () => {
  it('unpack to exactly the members packed, through JSON (property)', () => {
    fc.assert(
      fc.property(arbitraryMembers, (members) => {
        const packed = JSON.parse(JSON.stringify(packMembers(members))) as ReturnType<
          typeof packMembers
        >;
        expect(packed.members.map((member) => unpackMember(member, packed.defaults))).toEqual(
          members,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('say once what the members share and leave out names that repeat the key', () => {
    const members = [1, 2, 3].map((index): ClusterMember => ({
      key: n(index),
      node: n(index),
      kubernetes: pod(ip(index)),
      beam: side(n(index), [], { processCount: index }),
      partition: 0,
    }));
    const { members: packed, defaults } = packMembers(members);
    expect(defaults.beam).toMatchObject({ otpRelease: '25', connection: { status: 'connected' } });
    expect(defaults.partition).toBe(0);
    expect(packed[0]).toEqual({
      key: n(1),
      kubernetes: { ip: ip(1), podName: 'myapp-abc-1', podUid: `uid-${ip(1)}` },
      beam: { processCount: 1 },
    });
  });
});
