import 'server-only';

// Peer lists put in name order against one sorted table of the names met, rather than each list
// sorted on its own: every node of a 1,000-node cluster lists nearly the same thousand names, and
// sorting each list cost ten thousand comparisons of padded keys per node at a start.

import { compareNames, sortNames } from '@/lib/names';

/**
 * Past this many names met, the table starts afresh: names of departed nodes (and of the junk
 * in a broken node's list) do not accumulate without end.
 */
const MAX_NAMES = 20_000;

/**
 * Sorts lists of names as {@link compareNames} does, each in a pass over the list and one over
 * the table of names met so far; a list with names new to the table adds them first (a merge).
 */
export class NameOrder {
  /** Every name met, sorted. */
  private order: string[] = [];
  private readonly rank = new Map<string, number>();

  /** `names` sorted (duplicates kept), a new array. */
  sort(names: readonly string[]): string[] {
    let fresh: Set<string> | undefined;
    for (const name of names) if (!this.rank.has(name)) (fresh ??= new Set()).add(name);
    if (fresh) {
      if (this.order.length + fresh.size > MAX_NAMES) {
        this.order = [];
        this.rank.clear();
        // Admit the whole list: names it shares with the old table were not counted as fresh.
        fresh = new Set(names);
      }
      this.admit(fresh);
    }
    const counts = new Uint32Array(this.order.length);
    for (const name of names) {
      const at = this.rank.get(name)!;
      counts[at] = counts[at]! + 1;
    }
    const sorted: string[] = [];
    for (let at = 0; at < counts.length; at += 1) {
      for (let times = counts[at]!; times > 0; times -= 1) sorted.push(this.order[at]!);
    }
    return sorted;
  }

  /** Merges `fresh` names (none in the table) into the table. */
  private admit(fresh: ReadonlySet<string>): void {
    const added = sortNames([...fresh]);
    const merged: string[] = [];
    let i = 0;
    let j = 0;
    while (i < this.order.length || j < added.length) {
      if (
        j >= added.length ||
        (i < this.order.length && compareNames(this.order[i]!, added[j]!) < 0)
      ) {
        merged.push(this.order[i]!);
        i += 1;
      } else {
        merged.push(added[j]!);
        j += 1;
      }
    }
    this.order = merged;
    merged.forEach((name, at) => this.rank.set(name, at));
  }
}
