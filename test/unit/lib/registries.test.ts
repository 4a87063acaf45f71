import { describe, expect, it } from 'vitest';

import { hostedNames, registryLabel, registrySummaries, registryUnit } from '@/lib/registries';

import { ip, n, pod, side, stateOf, swarm } from './fixtures';

describe('hostedNames', () => {
  it('counts hosted names from Swarm and local registries', () => {
    expect(
      hostedNames(
        side(n(1), [], {
          registries: [
            swarm(10, 4),
            { registry: 'global', count: 7, hosted: null, replicated: true },
            { registry: 'registry:A', count: 5, hosted: null, replicated: false },
          ],
        }),
      ),
    ).toBe(9);
    expect(hostedNames(side(n(1), []))).toBeNull();
  });
});

describe('registrySummaries', () => {
  const swarmOn = (count: number, hosted: number | null) => ({
    registries: [swarm(count, hosted)],
  });

  it('shows what each node hosts beside its copy, counts each name once, and checks the sum', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      [
        side(n(1), [n(2), n(3)], swarmOn(300, 100)),
        side(n(2), [n(1), n(3)], swarmOn(300, 94)),
        side(n(3), [n(1), n(2)], swarmOn(300, 106)),
      ],
    );
    const [summary] = registrySummaries(state.members, state.mainPartition);
    expect(summary).toMatchObject({
      registry: 'swarm',
      replicated: true,
      total: 300,
      hostedTotal: 300,
      imbalance: 1.06,
      idle: [],
      invariant: { holds: true, size: 300, hostedSum: 300 },
    });
    expect(summary!.shares.map((share) => [share.node, share.count, share.hosted])).toEqual([
      [n(1), 300, 100],
      [n(2), 300, 94],
      [n(3), 300, 106],
    ]);
  });

  it('gives the last summaries again while every node keeps its very counts, and new ones after', () => {
    const sides = [side(n(1), [n(2)], swarmOn(20, 12)), side(n(2), [n(1)], swarmOn(20, 8))];
    const state = stateOf([pod(ip(1)), pod(ip(2))], sides);
    const first = registrySummaries(state.members, state.mainPartition);
    // The same counts arrays in new member objects (a rebuilt state): the same summaries.
    const rebuilt = state.members.map((member) => ({ ...member }));
    expect(registrySummaries(rebuilt, state.mainPartition)).toBe(first);
    // Equal counts in a new array, or another main partition: made again, and equal.
    const copied = state.members.map((member) => ({
      ...member,
      beam: member.beam && { ...member.beam, registries: [...member.beam.registries] },
    }));
    const again = registrySummaries(copied, state.mainPartition);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    expect(registrySummaries(copied, null)).not.toBe(again);
    const moved = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [side(n(1), [n(2)], swarmOn(20, 11)), side(n(2), [n(1)], swarmOn(20, 9))],
    );
    const [summary] = registrySummaries(moved.members, moved.mainPartition);
    expect(summary!.shares.map((share) => share.hosted)).toEqual([11, 9]);
  });

  it('flags a node that joined and hosts nothing, and a sum that does not add up', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      [
        side(n(1), [n(2), n(3)], swarmOn(300, 150)),
        side(n(2), [n(1), n(3)], swarmOn(300, 140)),
        side(n(3), [n(1), n(2)], swarmOn(300, 0)),
      ],
    );
    const [summary] = registrySummaries(state.members, state.mainPartition);
    expect(summary!.idle).toEqual([n(3)]);
    expect(summary!.invariant).toEqual({ holds: false, size: 300, hostedSum: 290 });
  });

  it('does not flag a node with none of a small registry: 10 names over 3 nodes is chance', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      [
        side(n(1), [n(2), n(3)], swarmOn(10, 6)),
        side(n(2), [n(1), n(3)], swarmOn(10, 4)),
        side(n(3), [n(1), n(2)], swarmOn(10, 0)),
      ],
    );
    expect(registrySummaries(state.members, state.mainPartition)[0]!.idle).toEqual([]);
  });

  it('checks nothing while the copies disagree, and sums a node-local registry', () => {
    const local = (keys: number) => ({
      registries: [{ registry: 'registry:MyApp.R', count: keys, hosted: keys, replicated: false }],
    });
    const state = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [
        side(n(1), [n(2)], {
          ...swarmOn(300, 150),
          registries: [swarm(300, 150), ...local(4).registries],
        }),
        side(n(2), [n(1)], { registries: [swarm(298, 148), ...local(6).registries] }),
      ],
    );
    const byKey = Object.fromEntries(
      registrySummaries(state.members, state.mainPartition).map((summary) => [
        summary.registry,
        summary,
      ]),
    );
    expect(byKey.swarm).toMatchObject({ total: 300, invariant: null });
    expect(byKey['registry:MyApp.R']).toMatchObject({
      total: 10,
      hostedTotal: 10,
      replicated: false,
    });
  });

  it('names registries as operators do', () => {
    expect(registryLabel('syn_groups:devices')).toBe('syn groups devices');
    expect(registryLabel('horde_supervisor:MyApp.Sup')).toBe('Horde supervisor MyApp.Sup');
    expect(registryUnit('horde_supervisor:MyApp.Sup')).toBe('children');
    expect(registryUnit('pg')).toBe('members');
  });
});
