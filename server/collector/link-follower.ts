import 'server-only';

// Following each node's links from probe to probe: when a probe reads them, which queues it
// reads, their rates against the last reading, and the links dropped and made again between two
// readings. It runs where the probes run (the collector's distribution thread, or the collector
// itself for a manager on its own thread): a reading is a thousand counters at 1,000 nodes, and
// what leaves here is the node's busiest links and its flaps, a few dozen entries.

import type { PeerLink } from '@/lib/cluster-state';

import type { NodeProbeReport, ProbeOptions } from '../erlang/probes';
import { FlapDetector, type LinkFlap } from './link-flaps';
import { LinkTracker } from './links';

/** What the collector knows that decides a probe's reading of links. */
export interface LinkPlan {
  /** The node's peers at its last peer list; null before one was read. */
  knownPeers: number | null;
  clusterSize: number;
}

/** What a probe learned of a node's links, as the collector shows them. */
export interface LinkReading {
  /** Busiest first (see `LinkTracker.observe`); null when a reading failed or none exists yet. */
  links: PeerLink[] | null;
  /** Links dropped and made again since the last reading. */
  flaps: LinkFlap[];
}

export class LinkFollower {
  private readonly tracker = new LinkTracker();
  private readonly detector = new FlapDetector();

  /** The probe options that read (or skip) `node`'s links this time. */
  plan(node: string, plan: LinkPlan): Pick<ProbeOptions, 'links' | 'chooseQueues'> {
    const read = this.tracker.due(node, plan.knownPeers, plan.clusterSize);
    return read ? { links: true, chooseQueues: this.tracker.chooser(node) } : { links: false };
  }

  /**
   * Takes in the probe's report, read at `at` with `options` from {@link plan}; the report's
   * counters and controllers are not needed after this (see `slimLinks`).
   */
  follow(
    node: string,
    report: NodeProbeReport,
    options: Pick<ProbeOptions, 'links'>,
    at: number,
  ): LinkReading {
    if (!options.links) {
      this.tracker.skipped(node);
      return { links: this.tracker.last(node), flaps: [] };
    }
    if (!report.links) return { links: null, flaps: [] };
    return {
      flaps: this.detector.observe(node, report.links, at),
      links: this.tracker.observe(node, report.links, at),
    };
  }

  forget(node: string): void {
    this.tracker.forget(node);
    this.detector.forget(node);
  }
}

/**
 * The report without its links' counters and controllers, once they were followed: what the
 * collector still reads of them is the busy limit (and whether they were read at all).
 */
export function slimLinks(report: NodeProbeReport): NodeProbeReport {
  if (!report.links) return report;
  return { ...report, links: { ...report.links, counters: [], controllers: null, queues: [] } };
}
