import { describe, expect, it } from 'vitest';

import { LinkTracker } from '@/server/collector/links';
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
    // 999 peers: at least every 10 probes.
    for (let probe = 1; probe < 10; probe += 1) {
      expect(cadence.listDue(n(1), LARGE, 999)).toBe(false);
      expect(cadence.counted(n(1), 1000, false)).toBe(false);
    }
    expect(cadence.listDue(n(1), LARGE, 999)).toBe(true);
    cadence.counted(n(1), 1000, true);
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
    cadence.record(n(1), facts);
    for (let probe = 1; probe < VERSION_REFRESH_PROBES; probe += 1) {
      expect(cadence.reuse(n(1), LARGE)).toEqual(facts);
    }
    expect(cadence.reuse(n(1), LARGE)).toBeUndefined();
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

describe('LinkTracker.due', () => {
  it('keeps the links read per interval bounded as the cluster grows', () => {
    const every = (peers: number, clusterSize: number) => {
      const tracker = new LinkTracker();
      let probes = 1;
      while (!tracker.due(n(1), peers, clusterSize)) {
        tracker.skipped(n(1));
        probes += 1;
      }
      return probes;
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
