import { describe, expect, it } from 'vitest';

import { membershipRows, sortRows } from '@/lib/membership';

import { fullMesh, ip, n, pod, stateOf, swarm } from './fixtures';

describe('the membership table’s registry column', () => {
  // 10,000 devices on 3 nodes: each node's Swarm copy holds all 10,000, each hosts about a third.
  const hosted = [3_400, 3_300, 3_300];
  const state = stateOf(
    [pod(ip(1)), pod(ip(2)), pod(ip(3))],
    fullMesh([1, 2, 3]).map((entry, index) => ({
      ...entry,
      registries: [
        swarm(10_000, hosted[index]!),
        { registry: 'registry:MyApp.Sessions', count: 5 + index, hosted: null, replicated: false },
        { registry: 'global', count: 10, hosted: null, replicated: true },
      ],
    })),
  );
  const rows = membershipRows(state);

  it('shows what each node hosts, never the copy of the whole registry', () => {
    expect(
      rows.map((row) => row.registries.find((entry) => entry.registry === 'swarm')!.hosted),
    ).toEqual(hosted);
    for (const row of rows) {
      for (const entry of row.registries) expect(entry.hosted).not.toBe(10_000);
    }
  });

  it('keeps the copy’s size for the hover, and says which is which', () => {
    const swarmEntry = rows[0]!.registries.find((entry) => entry.registry === 'swarm')!;
    expect(swarmEntry).toMatchObject({ count: 10_000, replicated: true });
    expect(swarmEntry.title).toMatch(/3,400 names hosted on this node/);
    expect(swarmEntry.title).toMatch(/copy of the whole registry holds 10,000 names/);
  });

  it('counts a node-local registry where it lives, and leaves an uncounted copy unknown', () => {
    const local = rows[2]!.registries.find((entry) => entry.registry.startsWith('registry:'))!;
    expect(local).toMatchObject({ hosted: 7, count: 7, replicated: false });
    expect(local.title).toMatch(/7 keys, local to this node/);
    const global = rows[0]!.registries.find((entry) => entry.registry === 'global')!;
    expect(global.hosted).toBeNull();
    expect(global.title).toMatch(/hosted names unknown/);
  });

  it('sorts by what the nodes host', () => {
    expect(rows.map((row) => row.hosted)).toEqual([3_405, 3_306, 3_307]);
    const sorted = sortRows(rows, { column: 'hosted', direction: 'descending' });
    expect(sorted.map((row) => row.node)).toEqual([n(1), n(3), n(2)]);
  });
});
