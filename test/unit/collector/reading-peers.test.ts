import { describe, expect, it } from 'vitest';

import { heldPeerNames, readingPeers } from '@/server/collector/reading-peers';
import type { LinkCounter } from '@/server/erlang/probes';

import { forceGc } from '../fuzz/support';
import { n } from '../lib/fixtures';

const counters = (names: string[]): LinkCounter[] =>
  names.map((node) => ({ node, hidden: false, inPackets: 0, outPackets: 0 }));

describe('readingPeers (one table of peer names, ids per reading)', () => {
  it('reads back every name in the reading order, a name listed twice twice', () => {
    const names = [n(3), n(1), n(2), n(1)];
    const reading = counters(names);
    const peers = readingPeers(reading);
    expect(peers.length).toBe(4);
    expect(Array.from({ length: peers.length }, (_, slot) => peers.at(slot))).toEqual(names);
    // The link tracker and the flap detector share what they hold of one reading.
    expect(readingPeers(reading)).toBe(peers);
  });

  it('hands the names of readings no longer held back, so the table does not grow', async () => {
    await forceGc();
    const before = heldPeerNames();
    // Pods come and go: 20 rounds of 500 names never seen again.
    for (let round = 0; round < 20; round += 1) {
      const names = Array.from({ length: 500 }, (_, index) => `gone${round}_${index}@10.1.0.1`);
      expect(readingPeers(counters(names)).at(499)).toBe(names[499]);
    }
    const kept = readingPeers(counters([n(7), n(8)]));
    for (let round = 0; round < 20 && heldPeerNames() > before + 2; round += 1) await forceGc();
    expect(heldPeerNames()).toBeLessThanOrEqual(before + 2);
    expect([kept.at(0), kept.at(1)]).toEqual([n(7), n(8)]);
  });
});
