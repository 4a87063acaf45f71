import 'server-only';

// When each node is probed: every connected node once per poll interval, a newly connected node
// ahead of the queue, never one node twice at a time, and more probes in flight as the cluster
// grows.

import PQueue from 'p-queue';

/**
 * How many probes run at once for a cluster of `nodes`. A probe mostly waits for replies: with a
 * fixed 4 in flight, 1,000 nodes took longer than the interval. So by default the concurrency
 * grows with the cluster, one per 16 nodes, from 4 to 64.
 */
export function probeConcurrency(nodes: number, fixed: number | undefined): number {
  return Math.max(1, fixed ?? Math.min(64, Math.max(4, Math.ceil(nodes / 16))));
}

export interface ProbeSchedulerOptions {
  intervalMs: number;
  /** A fixed concurrency, or `undefined` for {@link probeConcurrency}'s default. */
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

  constructor(private readonly options: ProbeSchedulerOptions) {
    const { idle } = options;
    if (idle) this.queue.on('idle', () => idle());
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
    this.queue.concurrency = probeConcurrency(this.options.clusterSize(), this.options.concurrency);
    void this.queue.add(() => this.run(node), { priority: urgent ? URGENT : ROUTINE });
  }

  private poll(): void {
    for (const node of this.options.due()) this.enqueue(node, false);
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
