/**
 * What the page's hot links cost it per delta at 1,000 members (issue 16's push: the page's side
 * of a change waits behind the render of the last probe delta, which replaces every node's BEAM
 * side). Each member reports 32 links, as the link probe reads them; each round is a new delta
 * (every side a new object, as a poll's delta makes them). Timed: `HotLinksBuilder.hot`, what
 * the page runs, against the reference join it must equal (`hotLinks(linkTraffic(members))`),
 * with varied rates and with every link at the same rate (a quiet mesh: ticks only, where names
 * break the ties). Medians and p99 over rounds, and their ratio; each round checks the two agree.
 *
 * Run alone: `npx tsx bench/hot-links.ts [--members 1000] [--rounds 200]`.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import type { ClusterMember, PeerLink } from '../lib/cluster-state';
import { HotLinksBuilder } from '../lib/hot-links';
import { hotLinks, linkTraffic } from '../lib/links';
import { countFlag } from './support/flags';
import { quantile, roundTo } from './support/stats';

const LINKS_PER_NODE = 32;

function nodeName(index: number): string {
  return `app@10.244.${index >> 8}.${index & 255}`;
}

/** A delta's members: every side new, rates drawn from `random` (or all one rate when flat). */
function membersOf(count: number, random: () => number, flat: boolean): ClusterMember[] {
  return Array.from({ length: count }, (_, index) => {
    const node = nodeName(index);
    const links: PeerLink[] = [];
    for (let step = 1; step <= LINKS_PER_NODE; step += 1) {
      links.push({
        peer: nodeName((index + step * 31) % count),
        inRate: flat ? 0.5 : Math.floor(random() * 50),
        outRate: flat ? 0.5 : Math.floor(random() * 50),
        queueBytes: random() < 0.5 ? 0 : null,
        since: 1,
      });
    }
    // Only what the hot links read: the node's BEAM side and its links.
    return { key: node, node, kubernetes: null, partition: 0, beam: { node, links } };
  }) as unknown as ClusterMember[];
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

function main(): void {
  const { values } = parseArgs({
    options: { members: { type: 'string' }, rounds: { type: 'string' } },
  });
  const members = countFlag('members', values.members, 1000);
  const rounds = countFlag('rounds', values.rounds, 200);
  const load = loadavg()[0]!.toFixed(2);
  for (const flat of [false, true]) {
    const builder = new HotLinksBuilder();
    const random = seeded(7);
    const timed = { page: [] as number[], reference: [] as number[] };
    for (let round = 0; round < rounds; round += 1) {
      const delta = membersOf(members, random, flat);
      let started = performance.now();
      const listed = builder.hot(delta, 5);
      timed.page.push(performance.now() - started);
      started = performance.now();
      const expected = hotLinks(linkTraffic(delta), 5);
      timed.reference.push(performance.now() - started);
      if (JSON.stringify(listed) !== JSON.stringify(expected))
        throw new Error(`round ${round}: the page's hot links differ from the reference join`);
    }
    const figure = (samples: number[]) =>
      `${roundTo(quantile(samples, 0.5)!, 2)} ms median, ${roundTo(quantile(samples, 0.99)!, 2)} ms p99`;
    const ratio = quantile(timed.reference, 0.5)! / quantile(timed.page, 0.5)!;
    process.stdout.write(
      `hot links, ${members} members × ${LINKS_PER_NODE} links, ${flat ? 'every link at one rate' : 'varied rates'}, ${rounds} deltas (load ${load}): page ${figure(timed.page)}; reference join ${figure(timed.reference)}; ${roundTo(ratio, 1)}× at the median\n`,
    );
  }
}

main();
