import 'server-only';

/*
 * The decoder's atom cache: finds the Atom for the bytes of an atom already seen without making
 * a string, a byte view or a lookup in the weak atom table.
 *
 * At 1,000 nodes every probe decodes the same names again (a peer list is 1,000 node atoms, a
 * `nodes_info` reply 9,000 atoms), and each one cost a `subarray` view, a spread of its bytes
 * into `String.fromCharCode`, the string, and `Atom.of`'s `WeakRef` lookup — or, once the atom had
 * been collected between two probes, a new Atom, a `WeakRef` and a finalizer registration: most
 * of the young-generation garbage of a saturated server. Here an ASCII name of up to
 * MAX_CACHED_ATOM_LENGTH bytes is hashed where it lies in the frame and compared in place with
 * the Atom of its slot.
 *
 * The cache is direct-mapped: ATOM_CACHE_SLOTS slots, one Atom each, a new name taking its
 * slot's place. Its size is fixed whatever a peer sends (at most ATOM_CACHE_SLOTS atoms of at
 * most 64 characters held strongly, about 2 MB, and a copy of their bytes, 1 MB), and the atoms
 * it holds stay interned by `Atom.of`, so identity (`===`) is unchanged. Names it does not hold
 * (longer, non-ASCII, or collided) are decoded as before.
 *
 * A slot's name is compared with the frame as bytes against bytes, from a copy kept in one
 * arena, not with the Atom's string a character at a time (`charCodeAt`): a 1,000-name peer
 * list read through the cache went from 0.086 to 0.064 ms (`bench/atom-decode.ts`), and a
 * 1,000-node start reads a thousand of them.
 */

import { readAtomName, type Reader } from './reader';
import { Tag } from './tags';
import { Atom } from './terms';

/** How many atoms the cache holds at most (a power of two). */
export const ATOM_CACHE_SLOTS = 16_384;
/** Longer names (node names are far shorter) are not cached. */
export const MAX_CACHED_ATOM_LENGTH = 64;

const slots: Array<Atom | undefined> = new Array<Atom | undefined>(ATOM_CACHE_SLOTS).fill(
  undefined,
);
/** Slot `i`'s name as bytes, at `i × MAX_CACHED_ATOM_LENGTH`; its length in `slotLengths[i]`. */
const slotBytes = new Uint8Array(ATOM_CACHE_SLOTS * MAX_CACHED_ATOM_LENGTH);
const slotLengths = new Uint8Array(ATOM_CACHE_SLOTS);

/**
 * The Atom whose tag (`tag`, at byte `at`) was just read; the reader ends after it. Checks as
 * `readAtomName` does: a cached name is ASCII and short, so within every limit of ERTS.
 */
export function decodeAtomCached(reader: Reader, tag: number, at: number): Atom {
  const bytes = reader.bytes;
  const lengthAt = reader.pos;
  const small = tag === Tag.SMALL_ATOM || tag === Tag.SMALL_ATOM_UTF8;
  const start = lengthAt + (small ? 1 : 2);
  if (start > reader.end) return Atom.of(readAtomName(reader, tag, at)); // fails there
  const length = small
    ? (bytes[lengthAt] as number)
    : ((bytes[lengthAt] as number) << 8) | (bytes[lengthAt + 1] as number);
  const end = start + length;
  if (length > MAX_CACHED_ATOM_LENGTH || end > reader.end) {
    return Atom.of(readAtomName(reader, tag, at));
  }
  // A byte of 0x80 or more (not ASCII) leaves the cache out.
  const slot = asciiSlot(bytes, start, length);
  if (slot < 0) return Atom.of(readAtomName(reader, tag, at));
  const cached = slots[slot];
  if (cached !== undefined && sameBytes(slot, bytes, start, length)) {
    reader.pos = end;
    return cached;
  }
  const decoded = Atom.of(readAtomName(reader, tag, at));
  slots[slot] = decoded;
  slotBytes.set(bytes.subarray(start, end), slot * MAX_CACHED_ATOM_LENGTH);
  slotLengths[slot] = length;
  return decoded;
}

/**
 * The cached Atom whose name is the `length` bytes at `start` (within the input, at most
 * MAX_CACHED_ATOM_LENGTH), or undefined: not held, or not ASCII. No reader, no allocation: a
 * list of atoms reads its elements in place with it (see `decodeCachedAtomNames`).
 */
export function cachedAtomAt(bytes: Uint8Array, start: number, length: number): Atom | undefined {
  if (length > MAX_CACHED_ATOM_LENGTH) return undefined;
  const slot = asciiSlot(bytes, start, length);
  if (slot < 0) return undefined;
  const cached = slots[slot];
  return cached !== undefined && sameBytes(slot, bytes, start, length) ? cached : undefined;
}

/** The slot of an ASCII name (FNV-1a over its bytes); -1 when a byte is 0x80 or more. */
function asciiSlot(bytes: Uint8Array, start: number, length: number): number {
  let hash = 0x811c9dc5;
  const end = start + length;
  for (let index = start; index < end; index++) {
    const byte = bytes[index] as number;
    if (byte >= 0x80) return -1;
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  return (hash ^ (hash >>> 15)) & (ATOM_CACHE_SLOTS - 1);
}

/** Whether slot `slot` holds the `length` bytes at `start`. */
function sameBytes(slot: number, bytes: Uint8Array, start: number, length: number): boolean {
  if (slotLengths[slot] !== length) return false;
  const held = slot * MAX_CACHED_ATOM_LENGTH;
  for (let index = 0; index < length; index++) {
    if (slotBytes[held + index] !== bytes[start + index]) return false;
  }
  return true;
}

/** How many slots hold an atom (for the test of the cache's bound). */
export function cachedAtomCount(): number {
  let count = 0;
  for (const atom of slots) if (atom !== undefined) count++;
  return count;
}
