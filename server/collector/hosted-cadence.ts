import 'server-only';

// When a probe counts hosted entries. A table's size costs a node the same at any size; counting
// which entries live on the node scans the whole table (and a Horde supervisor's children), a few
// milliseconds at 10,000 entries. Done at every probe, that alone would take a node past the
// 0.1 % of a scheduler beamscope allows itself; hosted counts change when something moves, so
// they are counted when a sign says something may have, and at least every `refreshMs`.

import type { BeamSide } from '@/lib/cluster-state';

/** Each registry's copy size, as one comparable string. */
const sizesOf = (side: BeamSide): string =>
  side.registries.map((entry) => `${entry.registry}=${entry.count}`).join(',');

interface Counted {
  at: number;
  sizes: string;
  sees: readonly string[] | null;
}

/** Decides, node by node, whether the next probe counts hosted entries. */
export class HostedCadence {
  private readonly counted = new Map<string, Counted>();

  constructor(private readonly refreshMs: number) {}

  /**
   * Whether the next probe of a node should count: never counted yet, the cluster unsettled (a
   * rebalance followed live, copies that disagree, hosted entries that do not add up), the copies' sizes or the node's peers changed since the last count (the
   * collector keeps a peer list's identity while it is unchanged), or the last count is older
   * than `refreshMs`.
   */
  due(node: string, side: BeamSide | undefined, now: number, unsettled: boolean): boolean {
    const last = this.counted.get(node);
    if (!last || !side || unsettled) return true;
    if (now - last.at >= this.refreshMs) return true;
    return sizesOf(side) !== last.sizes || side.sees !== last.sees;
  }

  /** Records that `side` (just probed at `at`) carries fresh hosted counts. */
  record(node: string, side: BeamSide, at: number): void {
    this.counted.set(node, { at, sizes: sizesOf(side), sees: side.sees });
  }

  forget(node: string): void {
    this.counted.delete(node);
  }
}
