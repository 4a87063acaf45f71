import 'server-only';

import { inflateSync } from 'node:zlib';

import { decodeAtomCached } from './atom-cache';
import { termKey } from './equality';
import { TermDecodeError } from './errors';
import { Reader } from './reader';
import { INT32_MAX, INT32_MIN, MAX_REFERENCE_WORDS, Tag, VERSION_MAGIC } from './tags';
import {
  Atom,
  BitBinary,
  Charlist,
  ErlFloat,
  ErlMap,
  ExportFun,
  ImproperList,
  OpaqueFun,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from './terms';

/** Bounds for decoding bytes that came from the network. */
export interface DecodeOptions {
  /** The deepest nesting of tuples, lists and maps accepted. Default 512. */
  maxDepth?: number;
  /**
   * The most bytes one term may occupy in the input (from its 131 version byte). For a
   * compressed term (tag 80) it also bounds the declared uncompressed size. Default: no bound on
   * the input (the caller already holds it); 64 MiB for an uncompressed size.
   */
  maxBytes?: number;
}

export const DEFAULT_MAX_DEPTH = 512;
/** Bound on the uncompressed size of a COMPRESSED term when `maxBytes` is not given. */
export const DEFAULT_MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** The fewest bytes a NEW_FUN_EXT occupies, counting its size field (see ERTS "NEW_FUN_EXT"). */
const MIN_NEW_FUN_SIZE = 4 + 1 + 16 + 4 + 4;

/** A container whose elements are still arriving. */
interface Frame {
  kind: 'tuple' | 'list' | 'map';
  /** Elements (list: then the tail; map: key, value, key, value, …). */
  items: Term[];
  remaining: number;
  /** Where the container's tag was, for error messages. */
  at: number;
}

/**
 * Decodes one term (no version byte) from the reader. Iterative, with an explicit stack bounded
 * by `maxDepth`, so hostile nesting can neither overflow the JS stack nor go unbounded. Exported
 * for `skim.ts` (the codec's own), not through the codec's index.
 */
export function decodeBody(reader: Reader, maxDepth: number): Term {
  const stack: Frame[] = [];
  for (;;) {
    const at = reader.pos;
    const tag = reader.u8('a tag');
    let value: Term | undefined;
    let frame: Frame | undefined;
    const parent = stack[stack.length - 1];
    const isListTail = parent?.kind === 'list' && parent.remaining === 1;
    if (isListTail && tag === Tag.LIST) {
      // A list tail that is itself a list continues the list in place (`[a | [b]]` is `[a, b]`).
      // Splicing it afterwards would copy elements once per level: quadratic on hostile input.
      const length = reader.u32('list length');
      reader.need(length + 1, 'a list and its tail');
      parent.remaining += length;
      continue;
    }
    if (isListTail && tag === Tag.STRING) {
      const length = reader.u16('string length');
      const chars = reader.view8(length, 'a string');
      for (let index = 0; index < length; index++) parent.items.push(chars[index] as number);
      value = []; // the string's own tail
    } else {
      switch (tag) {
        case Tag.SMALL_TUPLE:
        case Tag.LARGE_TUPLE: {
          const arity =
            tag === Tag.SMALL_TUPLE ? reader.u8('tuple arity') : reader.u32('tuple arity');
          // Each element takes at least one byte: check before anything is allocated.
          reader.need(arity, 'a tuple');
          if (arity === 0) value = new Tuple([]);
          else frame = { kind: 'tuple', items: [], remaining: arity, at };
          break;
        }
        case Tag.LIST: {
          const length = reader.u32('list length');
          reader.need(length + 1, 'a list and its tail');
          frame = { kind: 'list', items: [], remaining: length + 1, at };
          break;
        }
        case Tag.MAP: {
          const size = reader.u32('map size');
          reader.need(size * 2, 'a map');
          if (size === 0) value = new ErlMap([]);
          else frame = { kind: 'map', items: [], remaining: size * 2, at };
          break;
        }
        default:
          value = decodeLeaf(reader, tag, at);
      }
    }
    if (frame) {
      if (stack.length >= maxDepth) reader.fail(`nesting deeper than ${maxDepth}`, at);
      stack.push(frame);
      continue;
    }
    // Hand the finished value to its container, closing every container it completes.
    let finished = value as Term;
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) return finished;
      top.items.push(finished);
      if (--top.remaining > 0) break;
      stack.pop();
      finished = finishContainer(reader, top);
    }
  }
}

