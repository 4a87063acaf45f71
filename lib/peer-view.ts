/**
 * A node's peers held relative to what is expected, so that a whole mesh of N nodes costs O(N)
 * and not N² names or set entries.
 *
 * The form: an append-only {@link NodeTable} numbers every reporting node a mesh builder has
 * met (the nodes expected to list each other), and a node's view is "the first `prefix` nodes of
 * the table but me, except `missing`, plus `extra`" — `prefix` the table's size when the view
 * was built, `extra` the names it listed that are not in the table (nodes that do not report:
 * ghosts, another app's nodes, or the junk of a broken node's list). In a whole mesh every view
 * is "all the table but me": `missing` and `extra` are empty and the view is a few fields. A node
 * that joins later gets a larger index: views built before it do not cover it (they did not list
 * it), and the lists that name it change and are built again with the new prefix. Each side of
 * a clean netsplit misses the other side's names: a split costs what it removes.
 *
 * Why a table prefix rather than "the expected node set": the expected set moves with every
 * join and departure, and a view relative to it would have to be rebuilt for every node at
 * every such change (N² work at a 1,000-node start); a prefix of an append-only table never
 * moves under a view. Why only reporting nodes in the table: a name one node lists and nobody
 * else does (a capped, absurd list of thousands) then costs that node's view, not a `missing`
 * entry in every other view. Names of departed nodes stay in the table until the builder starts
 * a fresh one (see `MeshBuilder`), so `missing` stays short.
 */

/** Every node name met, each with a small integer id in order of first meeting. */
export class NodeTable {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  get size(): number {
    return this.names.length;
  }

  /** The name's id, adding it when new. */
  intern(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  idOf(name: string): number | undefined {
    return this.ids.get(name);
  }

  nameAt(id: number): string {
    return this.names[id]!;
  }
}

/**
 * Which table ids one list names, for the time of one `RelativePeers.of`: one array of stamps
 * reused by every call (views are built one at a time), not a set of a thousand ids per list —
 * at a start that was a million set entries of garbage.
 */
class IdMarks {
  private stamps = new Uint32Array(0);
  private stamp = 0;

  /** Clears the marks (of ids below `size`) and returns the marker. */
  next(size: number): this {
    if (this.stamps.length < size) {
      this.stamps = new Uint32Array(Math.max(size, 2 * this.stamps.length));
      this.stamp = 0;
    }
    if (this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 0;
    }
    this.stamp += 1;
    return this;
  }

  mark(id: number): void {
    this.stamps[id] = this.stamp;
  }

  has(id: number): boolean {
    return this.stamps[id] === this.stamp;
  }
}

const marks = new IdMarks();

/** A node's peers as "the table's first `prefix` nodes but me, except `missing`, plus `extra`". */
export class RelativePeers implements ReadonlySet<string> {
  private constructor(
    readonly table: NodeTable,
    readonly node: string,
    /** How many of the table's names the view covers; names past it are listed only in `extra`. */
    readonly prefix: number,
    /** Names inside the prefix (not the node itself) that the node does not list. */
    readonly missing: ReadonlySet<string>,
    /** Names the node lists that were not in the table when the view was built. */
    readonly extra: ReadonlySet<string>,
  ) {}

  /**
   * The view of `node` listing `sees` (any order; duplicates, the node itself and names not in
   * the table are fine). Costs one pass over the list and one over the table; holds only what
   * the node lists beyond the table and the table's names it does not list.
   */
  static of(table: NodeTable, node: string, sees: readonly string[]): RelativePeers {
    const self = table.intern(node);
    const prefix = table.size;
    const listed = marks.next(prefix);
    let others = 0;
    const extra = new Set<string>();
    for (const name of sees) {
      const id = table.idOf(name);
      if (id === undefined) extra.add(name);
      else if (!listed.has(id)) {
        listed.mark(id);
        if (id !== self) others += 1;
      }
    }
    const missing = new Set<string>();
    // In a whole mesh the list names the whole table but the node: nothing to look for.
    if (others < prefix - 1) {
      for (let id = 0; id < prefix; id += 1) {
        if (id !== self && !listed.has(id)) missing.add(table.nameAt(id));
      }
    }
    return new RelativePeers(table, node, prefix, missing, extra);
  }

  /** Whether `name`'s id is inside this view's prefix (the view then says whether it is listed). */
  covers(name: string): boolean {
    const id = this.table.idOf(name);
    return id !== undefined && id < this.prefix;
  }

  has(name: string): boolean {
    if (name === this.node) return false;
    return this.extra.has(name) || (this.covers(name) && !this.missing.has(name));
  }

  get size(): number {
    return this.prefix - 1 - this.missing.size + this.extra.size;
  }

  *[Symbol.iterator](): SetIterator<string> {
    for (let id = 0; id < this.prefix; id += 1) {
      const name = this.table.nameAt(id);
      if (name !== this.node && !this.missing.has(name)) yield name;
    }
    yield* this.extra;
  }

  keys(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  values(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  *entries(): SetIterator<[string, string]> {
    for (const name of this) yield [name, name];
  }

  forEach(visit: (value: string, key: string, set: ReadonlySet<string>) => void): void {
    for (const name of this) visit(name, name, this);
  }
}
