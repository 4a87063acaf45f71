import { describe, expect, it } from 'vitest';

import { LinkTracker, linkReadEvery } from '@/server/collector/links';
import { phaseSteps } from '@/server/collector/phase';
import type { NodeProbeReport } from '@/server/erlang/probes';
import {
  factsOf,
  FULL_PEER_LISTS_UP_TO,
  PeerCadence,
  REGISTRY_EVERY_PROBES,
  RegistryCadence,
  VERSION_REFRESH_PROBES,
  VersionCadence,
} from '@/server/collector/probe-cadence';

import { n } from '../lib/fixtures';

const LARGE = 1000;

describe('PeerCadence', () => {
  it('reads every peer list at every probe in a small cluster', () => {
    const cadence = new PeerCadence();
    cadence.counted(n(1), 5, true);
    for (let probe = 0; probe < 5; probe += 1) {
      expect(cadence.listDue(n(1), FULL_PEER_LISTS_UP_TO, 5)).toBe(true);
      cadence.counted(n(1), 5, false);
    }
  });

  it('in a large cluster reads a list at first, when the count moves, and every peers/100 probes', () => {
    const cadence = new PeerCadence();
    expect(cadence.listDue(n(1), LARGE, null)).toBe(true);
    expect(cadence.counted(n(1), 1000, true)).toBe(false);
    // 999 peers: at least every 10 probes; the first of them at the node's point of the period.
    const quiet = (probes: number) => {
      for (let probe = 1; probe < probes; probe += 1) {
        expect(cadence.listDue(n(1), LARGE, 999)).toBe(false);
        expect(cadence.counted(n(1), 1000, false)).toBe(false);
      }
      expect(cadence.listDue(n(1), LARGE, 999)).toBe(true);
      cadence.counted(n(1), 1000, true);
    };
    quiet(10 - phaseSteps(n(1), 10));
    quiet(10);
    expect(cadence.listDue(n(1), LARGE, 999)).toBe(false);
    // The count moved: the caller reads the list in the same probe, then the count is the base.
    expect(cadence.counted(n(1), 501, false)).toBe(true);
    cadence.listed(n(1));
    expect(cadence.counted(n(1), 501, false)).toBe(false);
    // No count known (the table is missing): the list at every probe.
    cadence.counted(n(1), null, false);
    expect(cadence.listDue(n(1), LARGE, 500)).toBe(true);
  });

  it('reads the lists of the peers a changed list involves, even when their counts held', () => {
    const cadence = new PeerCadence();
    for (const node of [n(1), n(2), n(3), n(4)]) cadence.counted(node, 900, true);
    // n(1) lost n(2) and gained n(3): n(2) and n(3) read their lists next, n(4) does not.
    cadence.changed([n(2), n(4)], [n(3), n(4)]);
    expect(cadence.listDue(n(2), LARGE, 899)).toBe(true);
    expect(cadence.listDue(n(3), LARGE, 899)).toBe(true);
    expect(cadence.listDue(n(4), LARGE, 899)).toBe(false);
    cadence.counted(n(2), 900, true);
    expect(cadence.listDue(n(2), LARGE, 899)).toBe(false);
    // A reconnected node starts again from a full read.
    cadence.forget(n(4));
    expect(cadence.listDue(n(4), LARGE, 899)).toBe(true);
  });
});