function finishContainer(reader: Reader, frame: Frame): Term {
  switch (frame.kind) {
    case 'tuple':
      return new Tuple(frame.items);
    case 'list': {
      const tail = frame.items.pop() as Term;
      return joinList(frame.items, tail);
    }
    case 'map': {
      const entries: Array<readonly [Term, Term]> = [];
      for (let index = 0; index < frame.items.length; index += 2) {
        entries.push([frame.items[index] as Term, frame.items[index + 1] as Term]);
      }
      // OTP's binary_to_term rejects a map with a repeated key; so do we.
      if (hasRepeatedKey(entries)) reader.fail('a map repeats a key', frame.at);
      return new ErlMap(entries);
    }
  }
}

/** Atoms (interned) and small integers stand for themselves; other keys by their termKey. */
function keyIdentity(key: Term): unknown {
  return key instanceof Atom ? key : typeof key === 'number' ? `i${key}` : termKey(key);
}

/** Small maps (most replies) compare identities pairwise; large ones through a Set. */
function hasRepeatedKey(entries: ReadonlyArray<readonly [Term, Term]>): boolean {
  const identities = entries.map(([key]) => keyIdentity(key));
  if (identities.length <= 8) {
    for (let index = 1; index < identities.length; index++) {
      for (let before = 0; before < index; before++) {
        if (identities[index] === identities[before]) return true;
      }
    }
    return false;
  }
  return new Set(identities).size !== identities.length;
}

/**
 * `[e1, …, en | tail]` in canonical form: a tail that is itself a list is spliced in (as Erlang
 * sees it), so a decoded ImproperList always has a non-list tail and at least one element.
 */
export function joinList(elements: Term[], tail: Term): Term {
  if (Array.isArray(tail)) {
    if (tail.length === 0) return elements;
    for (const element of tail) elements.push(element);
    return elements;
  }
  if (tail instanceof Charlist) {
    for (const char of tail.value) elements.push(char.codePointAt(0) as number);
    return elements;
  }
  if (tail instanceof ImproperList) {
    for (const element of tail.elements) elements.push(element);
    return elements.length === 0 ? tail.tail : new ImproperList(elements, tail.tail);
  }
  return elements.length === 0 ? tail : new ImproperList(elements, tail);
}

