import 'server-only';

// The nodes still waiting for their first outcome — a start, or many pods listed at once —
// so that their state is built in a few large steps rather than once per probe reply.

/**
 * While nodes wait for their first outcome, the state is rebuilt at most this often: at 1,000
 * nodes a rebuild of a forming mesh costs 50–150 ms, and one per burst of probe replies (the
 * usual pause, five times its cost) took a fifth of the start's CPU away from the connections
 * and first probes. The state with every node in it is published as soon as the last one has
 * its outcome, not after this pause.
 */
export const FIRST_OUTCOMES_PAUSE_MS = 500;

/**
 * The tracked nodes whose first outcome is not known yet: listed, and neither probed once nor
 * failed to connect. A node that comes back later is not waited for again.
 */
export class FirstOutcomes {
  private readonly pending = new Set<string>();

  /** A node newly listed: it waits for its first outcome. */
  add(node: string): void {
    this.pending.add(node);
  }

  /** Whether any node still waits. */
  get waiting(): boolean {
    return this.pending.size > 0;
  }

  /**
   * The node has its first outcome (probed once, or its connection failed). True when it was
   * the last one waiting: the state should be built now.
   */
  settle(node: string): boolean {
    return this.pending.delete(node) && this.pending.size === 0;
  }

  /** A node no longer listed; true when the others have all had their outcome. */
  forget(node: string): boolean {
    return this.settle(node);
  }
}
