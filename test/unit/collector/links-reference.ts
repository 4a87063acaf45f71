// The link tracker as it was before its links became columns (server/collector/links.ts at
// 208da11), kept whole as the definition the compact one is checked against; its round robin of
// queue reads as it has been since it stopped sorting the names at every reading.

import type { PeerLink } from '@/lib/cluster-state';
import { isBusyLink } from '@/lib/links';
import { compareNames } from '@/lib/names';

import type { LinkReport, QueueChoice } from '@/server/erlang/probes';
import { busiestByCount, MAX_QUEUE_READS } from '@/server/erlang/probes';
import { LINKS_PER_NODE, RATE_WINDOW_MS } from '@/server/collector/links';

interface Reading {
  at: number;
  inPackets: number;
  outPackets: number;
  since: number;
}

interface NodeLinks {
  readings: Map<string, Reading>;
  links: Map<string, PeerLink>;
  /** The links as last shown: busiest first, at most {@link LINKS_PER_NODE}. */
  shown: PeerLink[] | null;
  /** Probes since the links were last read. */
  skipped: number;
  /** Where the round-robin of queue reads stands: the peer it read last. */
  cursor: string | null;
}

function roundRate(rate: number): number {
  if (rate === 0) return 0;
  const magnitude = 10 ** (Math.floor(Math.log10(Math.abs(rate))) - 1);
  return Math.round(rate / magnitude) * magnitude;
}

const activity = (link: PeerLink): number => (link.inRate ?? 0) + (link.outRate ?? 0);

/** The tracker as it was, one object per link (main at 208da11): the definition. */
export class ReferenceLinkTracker {
  private readonly nodes = new Map<string, NodeLinks>();

  private of(node: string): NodeLinks {
    let entry = this.nodes.get(node);
    if (!entry) {
      entry = { readings: new Map(), links: new Map(), shown: null, skipped: 0, cursor: null };
      this.nodes.set(node, entry);
    }
    return entry;
  }

  /**
   * The next probe's choice of port queues to read: links queued last time, then the ones with
   * the most traffic (by rate, or by packets sent before there is a rate), then one more in turn
   * so that every link's queue is read now and then — a link stuck with a full buffer sends
   * nothing, so its rate alone would never pick it.
   */
  chooser(node: string): QueueChoice {
    const entry = this.of(node);
    return (counters) => {
      const present = new Set(counters.map((counter) => counter.node));
      const known = [...entry.links.values()].filter((link) => present.has(link.peer));
      const chosen = new Set<string>();
      for (const link of known) if ((link.queueBytes ?? 0) > 0) chosen.add(link.peer);
      const byRate = known.filter((link) => activity(link) > 0);
      const busiest =
        byRate.length > 0
          ? byRate.sort((x, y) => activity(y) - activity(x)).map((link) => link.peer)
          : busiestByCount(counters);
      for (const peer of busiest.slice(0, 2)) chosen.add(peer);
      // The turn (since the 1,000-node push work): the first name not chosen after the last one
      // taken, in code-unit order, round again past the end.
      if (chosen.size < MAX_QUEUE_READS) {
        const names = counters
          .map((counter) => counter.node)
          .filter((name) => !chosen.has(name))
          .sort();
        const cursor = entry.cursor;
        const taken = names.find((name) => cursor !== null && name > cursor) ?? names[0];
        if (taken !== undefined) {
          chosen.add(taken);
          entry.cursor = taken;
        }
      }
      return [...chosen].slice(0, MAX_QUEUE_READS);
    };
  }

  /**
   * The node's links after a reading at `at`: rates against the last reading, each connection's
   * first sighting kept while it stays up (a counter that went backwards is a new connection),
   * queues where read, the last queue reading elsewhere. Busiest first, at most
   * {@link LINKS_PER_NODE}.
   */
  observe(node: string, report: LinkReport, at: number): PeerLink[] {
    const entry = this.of(node);
    entry.skipped = 0;
    const queues = new Map(report.queues.map((queue) => [queue.node, queue.queueBytes]));
    const readings = new Map<string, Reading>();
    const links = new Map<string, PeerLink>();
    for (const counter of report.counters) {
      const last = entry.readings.get(counter.node);
      const continued =
        last !== undefined &&
        counter.inPackets >= last.inPackets &&
        counter.outPackets >= last.outPackets;
      const previous = continued ? entry.links.get(counter.node) : undefined;
      const since = continued ? last.since : at;
      const queueBytes = queues.get(counter.node) ?? previous?.queueBytes ?? null;
      if (continued && at - last.at < RATE_WINDOW_MS) {
        // Too soon for a new rate: the window goes on from the last reading.
        readings.set(counter.node, last);
        links.set(counter.node, {
          peer: counter.node,
          inRate: previous?.inRate ?? null,
          outRate: previous?.outRate ?? null,
          queueBytes,
          since,
        });
        continue;
      }
      const seconds = continued ? (at - last.at) / 1000 : 0;
      const rate = (now: number, before: number) =>
        continued && seconds > 0 ? roundRate((now - before) / seconds) : null;
      readings.set(counter.node, {
        at,
        inPackets: counter.inPackets,
        outPackets: counter.outPackets,
        since,
      });
      links.set(counter.node, {
        peer: counter.node,
        inRate: rate(counter.inPackets, last?.inPackets ?? 0),
        outRate: rate(counter.outPackets, last?.outPackets ?? 0),
        queueBytes,
        since,
      });
    }
    entry.readings = readings;
    entry.links = links;
    entry.shown = [...links.values()]
      .sort(
        (x, y) =>
          Number(isBusyLink(y)) - Number(isBusyLink(x)) ||
          activity(y) - activity(x) ||
          compareNames(x.peer, y.peer),
      )
      .slice(0, LINKS_PER_NODE);
    return entry.shown;
  }

  /** The links last shown for a node, for a probe that did not read them. */
  last(node: string): PeerLink[] | null {
    return this.nodes.get(node)?.shown ?? null;
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }
}
