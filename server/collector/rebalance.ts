import 'server-only';

// Following a registry's rebalance after the membership changed: which nodes joined or left,
// how many entries have moved, how fast, how long until the spread is even, and — once the
// hosted counts hold still — one timeline event that says what happened.

import type { RegistryRebalance, RegistrySummary, TimelineEventDraft } from '@/lib/cluster-state';
import { formatCount } from '@/lib/format';
import { registryLabel, registryUnit } from '@/lib/registries';

/** How long hosted counts must hold still before a rebalance counts as done. */
const SETTLED_AFTER_MS = 3000;
/** A rebalance still moving after this long is reported as it stands and no longer followed. */
const GIVE_UP_AFTER_MS = 10 * 60_000;
/** The window the rate of moves is measured over. */
const RATE_WINDOW_MS = 5000;

interface Episode {
  registry: string;
  cause: RegistryRebalance['cause'];
  since: number;
  nodes: string[];
  /** Hosted entries per node when the membership changed (0 for a node that just joined). */
  start: Map<string, number>;
  moved: number;
  /** When the hosted counts last changed. */
  changedAt: number;
  last: Map<string, number>;
  samples: Array<{ at: number; moved: number }>;
  etaMs: number | null;
}

/** What a registry's main partition hosts, per node; only nodes that could count. */
function hostedByNode(summary: RegistrySummary, main: ReadonlySet<string>): Map<string, number> {
  const hosted = new Map<string, number>();
  for (const share of summary.shares) {
    if (main.has(share.node) && share.hosted !== null) hosted.set(share.node, share.hosted);
  }
  return hosted;
}

const sameCounts = (a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>) =>
  a.size === b.size && [...a].every(([node, count]) => b.get(node) === count);

/** `4.2 s`, `2 min 5 s`: how long a rebalance took. */
function duration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/**
 * Follows every registry's hosted counts from one state to the next. A change in which nodes of
 * the main partition host a registry starts an episode; entries that arrive on a node (beyond
 * what it hosted when the membership changed) count as moved; the episode ends, with one event,
 * when the counts have held still for a few seconds.
 */
export class RebalanceTracker {
  /** Each registry's hosted counts at the last observation: a rebalance starts from them. */
  private readonly previous = new Map<string, Map<string, number>>();
  private readonly episodes = new Map<string, Episode>();

  /** The rebalances under way, for the state. */
  current(): RegistryRebalance[] {
    return [...this.episodes.values()].map((episode) => ({
      registry: episode.registry,
      cause: episode.cause,
      since: episode.since,
      nodes: episode.nodes,
      moved: episode.moved,
      ratePerSecond: rateOf(episode),
      etaMs: episode.etaMs,
    }));
  }

  /** The listed pods' nodes at the last observation: scale-ups and -downs change these. */
  private listed: ReadonlyMap<string, string> | undefined;
  /**
   * Every pod ever listed, by its identity (uid). A scaled-up pod is a new pod, whatever its
   * node's name (a new pod may reuse a gone one's IP); one that comes back after a restart or an
   * unready spell is the same pod, not a scale-up.
   */
  private readonly seen = new Set<string>();

