import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { diffTimeline } from '@/lib/cluster-diff';
import type { BeamSide, ClusterState, TimelineEventDraft } from '@/lib/cluster-state';
import { linkKey, type Mesh, MeshBuilder } from '@/lib/mesh';
import { linksOf, SAMPLE_SIZE, SUMMARY_THRESHOLD } from '@/lib/timeline-summary';

import { ip, n, pod, side, stateOf } from './fixtures';

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, offset) => from + offset);

/** Sides where each node sees every other node of its group. */
function groupsMesh(groups: number[][]): BeamSide[] {
  return groups.flatMap((group) => {
    const names = group.map(n);
    return group.map((i) =>
      side(
        n(i),
        names.filter((name) => name !== n(i)),
      ),
    );
  });
}

/** What a stream subscriber receives for these events, in bytes. */
const wireBytes = (event: TimelineEventDraft) => Buffer.byteLength(JSON.stringify(event));

/** Bytes one summary event may take on the wire, whatever the cluster's size. */
const EVENT_BYTES = 2048;

// Millions of peer names to build and compare: seconds on a busy machine, not a time asserted.
describe.each([1000, 2000])(
  'a %i-node mesh split in halves and healed',
  { timeout: 120_000 },
  (size) => {
    const half = size / 2;
    const crossing = half * half;
    let whole: ClusterState;
    let split: ClusterState;
    // One builder, as the collector holds: each state's mesh is built once.
    const meshes = new MeshBuilder();
    beforeAll(() => {
      const pods = range(1, size).map((i) => pod(ip(i)));
      whole = stateOf(pods, groupsMesh([range(1, size)]), 1000, meshes);
      split = stateOf(pods, groupsMesh([range(1, half), range(half + 1, size)]), 1000, meshes);
    }, 120_000);

    it('is one partition_detected event with the counts, and one partition_healed', () => {
      const detected = diffTimeline(whole, split, meshes);
      expect(detected.map((change) => change.event.kind)).toEqual(['partition_detected']);
      const event = detected[0]!.event;
      expect(event.message).toBe(
        `partition detected: ${half.toLocaleString('en-US')} | ${half.toLocaleString('en-US')} nodes, ${crossing.toLocaleString('en-US')} links down`,
      );
      expect(event.sideCount).toBe(2);
      expect(event.sides?.map((entry) => entry.count)).toEqual([half, half]);
      expect(event.links?.count).toBe(crossing);
      expect(event.links?.sample).toHaveLength(SAMPLE_SIZE);

      const healed = diffTimeline(split, whole, meshes);
      expect(healed.map((change) => change.event.kind)).toEqual(['partition_healed']);
      expect(healed[0]!.event.links?.count).toBe(crossing);
      expect(healed[0]!.event.message).toContain('rejoined');
    });

    it('keeps the stream bounded: each event under 2 KB, the full lists in its details', () => {
      const [change] = diffTimeline(whole, split, meshes);
      expect(wireBytes(change!.event)).toBeLessThan(EVENT_BYTES);
      const details = change!.details!;
      expect(details.sides?.map((entry) => entry.length)).toEqual([half, half]);
      expect(details.links?.packed.length).toBe(crossing);
      // Every link down crosses the sides, each once, in name order.
      const links = linksOf(details.links!);
      const left = new Set(range(1, half).map(n));
      expect(links.every(([a, b]) => left.has(a) !== left.has(b))).toBe(true);
      expect(new Set(links.map(([a, b]) => linkKey(a, b))).size).toBe(crossing);
      expect(links[0]).toEqual([n(1), n(half + 1)]);
    });
  },
);

describe('storms of member events', () => {
  it('tells up to the threshold one by one, and more as one event per kind', () => {
    const few = range(1, SUMMARY_THRESHOLD);
    const many = range(1, 120);
    const empty = stateOf([], []);
    const tenJoin = diffTimeline(
      empty,
      stateOf(
        few.map((i) => pod(ip(i))),
        groupsMesh([few]),
      ),
    );
    expect(tenJoin.filter((change) => change.event.kind === 'member_joined')).toHaveLength(10);

    const joined = stateOf(
      many.map((i) => pod(ip(i))),
      groupsMesh([many]),
    );
    const changes = diffTimeline(empty, joined);
    expect(changes.map((change) => change.event.kind)).toEqual(['member_joined', 'node_up']);
    const [join] = changes;
    expect(join!.event).toMatchObject({
      severity: 'info',
      members: { count: 120 },
      expandable: true,
    });
    expect(join!.event.message).toBe(
      '120 members joined: myapp-abc-1, myapp-abc-2, myapp-abc-3, myapp-abc-4, myapp-abc-5, … (+115 more)',
    );
    expect(join!.details?.members?.map((member) => member.node)).toEqual(many.map(n));
    expect(wireBytes(join!.event)).toBeLessThan(EVENT_BYTES);

    const left = diffTimeline(joined, empty);
    expect(left.map((change) => change.event.kind)).toEqual(['member_left']);
    expect(left[0]!.event.message).toMatch(/^120 members left: /);
  });

  it('folds a storm of links outside any partition into one event', () => {
    // A hub that everyone sees; the other nodes lose their links to each other but stay in one
    // component through the hub: 171 links down, no partition.
    const nodes = range(1, 20);
    const pods = nodes.map((i) => pod(ip(i)));
    const whole = stateOf(pods, groupsMesh([nodes]));
    const hub = stateOf(pods, [
      side(n(1), nodes.slice(1).map(n)),
      ...nodes.slice(1).map((i) => side(n(i), [n(1)])),
    ]);
    const changes = diffTimeline(whole, hub);
    expect(changes.map((change) => change.event.kind)).toEqual(['link_down']);
    expect(changes[0]!.event.links?.count).toBe(171);
    expect(changes[0]!.event.message).toMatch(
      /^171 links down: myapp@10\.0\.0\.2 — myapp@10\.0\.0\.3, /,
    );
    expect(linksOf(changes[0]!.details!.links!)).toHaveLength(171);
  });
});

