import 'server-only';

// When each node is probed: every connected node once per poll interval, a newly connected node
// ahead of the queue, never one node twice at a time, and as many probes in flight as it takes
// for a poll to end well inside its interval.

import PQueue from 'p-queue';

/**
 * How many probes run at once for a cluster of `nodes`. A probe mostly waits for replies: with a
 * fixed 4 in flight, 1,000 nodes took longer than the interval. So by default the concurrency
 * grows with the cluster, one per 16 nodes, from 4 to 64.
 */
export function probeConcurrency(nodes: number, fixed: number | undefined): number {
  return Math.max(1, fixed ?? Math.min(64, Math.max(4, Math.ceil(nodes / 16))));
}

/**
 * The fewest probes kept in flight for a cluster of `nodes` once it is started: one per 64 nodes,
 * at least 4, at most {@link probeConcurrency}'s. At 1,000 nodes 16 in flight ended a poll as
 * soon as 64 did (240 against 260 ms, the collector's CPU being the limit either way), and the
 * turns of the event loop that took in the replies were a quarter as long: 64 replies could
 * arrive together, and a Kubernetes watch event or a client's request waited behind all of them.
 */
export function leastProbeConcurrency(nodes: number): number {
  return Math.min(probeConcurrency(nodes, undefined), Math.max(4, Math.ceil(nodes / 64)));
}

/**
 * The concurrency for the next poll, from how the last went: doubled (up to `most`) when its
 * probes took more than half the interval or are not all done yet (slow or frozen nodes hold
 * their slots); halved (down to `least`) when they took a quarter of it or less.
 */
export function nextProbeConcurrency(
  current: number,
  bounds: { least: number; most: number },
  lastPollMs: number | null,
  intervalMs: number,
): number {
  if (lastPollMs === null || lastPollMs > intervalMs / 2) return Math.min(bounds.most, current * 2);
  if (lastPollMs <= intervalMs / 4) return Math.max(bounds.least, Math.ceil(current / 2));
  return Math.min(bounds.most, Math.max(bounds.least, current));
}

export interface ProbeSchedulerOptions {
  intervalMs: number;
  /**
   * A fixed concurrency, or `undefined`: as many as {@link probeConcurrency} allows at first (a
   * start connects every node at once), then as {@link nextProbeConcurrency} says at each poll.
   */
  concurrency: number | undefined;
  /** The nodes each poll probes (the connected ones). */
  due(): Iterable<string>;
  /** How many nodes the cluster has, which sizes the concurrency. */
  clusterSize(): number;
  probe(node: string): Promise<void>;
  /** Every probe queued has finished (a poll's last one, say). */
  idle?(): void;
}

const URGENT = 1;
const ROUTINE = 0;

/** Runs the probes of one cluster on a timer and on demand, with bounded concurrency. */
export class ProbeScheduler {
  private readonly queue = new PQueue();
  /** Nodes queued or being probed: a poll of 1,000 nodes must not queue a slow node twice. */
  private readonly waiting = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** The probes allowed in flight; null until the first is queued. */
  private concurrency: number | null = null;
  private polledAt: number | null = null;
  /** How long the last poll's probes took, all done; null while some are not. */
  private lastPollMs: number | null = null;

  constructor(private readonly options: ProbeSchedulerOptions) {
    this.queue.on('idle', () => {
      if (this.polledAt !== null && this.lastPollMs === null)
        this.lastPollMs = Date.now() - this.polledAt;
      options.idle?.();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = setInterval(() => this.poll(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops polling and drops the queued probes; those in flight finish on their own. */
  stop(): void {
    this.running = false;
    clearInterval(this.timer);
    this.queue.clear();
    this.waiting.clear();
  }

  /** Queues a probe of `node` unless one is already queued or running. */
  enqueue(node: string, urgent: boolean): void {
    if (!this.running || this.waiting.has(node)) return;
    this.waiting.add(node);
    this.queue.concurrency = this.boundedConcurrency();
    void this.queue.add(() => this.run(node), { priority: urgent ? URGENT : ROUTINE });
  }

  /** Probes in flight at once now (see `concurrency` in {@link ProbeSchedulerOptions}). */
  get inFlightBound(): number {
    return this.queue.concurrency;
  }

  private boundedConcurrency(): number {
    const { concurrency: fixed, clusterSize } = this.options;
    const nodes = clusterSize();
    if (fixed !== undefined) return probeConcurrency(nodes, fixed);
    const most = probeConcurrency(nodes, undefined);
    // Kept within the bounds of the cluster's size as it is now (a scale-up raises the least).
    this.concurrency = Math.min(
      most,
      Math.max(leastProbeConcurrency(nodes), this.concurrency ?? most),
    );
    return this.concurrency;
  }

  private poll(): void {
    if (
      this.options.concurrency === undefined &&
      this.concurrency !== null &&
      this.polledAt !== null
    ) {
      const nodes = this.options.clusterSize();
      this.concurrency = nextProbeConcurrency(
        this.concurrency,
        { least: leastProbeConcurrency(nodes), most: probeConcurrency(nodes, undefined) },
        this.lastPollMs,
        this.options.intervalMs,
      );
    }
    // Now, not at the next enqueue: the nodes due may all be still queued from the last poll.
    if (this.concurrency !== null) this.queue.concurrency = this.boundedConcurrency();
    this.polledAt = Date.now();
    this.lastPollMs = null;
    for (const node of this.options.due()) this.enqueue(node, false);
    // Nothing was due: the poll is over as it began.
    if (this.waiting.size === 0) this.lastPollMs = 0;
  }

  private async run(node: string): Promise<void> {
    try {
      await this.options.probe(node);
    } catch (error) {
      // A probe reports its failures in its result; one that throws is a bug, not a node's news.
      console.error(`beamscope: probing ${node} failed`, error);
    } finally {
      this.waiting.delete(node);
    }
  }
}
