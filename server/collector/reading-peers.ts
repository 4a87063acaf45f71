import 'server-only';

// The peers of a links reading, in its order, as small numbers. The link tracker and the flap
// detector each hold a node's last `nodes_info` reading by peer: at 1,000 nodes in a whole mesh a
// million names each. As two arrays of strings (grown by `push`, with their slack) they held
// 20 MB of the heap, 80 MB at 2,000; as one array of 16-bit ids per reading, shared by both,
// 2 MB outside the heap. The ids index one table of names, counted by the readings that use them
// and handed back once none does (a reading is let go when the garbage collector finds it
// unreachable), so pods that come and go over months do not grow it.

import type { LinkCounter } from '../erlang/probes';

/** Peer names by position. */
export interface PeerNames {
  readonly length: number;
  at(slot: number): string;
}

/** Every name some held reading lists, by id; ids are reused once no reading lists them. */
class NameTable {
  private readonly idOf = new Map<string, number>();
  private readonly names: Array<string | undefined> = [];
  private readonly uses: number[] = [];
  private readonly unused: number[] = [];
  private readonly readings = new FinalizationRegistry<Uint16Array | Uint32Array>((ids) =>
    this.release(ids),
  );

  /** The names' ids, each name counted once more; released when `holder` is collected. */
  acquire(names: readonly string[], holder: object): Uint16Array | Uint32Array {
    const ids: number[] = new Array<number>(names.length);
    let largest = 0;
    for (const [slot, name] of names.entries()) {
      let id = this.idOf.get(name);
      if (id === undefined) {
        id = this.unused.pop() ?? this.names.length;
        this.idOf.set(name, id);
        this.names[id] = name;
        this.uses[id] = 0;
      }
      this.uses[id]! += 1;
      ids[slot] = id;
      if (id > largest) largest = id;
    }
    const packed = largest < 0x1_0000 ? Uint16Array.from(ids) : Uint32Array.from(ids);
    this.readings.register(holder, packed);
    return packed;
  }

  name(id: number): string {
    return this.names[id]!;
  }

  private release(ids: Uint16Array | Uint32Array): void {
    for (const id of ids) {
      this.uses[id]! -= 1;
      if (this.uses[id] === 0) {
        this.idOf.delete(this.names[id]!);
        this.names[id] = undefined;
        this.unused.push(id);
      }
    }
  }

  /** Names held now (for tests: the table gives ids back). */
  get size(): number {
    return this.idOf.size;
  }
}

const table = new NameTable();

class ReadingPeers implements PeerNames {
  private readonly ids: Uint16Array | Uint32Array;

  constructor(names: readonly string[]) {
    this.ids = table.acquire(names, this);
  }

  get length(): number {
    return this.ids.length;
  }

  at(slot: number): string {
    return table.name(this.ids[slot]!);
  }
}

/** A plain array of names as {@link PeerNames} (a reading that lists a peer twice). */
export class PeerArray implements PeerNames {
  constructor(private readonly names: readonly string[]) {}
  get length(): number {
    return this.names.length;
  }
  at(slot: number): string {
    return this.names[slot]!;
  }
}

export const NO_PEERS: PeerNames = new PeerArray([]);

const peersOf = new WeakMap<readonly LinkCounter[], PeerNames>();

/** The peers of a reading's counters, in their order: the same object for the same counters. */
export function readingPeers(counters: readonly LinkCounter[]): PeerNames {
  let peers = peersOf.get(counters);
  if (!peers) {
    peers = new ReadingPeers(counters.map((counter) => counter.node));
    peersOf.set(counters, peers);
  }
  return peers;
}

/** How many names the shared table holds now (tests: ids are handed back). */
export function heldPeerNames(): number {
  return table.size;
}
