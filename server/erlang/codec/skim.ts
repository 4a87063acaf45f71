import 'server-only';

// Reading a long reply for a few of its fields without building the rest.
//
// At 1,000 nodes a `nodes_info` reply is 1,000 entries of a dozen terms each (the owner's pid,
// the address record, the state...), and the general decoder made an object for every one of
// them: the term decoder was a quarter of everything the server allocated. A caller that wants
// three fields of each entry walks the reply with a {@link TermCursor}, reads those and skips the
// rest with {@link skipTerm}, which checks what it skips as the general decoder would and builds
// nothing but the odd rare term (a map, whose repeated keys must be found; a bignum).

import { decodeAtom, decodeBody, decodeLeaf, DEFAULT_MAX_DEPTH } from './decode';
import { decodeAtomCached } from './atom-cache';
import { Reader } from './reader';
import { isAtomTag, Tag, VERSION_MAGIC } from './tags';
import type { Atom, Term } from './terms';

/**
 * Moves `reader` past one term (no version byte), failing with a TermDecodeError wherever
 * `decodeBody` would fail on the same bytes: the same bounds, tags, atom checks and nesting
 * limit. It may fail where `decodeBody` would not only by running out of depth sooner, never the
 * other way (the property test in test/unit/erlang/codec-skim.test.ts holds both to that).
 */
export function skipTerm(reader: Reader, maxDepth = DEFAULT_MAX_DEPTH): void {
  // Elements still to come in each open container, and whether it is a list (whose last element
  // is its tail). Shared between calls, which never nest (the decoder never calls back here):
  // skipping a thousand entries' pids and addresses allocates nothing.
  const remaining = openRemaining;
  const isList = openIsList;
  let depth = 0;
  for (;;) {
    const at = reader.pos;
    const tag = reader.u8('a tag');
    if (depth > 0 && isList[depth - 1] && remaining[depth - 1] === 1 && tag === Tag.LIST) {
      // As the decoder does: a tail that is a list continues the list, at the same depth.
      const length = reader.u32('list length');
      reader.need(length + 1, 'a list and its tail');
      remaining[depth - 1]! += length;
      continue;
    }
    let opened = 0;
    let openedList = false;
    switch (tag) {
      case Tag.SMALL_TUPLE:
      case Tag.LARGE_TUPLE:
        opened = tag === Tag.SMALL_TUPLE ? reader.u8('tuple arity') : reader.u32('tuple arity');
        reader.need(opened, 'a tuple');
        break;
      case Tag.LIST:
        opened = reader.u32('list length') + 1;
        reader.need(opened, 'a list and its tail');
        openedList = true;
        break;
      case Tag.MAP:
        // Whole, through the decoder: OTP refuses a map that repeats a key, and finding one
        // takes the keys. Maps are rare in the replies skimmed.
        reader.pos = at;
        decodeBody(reader, maxDepth - depth);
        break;
      default:
        skipLeaf(reader, tag, at);
    }
    if (opened > 0) {
      if (depth >= maxDepth) reader.fail(`nesting deeper than ${maxDepth}`, at);
      remaining[depth] = opened;
      isList[depth] = openedList;
      depth++;
      continue;
    }
    // One term done: close every container it completes.
    for (;;) {
      if (depth === 0) return;
      const left = remaining[depth - 1]! - 1;
      if (left > 0) {
        remaining[depth - 1] = left;
        break;
      }
      depth--;
    }
  }
}

const openRemaining: number[] = [];
const openIsList: boolean[] = [];

/** Skips a term that is not a container; the common ones without making anything. */
function skipLeaf(reader: Reader, tag: number, at: number): void {
  switch (tag) {
    case Tag.SMALL_INTEGER:
      reader.u8('a small integer');
      return;
    case Tag.INTEGER:
      reader.i32('an integer');
      return;
    case Tag.NEW_FLOAT:
      if (!Number.isFinite(reader.f64('a float')))
        reader.fail('a float that is NaN or infinite', at);
      return;
    case Tag.ATOM:
    case Tag.SMALL_ATOM:
    case Tag.ATOM_UTF8:
    case Tag.SMALL_ATOM_UTF8:
      decodeAtomCached(reader, tag, at);
      return;
    case Tag.NIL:
      return;
    case Tag.STRING:
      reader.skip(reader.u16('string length'), 'a string');
      return;
    case Tag.BINARY:
      reader.skip(reader.u32('binary length'), 'a binary');
      return;
    case Tag.PID:
    case Tag.NEW_PID:
      decodeAtom(reader, 'the node of a pid');
      reader.u32('a pid id');
      reader.u32('a pid serial');
      if (tag === Tag.PID) reader.u8('a pid creation');
      else reader.u32('a pid creation');
      return;
    case Tag.PORT:
    case Tag.NEW_PORT:
    case Tag.V4_PORT:
      decodeAtom(reader, 'the node of a port');
      if (tag === Tag.V4_PORT) reader.u64('a port id');
      else reader.u32('a port id');
      if (tag === Tag.PORT) reader.u8('a port creation');
      else reader.u32('a port creation');
      return;
    default:
      // Bignums, old floats, bitstrings, references, funs and every tag refused: as decoded.
      decodeLeaf(reader, tag, at);
  }
}