describe('VersionCadence', () => {
  it('asks versions and missing registries once per connection, again every so many probes', () => {
    const cadence = new VersionCadence();
    const facts = {
      versions: { otpRelease: '27', elixirVersion: null, netTicktimeSeconds: 60 },
      absent: new Set(['syn'] as const),
    };
    expect(cadence.reuse(n(1), LARGE)).toBeUndefined();
    // The connection's first facts are asked again at the node's point of the period, then
    // every VERSION_REFRESH_PROBES.
    const reused = (probes: number) => {
      cadence.record(n(1), facts);
      for (let probe = 1; probe < probes; probe += 1) {
        expect(cadence.reuse(n(1), LARGE)).toEqual(facts);
      }
      expect(cadence.reuse(n(1), LARGE)).toBeUndefined();
    };
    reused(VERSION_REFRESH_PROBES - phaseSteps(n(1), VERSION_REFRESH_PROBES));
    reused(VERSION_REFRESH_PROBES);
    // A version that failed: the next probe asks again.
    cadence.record(n(1), undefined);
    expect(cadence.reuse(n(1), LARGE)).toBeUndefined();
    cadence.record(n(1), facts);
    expect(cadence.reuse(n(1), FULL_PEER_LISTS_UP_TO)).toBeUndefined();
    cadence.forget(n(1));
    expect(cadence.reuse(n(1), LARGE)).toBeUndefined();
  });

  it('takes as absent only the registries a probe found absent, and no facts when a version failed', () => {
    const report = {
      otpRelease: '27',
      elixirVersion: null,
      netTicktimeSeconds: 60,
      errors: {},
      registries: {
        global: { status: 'present', names: 1, hostedHere: 0 },
        swarm: { status: 'absent' },
        pg: { status: 'error', error: { code: 'timeout', message: 'timed out' } },
        syn: { status: 'absent' },
      },
    } as unknown as NodeProbeReport;
    expect(factsOf(report)).toEqual({
      versions: { otpRelease: '27', elixirVersion: null, netTicktimeSeconds: 60 },
      absent: new Set(['swarm', 'syn']),
    });
    expect(
      factsOf({ ...report, errors: { otpRelease: { code: 'timeout', message: 'timed out' } } }),
    ).toBeUndefined();
  });
});

describe('RegistryCadence', () => {
  it('reads registries at every probe when small or unsettled, else every few probes', () => {
    const cadence = new RegistryCadence();
    const reads = (clusterSize: number, mustRead: boolean, probes: number) =>
      Array.from({ length: probes }, () => cadence.due(n(1), clusterSize, mustRead));
    expect(reads(FULL_PEER_LISTS_UP_TO, false, 4)).toEqual([true, true, true, true]);
    cadence.forget(n(1));
    const settled = reads(LARGE, false, 2 * REGISTRY_EVERY_PROBES);
    expect(settled.filter(Boolean)).toHaveLength(2);
    expect(settled[0]).toBe(true);
    expect(reads(LARGE, true, 3)).toEqual([true, true, true]);
  });
});

describe('the phase of a periodic read', () => {
  it("spreads the first reads of a cluster's nodes over the period", () => {
    const nodes = Array.from(
      { length: 1000 },
      (_, index) => `myapp@10.244.${index >> 8}.${index & 255}`,
    );
    for (const period of [3, 10, 20, 30]) {
      const perStep = new Array<number>(period).fill(0);
      for (const node of nodes) {
        const steps = phaseSteps(node, period);
        expect(steps).toBeGreaterThanOrEqual(0);
        expect(steps).toBeLessThan(period);
        perStep[steps]! += 1;
      }
      // No step holds more than twice its share, and none is empty.
      for (const count of perStep) {
        expect(count).toBeGreaterThan(0);
        expect(count).toBeLessThanOrEqual((2 * nodes.length) / period);
      }
    }
    expect(phaseSteps('any@node', 1)).toBe(0);
  });
});

describe('LinkTracker.due', () => {
  it('keeps the links read per interval bounded as the cluster grows', () => {
    // Probes from one reading to the next (after a first, read at the node's point of the period).
    const every = (peers: number, clusterSize: number) => {
      const tracker = new LinkTracker();
      const reading = { counters: [], truncated: false, busyLimitBytes: null, queues: [] };
      const probesToRead = () => {
        let probes = 1;
        while (!tracker.due(n(1), peers, clusterSize)) {
          tracker.skipped(n(1));
          probes += 1;
        }
        tracker.observe(n(1), { ...reading, controllers: null }, 0);
        return probes;
      };
      expect(probesToRead()).toBe(
        linkReadEvery(peers, clusterSize) - phaseSteps(n(1), linkReadEvery(peers, clusterSize)),
      );
      return probesToRead();
    };
    expect(every(4, 5)).toBe(1);
    expect(every(999, 100)).toBe(10);
    expect(every(999, 1000)).toBe(20);
    expect(every(1999, 2000)).toBe(80);
    // Peers not known yet: read at once in a small cluster, wait for them in a large one.
    expect(new LinkTracker().due(n(1), null, 50)).toBe(true);
    expect(new LinkTracker().due(n(1), null, LARGE)).toBe(false);
  });
});