describe('the events tell every changed link exactly once, first observations not (property)', () => {
  const NODES = 7;
  const links = fc.uniqueArray(
    fc
      .tuple(fc.integer({ min: 1, max: NODES }), fc.integer({ min: 1, max: NODES }))
      .filter(([a, b]) => a !== b),
    { maxLength: 30 },
  );
  // Each node's own list: some of the links it is an end of (the other end may not list it).
  const meshOf = (directed: Array<[number, number]>, down: number[]) =>
    range(1, NODES).map((i) =>
      down.includes(i)
        ? side(n(i), null, { connection: { status: 'unreachable', since: 1 } })
        : side(
            n(i),
            directed.filter(([from]) => from === i).map(([, to]) => n(to)),
          ),
    );
  // The mesh's links: what the reporting (connected) nodes list, whichever side lists it.
  const undirected = (directed: Array<[number, number]>, down: number[]) =>
    new Set(directed.filter(([from]) => !down.includes(from)).map(([a, b]) => linkKey(n(a), n(b))));

  it('holds for random meshes before and after', () => {
    const down = fc.uniqueArray(fc.integer({ min: 1, max: NODES }), { maxLength: 2 });
    fc.assert(
      fc.property(links, down, links, down, (before, downBefore, after, downAfter) => {
        const pods = range(1, NODES).map((i) => pod(ip(i)));
        const prev = stateOf(pods, meshOf(before, downBefore));
        const next = stateOf(pods, meshOf(after, downAfter));
        const was = undirected(before, downBefore);
        const is = undirected(after, downAfter);
        // Links between nodes in both meshes whose state changed.
        const inBoth = (key: string) => {
          const [a, b] = key.split('\u0000') as [string, string];
          const present = (state: typeof prev, node: string) =>
            state.partitions.some((group) => group.includes(node));
          return present(prev, a) && present(prev, b) && present(next, a) && present(next, b);
        };
        // A link neither of whose ends reported before is a first observation, not a change.
        const firstSeen = (key: string) =>
          !was.has(key) &&
          key.split('\u0000').every((node) => downBefore.some((i) => n(i) === node));
        const expected = [...new Set([...was, ...is])]
          .filter((key) => was.has(key) !== is.has(key) && inBoth(key) && !firstSeen(key))
          .sort();
        const told: string[] = [];
        for (const change of diffTimeline(prev, next)) {
          const { event, details } = change;
          if (event.link) told.push(linkKey(...event.link));
          if (details?.links) {
            for (const link of linksOf(details.links)) told.push(linkKey(...link));
            expect(event.links?.count).toBe(details.links.packed.length);
          }
        }
        expect(told.sort()).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

/** A builder that cannot say how many lists name a node: the events then read every list. */
class SlowMeshes extends MeshBuilder {
  override listedBy(_mesh: Mesh, _node: string): number | undefined {
    return undefined;
  }
}

describe('a first list in a forming mesh (property)', () => {
  const NODES = 9;
  // Which nodes have reported so far, before and after: a start, one poll at a time, with
  // some lists missing a few names (a mesh still forming, one-sided links).
  const reporters = fc.uniqueArray(fc.integer({ min: 1, max: NODES }), { maxLength: NODES });
  const gaps = fc.uniqueArray(
    fc
      .tuple(fc.integer({ min: 1, max: NODES }), fc.integer({ min: 1, max: NODES }))
      .filter(([a, b]) => a !== b),
    { maxLength: 8 },
  );
  const sidesOf = (reported: number[], missing: Array<[number, number]>) =>
    range(1, NODES).map((i) =>
      reported.includes(i)
        ? side(
            n(i),
            range(1, NODES)
              .filter((j) => j !== i && !missing.some(([a, b]) => a === i && b === j))
              .map(n),
          )
        : side(n(i), null, { connection: { status: 'unreachable', since: 1 } }),
    );

  it('tells the same events whether the counts skip whole lists or every list is read', () => {
    fc.assert(
      fc.property(reporters, reporters, gaps, gaps, (before, more, gapsBefore, gapsAfter) => {
        const pods = range(1, NODES).map((i) => pod(ip(i)));
        const after = [...new Set([...before, ...more])];
        const prev = stateOf(pods, sidesOf(before, gapsBefore));
        const next = stateOf(pods, sidesOf(after, gapsAfter));
        const fast = diffTimeline(prev, next, new MeshBuilder());
        const slow = diffTimeline(prev, next, new SlowMeshes());
        expect(fast).toEqual(slow);
      }),
      { numRuns: 300 },
    );
  });

  it('tells no link at a start of a whole mesh', () => {
    const nodes = range(1, 60);
    const pods = nodes.map((i) => pod(ip(i)));
    const meshes = new MeshBuilder();
    let state = stateOf(pods, sidesOf([], []), 1000, meshes);
    for (let reported = 7; reported <= 60; reported += 7) {
      const next = stateOf(pods, sidesOf(range(1, Math.min(reported, 60)), []), 1000, meshes);
      const kinds = diffTimeline(state, next, meshes).map((change) => change.event.kind);
      expect(
        kinds.filter((kind) => kind.startsWith('link_') || kind.startsWith('partition')),
      ).toEqual([]);
      state = next;
    }
  });
});