  /**
   * Takes a new state at `now` — its registries, the nodes of its main partition (`main`, where
   * hosted entries are counted) and the pods Kubernetes lists, terminating ones left out, as
   * node → pod identity (`listed`) — and returns the timeline events of rebalances that finished. Only
   * pods starts a rebalance: a new pod, or a pod gone or terminating. A netsplit moves nodes out
   * of the main partition and an unready pod stays listed: neither scales anything.
   */
  observe(
    summaries: readonly RegistrySummary[],
    main: ReadonlySet<string>,
    listed: ReadonlyMap<string, string>,
    now: number,
  ): TimelineEventDraft[] {
    const events: TimelineEventDraft[] = [];
    const joined = this.listed
      ? [...listed].filter(([, pod]) => !this.seen.has(pod)).map(([node]) => node)
      : [];
    const left = this.listed ? [...this.listed.keys()].filter((node) => !listed.has(node)) : [];
    this.listed = listed;
    for (const pod of listed.values()) this.seen.add(pod);
    for (const summary of summaries) {
      if (!summary.replicated && !summary.registry.startsWith('horde_supervisor:')) continue;
      const hosted = hostedByNode(summary, main);
      const before = this.previous.get(summary.registry);
      this.previous.set(summary.registry, hosted);
      if (hosted.size === 0) continue;
      let episode = this.episodes.get(summary.registry);
      const cause = joined.length > 0 ? 'scale_up' : left.length > 0 ? 'scale_down' : null;
      if (before && cause && episode?.cause === cause) {
        // More of the same while it runs (pods become ready one by one): one rebalance, from the
        // counts before the first change, over every node that joined or left.
        const nodes = cause === 'scale_up' ? joined : left;
        episode.nodes = [...new Set([...episode.nodes, ...nodes])];
        for (const node of joined) if (!episode.start.has(node)) episode.start.set(node, 0);
        episode.changedAt = now;
      } else if (before && cause) {
        // Moves count from the counts before the change: the first state after it may already
        // show some of them (a leaving node's names restarted elsewhere).
        const start = new Map(before);
        for (const node of joined) start.set(node, 0);
        episode = {
          registry: summary.registry,
          cause,
          since: now,
          nodes: cause === 'scale_up' ? joined : left,
          start,
          moved: 0,
          changedAt: now,
          last: new Map(before),
          samples: [{ at: now, moved: 0 }],
          etaMs: null,
        };
        this.episodes.set(summary.registry, episode);
      }
      if (!episode) continue;
      this.advance(episode, hosted, now);
      // A new node must be there (connected and counted) before its registry can be settled.
      const waiting =
        episode.cause === 'scale_up' && episode.nodes.some((node) => !hosted.has(node));
      const done =
        (!waiting && now - episode.changedAt >= SETTLED_AFTER_MS) ||
        now - episode.since >= GIVE_UP_AFTER_MS;
      if (done) {
        this.episodes.delete(summary.registry);
        if (episode.moved > 0) events.push(finishedEvent(episode, now));
      }
    }
    for (const registry of this.episodes.keys()) {
      if (!summaries.some((summary) => summary.registry === registry))
        this.episodes.delete(registry);
    }
    return events;
  }

  private advance(episode: Episode, hosted: Map<string, number>, now: number): void {
    if (!sameCounts(hosted, episode.last)) {
      episode.changedAt = now;
      episode.last = new Map(hosted);
    }
    let moved = 0;
    for (const [node, count] of hosted)
      moved += Math.max(0, count - (episode.start.get(node) ?? 0));
    episode.moved = moved;
    episode.samples.push({ at: now, moved });
    while (episode.samples.length > 2 && now - episode.samples[0]!.at > RATE_WINDOW_MS)
      episode.samples.shift();
    const rate = rateOf(episode);
    // What is left: the entries each node still needs to reach an even share.
    const total = [...hosted.values()].reduce((sum, count) => sum + count, 0);
    const even = total / Math.max(1, hosted.size);
    const remaining = [...hosted.values()].reduce(
      (sum, count) => sum + Math.max(0, Math.floor(even) - count),
      0,
    );
    episode.etaMs =
      remaining === 0
        ? 0
        : rate !== null && rate > 0
          ? Math.round((remaining / rate) * 1000)
          : null;
  }
}

function rateOf(episode: Episode): number | null {
  const first = episode.samples[0];
  const last = episode.samples.at(-1);
  if (!first || !last || last.at - first.at < 500) return null;
  // Entries can move back (a name handed on twice); the rate says how fast the move goes on.
  return Math.max(0, Math.round(((last.moved - first.moved) / (last.at - first.at)) * 1000));
}

function finishedEvent(episode: Episode, now: number): TimelineEventDraft {
  const took = duration(Math.max(0, episode.changedAt - episode.since));
  const unit = registryUnit(episode.registry);
  const count = episode.nodes.length;
  const where =
    episode.cause === 'scale_up'
      ? `to ${count} new node${count === 1 ? '' : 's'}`
      : `off ${count} leaving node${count === 1 ? '' : 's'}`;
  const unsettled = now - episode.changedAt < SETTLED_AFTER_MS ? ' (still moving)' : '';
  return {
    kind: 'registry_rebalanced',
    severity: 'info',
    message: `${registryLabel(episode.registry)} rebalance after ${episode.cause === 'scale_up' ? 'scale-up' : 'scale-down'}: ${formatCount(episode.moved)} ${unit} moved ${where} in ${took}${unsettled}`,
  };
}