/** One term that is not a container, its tag (at byte `at`) just read; for `skim.ts` too. */
export function decodeLeaf(reader: Reader, tag: number, at: number): Term {
  switch (tag) {
    case Tag.SMALL_INTEGER:
      return reader.u8('a small integer');
    case Tag.INTEGER:
      return reader.i32('an integer');
    case Tag.SMALL_BIG:
    case Tag.LARGE_BIG: {
      const length = tag === Tag.SMALL_BIG ? reader.u8('bignum size') : reader.u32('bignum size');
      const sign = reader.u8('bignum sign');
      if (sign > 1) reader.fail(`bignum sign byte ${sign} (expected 0 or 1)`, reader.pos - 1);
      return decodeBignum(reader.view8(length, 'a bignum'), sign === 1);
    }
    case Tag.NEW_FLOAT:
      return checkedFloat(reader, reader.f64('a float'), at);
    case Tag.FLOAT: {
      const text = Buffer.from(reader.view8(31, 'an old-style float')).toString('latin1');
      const nul = text.indexOf('\0');
      const digits = (nul === -1 ? text : text.slice(0, nul)).trim();
      if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(digits)) {
        reader.fail('an old-style float that is not a number', at);
      }
      return checkedFloat(reader, Number(digits), at);
    }
    case Tag.ATOM:
    case Tag.SMALL_ATOM:
    case Tag.ATOM_UTF8:
    case Tag.SMALL_ATOM_UTF8:
      return decodeAtomBody(reader, tag, at);
    case Tag.NIL:
      return [];
    case Tag.STRING: {
      const length = reader.u16('string length');
      if (length === 0) return [];
      return new Charlist(Buffer.from(reader.view8(length, 'a string')).toString('latin1'));
    }
    case Tag.BINARY: {
      const length = reader.u32('binary length');
      return reader.copy(length, 'a binary');
    }
    case Tag.BIT_BINARY: {
      const length = reader.u32('bitstring length');
      const bits = reader.u8('bitstring trailing bits');
      if (length === 0 ? bits !== 0 : bits < 1 || bits > 8) {
        reader.fail(`bitstring of ${length} bytes with ${bits} bits in its last byte`, at);
      }
      const bytes = reader.copy(length, 'a bitstring');
      if (length === 0 || bits === 8) return bytes;
      // Only the high `bits` bits of the last byte belong to the bitstring; Erlang drops the rest.
      bytes[length - 1] = (bytes[length - 1] as number) & ((0xff << (8 - bits)) & 0xff);
      return new BitBinary(bytes, bits);
    }
    case Tag.PID:
    case Tag.NEW_PID: {
      const node = decodeAtom(reader, 'the node of a pid');
      const id = reader.u32('a pid id');
      const serial = reader.u32('a pid serial');
      const creation = tag === Tag.PID ? reader.u8('a pid creation') : reader.u32('a pid creation');
      return new Pid(node, id, serial, creation);
    }
    case Tag.PORT:
    case Tag.NEW_PORT:
    case Tag.V4_PORT: {
      const node = decodeAtom(reader, 'the node of a port');
      const id = tag === Tag.V4_PORT ? reader.u64('a port id') : BigInt(reader.u32('a port id'));
      const creation =
        tag === Tag.PORT ? reader.u8('a port creation') : reader.u32('a port creation');
      return new Port(node, id, creation);
    }
    case Tag.REFERENCE: {
      const node = decodeAtom(reader, 'the node of a reference');
      const id = reader.u32('a reference id');
      return new Reference(node, reader.u8('a reference creation'), [id]);
    }
    case Tag.NEW_REFERENCE:
    case Tag.NEWER_REFERENCE: {
      const words = reader.u16('reference length');
      if (words < 1 || words > MAX_REFERENCE_WORDS) {
        reader.fail(`a reference of ${words} words (expected 1..${MAX_REFERENCE_WORDS})`, at);
      }
      const node = decodeAtom(reader, 'the node of a reference');
      const creation =
        tag === Tag.NEW_REFERENCE
          ? reader.u8('a reference creation')
          : reader.u32('a reference creation');
      const ids: number[] = [];
      for (let index = 0; index < words; index++) ids.push(reader.u32('a reference id'));
      return new Reference(node, creation, ids);
    }
    case Tag.EXPORT: {
      const moduleName = decodeAtom(reader, 'the module of an export');
      const fun = decodeAtom(reader, 'the function of an export');
      if (reader.u8('the arity of an export') !== Tag.SMALL_INTEGER) {
        reader.fail('an export whose arity is not a small integer', reader.pos - 1);
      }
      return new ExportFun(moduleName, fun, reader.u8('the arity of an export'));
    }
    case Tag.NEW_FUN: {
      // Opaque: keep size field and body verbatim. The size counts itself.
      const size = reader.peekU32('a fun size');
      if (size < MIN_NEW_FUN_SIZE) reader.fail(`a fun of ${size} bytes is too small`, at);
      return new OpaqueFun(reader.copy(size, 'a fun'));
    }
    case Tag.ATOM_CACHE_REF:
      return reader.fail(
        'an atom cache reference (ATOM_CACHE_REF_EXT); beamscope does not negotiate the atom cache',
        at,
      );
    case Tag.COMPRESSED:
      return reader.fail('a compressed term nested inside a term', at);
    case Tag.FUN:
      return reader.fail('an old FUN_EXT (removed in OTP 23)', at);
    case Tag.LOCAL:
      return reader.fail('a LOCAL_EXT term (only meaningful to the node that made it)', at);
    default:
      return reader.fail(`unknown tag ${tag}`, at);
  }
}

