import 'server-only';

// Decoders for two long, flat replies that the general decoder would turn into thousands of
// objects: a list of atoms (`erlang:loaded()`: 5,000 module names) and a list of binaries of one
// size (5,000 md5s). They take what `term_to_binary` returns (the 131 version byte first), accept
// only the shape they are for, and fail with a TermDecodeError naming the byte and what was
// expected — never with a crash or an allocation larger than the input.

import { cachedAtomAt, decodeAtomCached } from './atom-cache';
import { TermDecodeError } from './errors';
import { readAtomName, Reader } from './reader';
import { isAtomTag, Tag, VERSION_MAGIC } from './tags';

/**
 * Reads the version byte and a list's header; returns its length, or null for `[]` (NIL_EXT,
 * which has no tail to read). `elementBytes` is the least an element takes: an absurd length
 * fails here, before anything is allocated.
 */
function listHeader(reader: Reader, elementBytes: number, what: string): number | null {
  const version = reader.u8('the version byte');
  if (version !== VERSION_MAGIC) reader.fail(`version byte ${version} (expected 131)`, 0);
  const at = reader.pos;
  const tag = reader.u8('a tag');
  if (tag === Tag.NIL) {
    listEnd(reader);
    return null;
  }
  if (tag !== Tag.LIST) reader.fail(`tag ${tag} where a list was expected`, at);
  const length = reader.u32('list length');
  reader.need(length * elementBytes + 1, `a list of ${length} ${what} and its tail`);
  return length;
}

function listTail(reader: Reader): void {
  const at = reader.pos;
  const tag = reader.u8('the list tail');
  if (tag !== Tag.NIL) reader.fail(`a list whose tail is tag ${tag}, not []`, at);
  listEnd(reader);
}

function listEnd(reader: Reader): void {
  if (reader.remaining !== 0) reader.fail(`${reader.remaining} bytes after the list`);
}

/** Runs `read`, turning anything but a TermDecodeError into one (a safety net, as decodeTerm). */
function guarded<T>(reader: Reader, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof TermDecodeError) throw error;
    throw new TermDecodeError(`Malformed Erlang term at byte ${reader.pos}: ${String(error)}`, 0, {
      cause: error,
    });
  }
}

function notAnAtom(reader: Reader, index: number, tag: number, at: number): never {
  return reader.fail(`element ${index + 1} of the list is tag ${tag}, not an atom`, at);
}

/** The names of a proper list of atoms, each read by `readName` (its tag just read at `at`). */
function atomNames(
  bytes: Uint8Array,
  readName: (reader: Reader, tag: number, at: number) => string,
): string[] {
  const reader = new Reader(bytes, 0, bytes.length);
  return guarded(reader, () => {
    // The shortest atom is SMALL_ATOM_UTF8 with no characters: two bytes.
    const length = listHeader(reader, 2, 'atoms');
    if (length === null) return [];
    const names = new Array<string>(length);
    for (let index = 0; index < length; index++) {
      const at = reader.pos;
      const tag = reader.u8('an atom tag');
      if (!isAtomTag(tag)) notAnAtom(reader, index, tag, at);
      names[index] = readName(reader, tag, at);
    }
    listTail(reader);
    return names;
  });
}

/**
 * The names of a proper list of atoms, in order, as strings: no {@link Atom} is made (interning
 * 5,000 module names was a quarter of a code scan's CPU). The atoms are bounded and checked as
 * the general decoder checks them.
 */
export function decodeAtomNames(bytes: Uint8Array): string[] {
  return atomNames(bytes, readAtomName);
}

/**
 * The same through the decoder's atom cache, for lists of node names read again and again (a
 * peer list: 1,000 names, a million at a 1,000-node start): a name seen before costs a hash and a
 * compare in place, no allocation, and the list no frame or element array of the general decoder.
 */
export function decodeCachedAtomNames(bytes: Uint8Array): string[] {
  const reader = new Reader(bytes, 0, bytes.length);
  return guarded(reader, () => {
    const length = listHeader(reader, 2, 'atoms');
    if (length === null) return [];
    const names = cachedAtomNames(reader, length);
    listTail(reader);
    return names;
  });
}

/**
 * Reads `length` atoms from the reader's position through the cache: a function of its own, the
 * position in a local and given back to the reader only for the checked way. (As a loop in
 * `guarded`'s closure, writing the reader's field at every name, it was slower once optimised.)
 */
function cachedAtomNames(reader: Reader, length: number): string[] {
  const bytes = reader.bytes;
  const end = reader.end;
  const names = new Array<string>(length);
  let at = reader.pos;
  for (let index = 0; index < length; index++) {
    // The usual element read in place (a short UTF-8 atom the cache holds); any other goes the
    // checked way, which also gives the precise error.
    const size = bytes[at + 1] as number;
    if (bytes[at] === Tag.SMALL_ATOM_UTF8 && at + 2 + size <= end) {
      const cached = cachedAtomAt(bytes, at + 2, size);
      if (cached !== undefined) {
        names[index] = cached.name;
        at += 2 + size;
        continue;
      }
    }
    reader.pos = at;
    const tag = reader.u8('an atom tag');
    if (!isAtomTag(tag)) notAnAtom(reader, index, tag, at);
    names[index] = decodeAtomCached(reader, tag, at).name;
    at = reader.pos;
  }
  reader.pos = at;
  return names;
}

/**
 * A proper list of binaries of `size` bytes each, as one buffer of `count × size` bytes (element
 * `i` at `i × size`): one allocation instead of one object per binary.
 */
export function decodeEqualBinaries(
  bytes: Uint8Array,
  size: number,
): { count: number; bytes: Buffer } {
  if (!Number.isInteger(size) || size < 0) {
    throw new TermDecodeError(`Invalid binary size ${size}: expected an integer >= 0`, 0);
  }
  const reader = new Reader(bytes, 0, bytes.length);
  return guarded(reader, () => {
    // BINARY_EXT: a tag, a 4-byte length, then the bytes; so the buffer is never larger than
    // the input.
    const count = listHeader(reader, 5 + size, `binaries of ${size} bytes`);
    if (count === null) return { count: 0, bytes: Buffer.alloc(0) };
    const out = Buffer.allocUnsafe(count * size);
    for (let index = 0; index < count; index++) {
      const at = reader.pos;
      const tag = reader.u8('a binary tag');
      if (tag !== Tag.BINARY) {
        reader.fail(`element ${index + 1} of the list is tag ${tag}, not a binary`, at);
      }
      const length = reader.u32('binary length');
      if (length !== size) {
        reader.fail(`element ${index + 1} of the list is ${length} bytes, not ${size}`, at);
      }
      reader.need(size, 'a binary');
      // A short loop, not a subarray and `set`: no object per element.
      const from = reader.pos;
      const to = index * size;
      for (let byte = 0; byte < size; byte++) out[to + byte] = reader.bytes[from + byte] as number;
      reader.pos += size;
    }
    listTail(reader);
    return { count, bytes: out };
  });
}
