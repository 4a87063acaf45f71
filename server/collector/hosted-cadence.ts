import 'server-only';

// When a probe counts hosted entries. A table's size costs a node the same at any size; counting
// which entries live on the node scans the whole table (and a Horde supervisor's children), a few
// milliseconds at 10,000 entries. Done at every probe, that alone would take a node past the
// 0.1 % of a scheduler beamscope allows itself; hosted counts change when something moves, so
// they are counted when a sign says something may have, and at least every `refreshMs`. While
// names move (a rebalance) they are counted at every probe so the page follows the move. While
// something is off (copies that disagree, hosted entries that do not add up) they are counted
// at every probe too, but a node whose counts came back unchanged waits longer each time: a
// netsplit that lasts leaves the hosted entries short of the copies' size for as long as it
// lasts, and counting every node at every probe through it cost each node several times its
// budget.

import type { BeamSide } from '@/lib/cluster-state';

/** Each registry's copy size, as one comparable string. */
const sizesOf = (side: BeamSide): string =>
  side.registries.map((entry) => `${entry.registry}=${entry.count}`).join(',');

/** Each registry's hosted entries, as one comparable string. */
const hostedOf = (side: BeamSide): string =>
  side.registries.map((entry) => `${entry.registry}=${entry.hosted}`).join(',');

/**
 * The cluster's registries: `moving` while a rebalance is followed, `off` while copies disagree
 * or hosted entries do not add up to the copies' size.
 */
export type Unsettled = 'settled' | 'moving' | 'off';

/**
 * While `off`, a node whose last count found nothing moved waits this long before the next,
 * doubling with each unchanged count up to {@link UNSETTLED_LONGEST_WAIT_MS}.
 */
export const UNSETTLED_FIRST_WAIT_MS = 2_000;
export const UNSETTLED_LONGEST_WAIT_MS = 16_000;

interface Counted {
  at: number;
  sizes: string;
  sees: readonly string[] | null;
  hosted: string;
  /** Counts in a row that found the same hosted entries as the one before. */
  unchanged: number;
}

/** Decides, node by node, whether the next probe counts hosted entries. */
export class HostedCadence {
  private readonly counted = new Map<string, Counted>();

  constructor(private readonly refreshMs: number) {}

  /**
   * Whether the next probe of a node should count: never counted yet, the copies' sizes or the
   * node's peers changed since the last count (the collector keeps a peer list's identity while
   * it is unchanged), the last count older than `refreshMs`, a rebalance followed live, or
   * something off and the node's wait over: none while its counts move, doubling while they
   * stay the same.
   */
  due(node: string, side: BeamSide | undefined, now: number, unsettled: Unsettled): boolean {
    const last = this.counted.get(node);
    if (!last || !side) return true;
    const age = now - last.at;
    if (age >= this.refreshMs) return true;
    if (sizesOf(side) !== last.sizes || side.sees !== last.sees) return true;
    if (unsettled === 'settled') return false;
    if (unsettled === 'moving' || last.unchanged === 0) return true;
    const wait = Math.min(
      UNSETTLED_LONGEST_WAIT_MS,
      UNSETTLED_FIRST_WAIT_MS * 2 ** (last.unchanged - 1),
    );
    return age >= wait;
  }

  /** Records that `side` (just probed at `at`) carries fresh hosted counts. */
  record(node: string, side: BeamSide, at: number): void {
    const last = this.counted.get(node);
    const hosted = hostedOf(side);
    const unchanged = last && last.hosted === hosted ? last.unchanged + 1 : 0;
    this.counted.set(node, { at, sizes: sizesOf(side), sees: side.sees, hosted, unchanged });
  }

  forget(node: string): void {
    this.counted.delete(node);
  }
}