function checkedFloat(reader: Reader, value: number, at: number): ErlFloat {
  // Erlang has no NaN or infinities; binary_to_term rejects them too.
  if (!Number.isFinite(value)) reader.fail('a float that is NaN or infinite', at);
  return new ErlFloat(value);
}

/** Integers in the 32-bit signed range are `number`, all others `bigint` (the canonical rule). */
function decodeBignum(littleEndian: Uint8Array, negative: boolean): number | bigint {
  let magnitude = 0n;
  if (littleEndian.length <= 6) {
    let small = 0;
    for (let index = littleEndian.length - 1; index >= 0; index--) {
      small = small * 256 + (littleEndian[index] as number);
    }
    const value = negative ? -small : small;
    if (value >= INT32_MIN && value <= INT32_MAX) return value === 0 ? 0 : value;
    magnitude = BigInt(small);
  } else {
    // Big-endian hex, then one BigInt parse: linear in the size, unlike repeated shifts.
    const bigEndian = Buffer.from(littleEndian).reverse();
    magnitude = BigInt('0x' + bigEndian.toString('hex'));
  }
  const value = negative ? -magnitude : magnitude;
  if (value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX)) return Number(value);
  return value;
}

/** An atom, tag included (the node of a pid, a port...); for `skim.ts` too. */
export function decodeAtom(reader: Reader, what: string): Atom {
  const at = reader.pos;
  const tag = reader.u8(what);
  if (
    tag !== Tag.ATOM &&
    tag !== Tag.SMALL_ATOM &&
    tag !== Tag.ATOM_UTF8 &&
    tag !== Tag.SMALL_ATOM_UTF8
  ) {
    if (tag === Tag.ATOM_CACHE_REF) {
      reader.fail('an atom cache reference; beamscope does not negotiate the atom cache', at);
    }
    reader.fail(`${what} is not an atom (tag ${tag})`, at);
  }
  return decodeAtomBody(reader, tag, at);
}

/** Through the decoder's atom cache (./atom-cache): names decoded again cost no allocation. */
function decodeAtomBody(reader: Reader, tag: number, at: number): Atom {
  return decodeAtomCached(reader, tag, at);
}

function resolveOptions(options: DecodeOptions): { maxDepth: number; maxBytes: number } {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  if (!(maxDepth >= 0) || !(maxBytes >= 0)) {
    throw new TermDecodeError('Invalid decode options: maxDepth and maxBytes must be >= 0', 0);
  }
  return { maxDepth, maxBytes };
}

/**
 * Decodes one term that starts with the version byte 131 at `offset`, and returns where the next
 * thing in `bytes` starts. A compressed term (tag 80) runs to the end of `bytes` (as in
 * `binary_to_term`), so `next` is then `bytes.length`. Throws {@link TermDecodeError} and nothing
 * else on malformed, unsupported or oversized input.
 */
