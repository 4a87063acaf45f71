import 'server-only';

// Peer lists read against one table of the names met, rather than each list hashed and sorted
// on its own: every node of a 1,000-node cluster lists nearly the same thousand names, and
// fingerprinting each list character by character and sorting it (ten thousand comparisons of
// padded keys) cost a tenth of the collector's CPU at a start. Here a name costs one lookup.

import { compareNames, sortNames } from '@/lib/names';

/**
 * Past this many names met, the table starts afresh: names of departed nodes (and of the junk
 * in a broken node's list) do not accumulate without end.
 */
const MAX_NAMES = 20_000;

/**
 * Numbers every name met (ids in order of meeting) and keeps them in name order, so that a list
 * is fingerprinted from its ids and sorted as {@link compareNames} sorts it, each in a pass over
 * the list and one over the table; a list with new names merges them in first.
 */
export class NameOrder {
  private names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Every id whose name has been placed, in name order. */
  private ordered: number[] = [];
  /** Each placed id's position in `ordered`. */
  private rankOf = new Uint32Array(0);
  /** Counts the tables started: a fingerprint names its table, so two tables' never match. */
  private generation = 0;

  /** The ids of `names`, in the same order; new names are numbered. */
  idsOf(names: readonly string[]): Uint32Array {
    const ids = new Uint32Array(names.length);
    for (let at = 0; at < names.length; at += 1) {
      const name = names[at]!;
      let id = this.ids.get(name);
      if (id === undefined) {
        id = this.names.length;
        this.ids.set(name, id);
        this.names.push(name);
      }
      ids[at] = id;
    }
    // Too many names met: start afresh with this list's (once, whatever its own size).
    if (this.names.length > MAX_NAMES && this.names.length > names.length) {
      this.names = [];
      this.ids.clear();
      this.ordered = [];
      this.rankOf = new Uint32Array(0);
      this.generation += 1;
      return this.idsOf(names);
    }
    return ids;
  }

  /**
   * The fingerprint of a list from its ids (see {@link idsOf}): its ids in order through two
   * 32-bit multiplicative hashes, 64 bits, with the list's length and the table's generation.
   * Distinct names have distinct ids, so two lists share one only by a hash collision.
   */
  fingerprint(ids: Uint32Array): string {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ ids.length;
    for (const id of ids) {
      a = Math.imul(a ^ id, 0x01000193);
      b = Math.imul(b ^ id, 0x5bd1e995);
      b ^= b >>> 13;
    }
    return `${this.generation}:${ids.length}:${a >>> 0}:${b >>> 0}`;
  }

  /** The names of `ids` (from {@link idsOf}) sorted as {@link compareNames} does, duplicates kept. */
  sortIds(ids: Uint32Array): string[] {
    if (this.ordered.length < this.names.length) this.place();
    const counts = new Uint32Array(this.ordered.length);
    for (const id of ids) {
      const rank = this.rankOf[id]!;
      counts[rank] = counts[rank]! + 1;
    }
    const sorted: string[] = [];
    for (let rank = 0; rank < counts.length; rank += 1) {
      const name = this.names[this.ordered[rank]!]!;
      for (let times = counts[rank]!; times > 0; times -= 1) sorted.push(name);
    }
    return sorted;
  }

  /** `names` sorted as {@link compareNames} does (duplicates kept), a new array. */
  sort(names: readonly string[]): string[] {
    return this.sortIds(this.idsOf(names));
  }

  /** Merges the names not yet placed into the name order. */
  private place(): void {
    const fresh = sortNames(this.names.slice(this.ordered.length)).map((name) =>
      this.ids.get(name)!,
    );
    const before = this.ordered;
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < before.length || j < fresh.length) {
      const takeBefore =
        j >= fresh.length ||
        (i < before.length && compareNames(this.names[before[i]!]!, this.names[fresh[j]!]!) < 0);
      if (takeBefore) {
        merged.push(before[i]!);
        i += 1;
      } else {
        merged.push(fresh[j]!);
        j += 1;
      }
    }
    this.ordered = merged;
    this.rankOf = new Uint32Array(this.names.length);
    merged.forEach((id, rank) => {
      this.rankOf[id] = rank;
    });
  }
}