/**
 * Walks one encoded term (`term_to_binary` output, 131 first) a piece at a time. Each method
 * reads the next term if it has the form asked for and returns `undefined`, having read part of
 * it or nothing, if not: a caller that meets a form it did not expect stops and decodes the
 * whole term the general way instead, which also gives the precise error. Malformed bytes throw
 * a TermDecodeError as the general decoder would.
 */
export class TermCursor {
  private constructor(private readonly reader: Reader) {}

  /** A cursor after the version byte; `undefined` for a compressed term (not skimmed). */
  static of(bytes: Uint8Array): TermCursor | undefined {
    const reader = new Reader(bytes, 0, bytes.length);
    if (reader.u8('the version byte') !== VERSION_MAGIC) return undefined;
    if (bytes[reader.pos] === Tag.COMPRESSED) return undefined;
    return new TermCursor(reader);
  }

  /** A tuple's arity, its elements next. */
  tuple(): number | undefined {
    const tag = this.reader.u8('a tag');
    if (tag === Tag.SMALL_TUPLE || tag === Tag.LARGE_TUPLE) {
      const arity =
        tag === Tag.SMALL_TUPLE ? this.reader.u8('tuple arity') : this.reader.u32('tuple arity');
      this.reader.need(arity, 'a tuple');
      return arity;
    }
    return undefined;
  }

  /**
   * A proper list's length, its elements next and then {@link listEnd}; 0 for `[]` (then no
   * `listEnd`). A charlist (STRING_EXT) is not taken.
   */
  list(): number | undefined {
    const tag = this.reader.u8('a tag');
    if (tag === Tag.NIL) return 0;
    if (tag !== Tag.LIST) return undefined;
    const length = this.reader.u32('list length');
    this.reader.need(length + 1, 'a list and its tail');
    return length;
  }

  /** The `[]` tail that ends a proper list; false for any other tail. */
  listEnd(): boolean {
    return this.reader.u8('the list tail') === Tag.NIL;
  }

  atom(): Atom | undefined {
    const at = this.reader.pos;
    const tag = this.reader.u8('a tag');
    if (isAtomTag(tag)) {
      return decodeAtomCached(this.reader, tag, at);
    }
    return undefined;
  }

  /** The next term if it is an atom; `null`, having skipped it, if it is anything else. */
  atomOrSkip(enclosing: number): Atom | null {
    const tag = this.reader.bytes[this.reader.pos];
    if (isAtomTag(tag)) {
      return this.atom() ?? null;
    }
    this.skip(enclosing);
    return null;
  }

  /** An integer as the decoder gives it: a number in the 32-bit range, else a bigint. */
  integer(): number | bigint | undefined {
    const at = this.reader.pos;
    const tag = this.reader.u8('a tag');
    if (
      tag === Tag.SMALL_INTEGER ||
      tag === Tag.INTEGER ||
      tag === Tag.SMALL_BIG ||
      tag === Tag.LARGE_BIG
    ) {
      return decodeLeaf(this.reader, tag, at) as number | bigint;
    }
    return undefined;
  }

  /** The next term if it is not a container (a pid, a port, a number...), decoded. */
  leaf(): Term | undefined {
    const at = this.reader.pos;
    const tag = this.reader.u8('a tag');
    if (
      tag === Tag.SMALL_TUPLE ||
      tag === Tag.LARGE_TUPLE ||
      tag === Tag.LIST ||
      tag === Tag.MAP ||
      tag === Tag.STRING
    ) {
      return undefined;
    }
    return decodeLeaf(this.reader, tag, at);
  }

  /**
   * Skips the next term, which sits inside `enclosing` open containers: the nesting limit counts
   * them, as the general decoder's does.
   */
  skip(enclosing: number): void {
    skipTerm(this.reader, DEFAULT_MAX_DEPTH - enclosing);
  }

  /** Whether the whole input has been read. */
  get done(): boolean {
    return this.reader.remaining === 0;
  }
}