export function decodeTermAt(
  bytes: Uint8Array,
  offset: number,
  options: DecodeOptions = {},
): { term: Term; next: number } {
  const { maxDepth, maxBytes } = resolveOptions(options);
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
    throw new TermDecodeError(`Offset ${offset} is outside the ${bytes.length} input bytes`, 0);
  }
  const end = Math.min(bytes.length, offset + maxBytes);
  const reader = new Reader(bytes, offset, end);
  try {
    const version = reader.u8('the version byte');
    if (version !== VERSION_MAGIC) reader.fail(`version byte ${version} (expected 131)`, offset);
    if (reader.remaining > 0 && bytes[reader.pos] === Tag.COMPRESSED) {
      return { term: decodeCompressed(reader, options.maxBytes, maxDepth), next: end };
    }
    const term = decodeBody(reader, maxDepth);
    return { term, next: reader.pos };
  } catch (error) {
    if (error instanceof TermDecodeError) {
      if (end < bytes.length && /remain$/.test(error.message)) {
        throw new TermDecodeError(
          `${error.message} (the term exceeds the ${maxBytes}-byte limit)`,
          error.offset,
          { cause: error },
        );
      }
      throw error;
    }
    // A safety net: whatever slipped past the checks above still surfaces as a decode error.
    throw new TermDecodeError(`Malformed Erlang term at byte ${reader.pos}: ${String(error)}`, 0, {
      cause: error,
    });
  }
}

function decodeCompressed(reader: Reader, maxBytes: number | undefined, maxDepth: number): Term {
  const at = reader.pos;
  reader.u8('the compressed tag');
  const size = reader.u32('the uncompressed size');
  const limit = maxBytes ?? DEFAULT_MAX_INFLATED_BYTES;
  if (size > limit) reader.fail(`a compressed term of ${size} bytes exceeds ${limit}`, at);
  if (size === 0) reader.fail('a compressed term of 0 bytes', at);
  let inflated: Buffer;
  try {
    // maxOutputLength stops zlib as soon as the output would outgrow the declared size.
    inflated = inflateSync(reader.view8(reader.remaining, 'compressed data'), {
      maxOutputLength: size,
    });
  } catch (error) {
    throw new TermDecodeError(
      `Malformed Erlang term at byte ${at}: compressed data does not inflate to ${size} bytes`,
      at,
      { cause: error },
    );
  }
  if (inflated.length !== size) {
    reader.fail(`compressed data inflates to ${inflated.length} bytes, not ${size}`, at);
  }
  const inner = new Reader(inflated, 0, inflated.length);
  const term = decodeBody(inner, maxDepth);
  if (inner.remaining !== 0) reader.fail('compressed data holds bytes after the term', at);
  return term;
}

/**
 * Decodes `bytes` as exactly one term with its 131 version byte (what `term_to_binary` returns).
 * Throws {@link TermDecodeError} on trailing bytes and on any malformed or oversized input.
 */
export function decodeTerm(bytes: Uint8Array, options: DecodeOptions = {}): Term {
  const { maxBytes } = resolveOptions(options);
  if (bytes.length > maxBytes) {
    throw new TermDecodeError(
      `An Erlang term of ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`,
      0,
    );
  }
  const { term, next } = decodeTermAt(bytes, 0, options);
  if (next !== bytes.length) {
    throw new TermDecodeError(
      `Malformed Erlang term at byte ${next}: ${bytes.length - next} bytes follow the term`,
      next,
    );
  }
  return term;
}

/** What Erlang prints for a closure: `#Fun<Module.OldIndex.OldUniq>`, and the fun's arity. */
export interface FunInfo {
  module: Atom;
  arity: number;
  oldIndex: number | bigint;
  oldUniq: number | bigint;
}

/**
 * Reads the identifying fields of an {@link OpaqueFun}'s bytes (NEW_FUN_EXT after its tag), or
 * returns `undefined` when they do not parse.
 */
export function decodeFunInfo(encoded: Uint8Array): FunInfo | undefined {
  try {
    const reader = new Reader(encoded, 0, encoded.length);
    reader.u32('size');
    const arity = reader.u8('arity');
    reader.view8(16 + 4 + 4, 'uniq, index and free variables count');
    const moduleName = decodeAtom(reader, 'the module of a fun');
    const oldIndex = decodeBody(reader, 0);
    const oldUniq = decodeBody(reader, 0);
    if (typeof oldIndex === 'object' || typeof oldUniq === 'object') return undefined;
    return { module: moduleName, arity, oldIndex, oldUniq };
  } catch {
    return undefined;
  }
}
