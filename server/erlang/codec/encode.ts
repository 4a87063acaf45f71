import 'server-only';

import { charCodes, termKey } from './equality';
import { TermEncodeError } from './errors';
import {
  INT32_MAX,
  INT32_MIN,
  MAX_ATOM_CHARACTERS,
  MAX_REFERENCE_WORDS,
  MAX_STRING_EXT_LENGTH,
  Tag,
  VERSION_MAGIC,
} from './tags';
import {
  Atom,
  BitBinary,
  Charlist,
  ErlFloat,
  ErlMap,
  ExportFun,
  ImproperList,
  OpaqueFun,
  PreEncoded,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from './terms';

const UINT32_LIMIT = 0x1_0000_0000;
const UINT64_MAX = (1n << 64n) - 1n;

/** An append-only byte buffer that doubles its capacity, so encoding stays linear. */
class Writer {
  private buffer = Buffer.allocUnsafe(256);
  length = 0;

  private reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }
  u16(value: number): void {
    this.reserve(2);
    this.buffer.writeUInt16BE(value, this.length);
    this.length += 2;
  }
  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }
  i32(value: number): void {
    this.reserve(4);
    this.buffer.writeInt32BE(value, this.length);
    this.length += 4;
  }
  u64(value: bigint): void {
    this.reserve(8);
    this.buffer.writeBigUInt64BE(value, this.length);
    this.length += 8;
  }
  f64(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleBE(value, this.length);
    this.length += 8;
  }
  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    if (value.length <= 16) {
      // TypedArray#set costs more than a short loop for the many tiny pieces (atoms, ids).
      for (let index = 0; index < value.length; index++) {
        this.buffer[this.length + index] = value[index] as number;
      }
    } else {
      this.buffer.set(value, this.length);
    }
    this.length += value.length;
  }
  /** The bytes written, in a Buffer of exactly that size. */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

function describe(term: unknown): string {
  if (term === null) return 'null';
  if (typeof term === 'object') return (term as object).constructor?.name ?? 'object';
  return `${typeof term} ${String(term)}`;
}

function checkUint32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= UINT32_LIMIT) {
    throw new TermEncodeError(`${what} must be an integer in 0..2^32-1, not ${value}`);
  }
}

function writeInteger(writer: Writer, value: number | bigint): void {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    throw new TermEncodeError(
      `Cannot encode the number ${value} as an Erlang integer: wrap floats in ErlFloat`,
    );
  }
  // The smallest form OTP itself uses: SMALL_INTEGER, INTEGER, then SMALL_BIG / LARGE_BIG.
  const fitsInt32 =
    typeof value === 'number'
      ? value >= INT32_MIN && value <= INT32_MAX
      : value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX);
  if (fitsInt32) {
    const small = Number(value);
    if (small >= 0 && small <= 255) {
      writer.u8(Tag.SMALL_INTEGER);
      writer.u8(small);
    } else {
      writer.u8(Tag.INTEGER);
      writer.i32(small);
    }
    return;
  }
  const big = BigInt(value);
  const negative = big < 0n;
  let hex = (negative ? -big : big).toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  const littleEndian = Buffer.from(hex, 'hex').reverse();
  if (littleEndian.length <= 255) {
    writer.u8(Tag.SMALL_BIG);
    writer.u8(littleEndian.length);
  } else {
    writer.u8(Tag.LARGE_BIG);
    writer.u32(littleEndian.length);
  }
  writer.u8(negative ? 1 : 0);
  writer.bytes(littleEndian);
}

/** Each atom's validated encoding, computed once: atoms are interned and encoded often. */
const encodedAtoms = new WeakMap<Atom, Uint8Array>();

function encodeAtom(value: Atom): Uint8Array {
  let characters = 0;
  for (const _ of value.name) characters++;
  if (characters > MAX_ATOM_CHARACTERS) {
    throw new TermEncodeError(
      `An atom has at most ${MAX_ATOM_CHARACTERS} characters; this one has ${characters}`,
    );
  }
  const name = Buffer.from(value.name, 'utf8');
  const header =
    name.length <= 255
      ? [Tag.SMALL_ATOM_UTF8, name.length]
      : [Tag.ATOM_UTF8, name.length >> 8, name.length & 0xff];
  return Buffer.concat([Buffer.from(header), name]);
}

function writeAtom(writer: Writer, value: Atom): void {
  if (!(value instanceof Atom)) {
    throw new TermEncodeError(`Expected an Atom, got ${describe(value)}`);
  }
  let encoded = encodedAtoms.get(value);
  if (!encoded) {
    encoded = encodeAtom(value);
    encodedAtoms.set(value, encoded);
  }
  writer.bytes(encoded);
}

/** The elements of a list-like term whose tail is a list, spliced as Erlang sees it. */
function spliceList(elements: readonly Term[], tail: Term): { elements: Term[]; tail: Term } {
  const all = [...elements];
  let rest: Term = tail;
  for (;;) {
    if (rest instanceof ImproperList) {
      all.push(...rest.elements);
      rest = rest.tail;
    } else if (rest instanceof Charlist) {
      all.push(...charCodes(rest.value));
      rest = [];
    } else if (Array.isArray(rest) && rest.length > 0) {
      all.push(...rest);
      rest = [];
    } else {
      return { elements: all, tail: rest };
    }
  }
}

function isByte(term: Term): boolean {
  return typeof term === 'number'
    ? Number.isInteger(term) && term >= 0 && term <= 255
    : typeof term === 'bigint' && term >= 0n && term <= 255n;
}

/**
 * Encodes the header of a list, then schedules its elements and tail. A list of at most 65535
 * integers 0..255 goes as STRING_EXT, as OTP sends it.
 */
function writeList(writer: Writer, elements: readonly Term[], tail: Term, pending: Term[]): void {
  const isProper = Array.isArray(tail) && tail.length === 0;
  if (elements.length === 0) {
    if (isProper) writer.u8(Tag.NIL);
    else pending.push(tail);
    return;
  }
  if (isProper && elements.length <= MAX_STRING_EXT_LENGTH && elements.every(isByte)) {
    writer.u8(Tag.STRING);
    writer.u16(elements.length);
    writer.bytes(Uint8Array.from(elements, (element) => Number(element)));
    return;
  }
  if (elements.length >= UINT32_LIMIT) throw new TermEncodeError('A list is too long to encode');
  writer.u8(Tag.LIST);
  writer.u32(elements.length);
  pending.push(tail);
  for (let index = elements.length - 1; index >= 0; index--) {
    pending.push(elements[index] as Term);
  }
}

function writeBits(writer: Writer, bytes: Uint8Array, bitsInLastByte: number): void {
  if (!Number.isInteger(bitsInLastByte) || bitsInLastByte < 1 || bitsInLastByte > 8) {
    throw new TermEncodeError(`A bitstring's last byte holds 1..8 bits, not ${bitsInLastByte}`);
  }
  if (bitsInLastByte === 8 || bytes.length === 0) {
    writer.u8(Tag.BINARY);
    writer.u32(bytes.length);
    writer.bytes(bytes);
    return;
  }
  writer.u8(Tag.BIT_BINARY);
  writer.u32(bytes.length);
  writer.u8(bitsInLastByte);
  writer.bytes(bytes.subarray(0, bytes.length - 1));
  // OTP zeroes the bits past the end of a bitstring; so do we.
  writer.u8((bytes[bytes.length - 1] as number) & ((0xff << (8 - bitsInLastByte)) & 0xff));
}

/** Encodes one term after the version byte. Iterative: deep terms cannot overflow the stack. */
function writeTerm(writer: Writer, root: Term): void {
  const pending: Term[] = [root];
  while (pending.length > 0) {
    // A stray `undefined` (from untyped callers) falls through to the error below.
    const term = pending.pop() as Term;
    if (typeof term === 'number' || typeof term === 'bigint') {
      writeInteger(writer, term);
    } else if (term instanceof Atom) {
      writeAtom(writer, term);
    } else if (term instanceof ErlFloat) {
      if (!Number.isFinite(term.value)) {
        throw new TermEncodeError(`Erlang has no float ${term.value}`);
      }
      writer.u8(Tag.NEW_FLOAT);
      writer.f64(term.value);
    } else if (term instanceof Tuple) {
      const arity = term.elements.length;
      if (arity <= 255) {
        writer.u8(Tag.SMALL_TUPLE);
        writer.u8(arity);
      } else {
        writer.u8(Tag.LARGE_TUPLE);
        writer.u32(arity);
      }
      for (let index = arity - 1; index >= 0; index--) pending.push(term.elements[index] as Term);
    } else if (Array.isArray(term)) {
      writeList(writer, term, [], pending);
    } else if (term instanceof Charlist) {
      writeList(writer, charCodes(term.value), [], pending);
    } else if (term instanceof ImproperList) {
      const { elements, tail } = spliceList(term.elements, term.tail);
      writeList(writer, elements, tail, pending);
    } else if (term instanceof Uint8Array) {
      writeBits(writer, term, 8);
    } else if (term instanceof BitBinary) {
      writeBits(writer, term.bytes, term.bitsInLastByte);
    } else if (term instanceof ErlMap) {
      writeMapHeader(writer, term);
      for (let index = term.entries.length - 1; index >= 0; index--) {
        const [key, value] = term.entries[index] as readonly [Term, Term];
        pending.push(value, key);
      }
    } else if (term instanceof Pid) {
      checkUint32(term.id, 'A pid id');
      checkUint32(term.serial, 'A pid serial');
      checkUint32(term.creation, 'A pid creation');
      writer.u8(Tag.NEW_PID);
      writeAtom(writer, term.node);
      writer.u32(term.id);
      writer.u32(term.serial);
      writer.u32(term.creation);
    } else if (term instanceof Reference) {
      const words = term.ids.length;
      if (words < 1 || words > MAX_REFERENCE_WORDS) {
        throw new TermEncodeError(`A reference has 1..${MAX_REFERENCE_WORDS} ids, not ${words}`);
      }
      term.ids.forEach((id) => checkUint32(id, 'A reference id'));
      checkUint32(term.creation, 'A reference creation');
      writer.u8(Tag.NEWER_REFERENCE);
      writer.u16(words);
      writeAtom(writer, term.node);
      writer.u32(term.creation);
      term.ids.forEach((id) => writer.u32(id));
    } else if (term instanceof Port) {
      if (typeof term.id !== 'bigint' || term.id < 0n || term.id > UINT64_MAX) {
        throw new TermEncodeError(`A port id must be a bigint in 0..2^64-1, not ${term.id}`);
      }
      checkUint32(term.creation, 'A port creation');
      // OTP 25–27 send NEW_PORT_EXT while the id fits 32 bits, V4_PORT_EXT beyond.
      if (term.id < BigInt(UINT32_LIMIT)) {
        writer.u8(Tag.NEW_PORT);
        writeAtom(writer, term.node);
        writer.u32(Number(term.id));
      } else {
        writer.u8(Tag.V4_PORT);
        writeAtom(writer, term.node);
        writer.u64(term.id);
      }
      writer.u32(term.creation);
    } else if (term instanceof ExportFun) {
      if (!Number.isInteger(term.arity) || term.arity < 0 || term.arity > 255) {
        throw new TermEncodeError(`A fun's arity is 0..255, not ${term.arity}`);
      }
      writer.u8(Tag.EXPORT);
      writeAtom(writer, term.module);
      writeAtom(writer, term.fun);
      writer.u8(Tag.SMALL_INTEGER);
      writer.u8(term.arity);
    } else if (term instanceof OpaqueFun) {
      writer.u8(Tag.NEW_FUN);
      writer.bytes(term.encoded);
    } else if (term instanceof PreEncoded) {
      writer.bytes(term.bytes);
    } else {
      throw new TermEncodeError(`Cannot encode ${describe(term)} as an Erlang term`);
    }
  }
}

function writeMapHeader(writer: Writer, map: ErlMap): void {
  const seen = new Set<string>();
  for (const [key] of map.entries) {
    const keyString = termKey(key);
    // The receiving node's binary_to_term would reject the whole message.
    if (seen.has(keyString)) throw new TermEncodeError('A map repeats a key');
    seen.add(keyString);
  }
  writer.u8(Tag.MAP);
  writer.u32(map.entries.length);
}

/**
 * Encodes `term` as `term_to_binary/1` would (with the 131 version byte), in the forms OTP 26+
 * uses on the wire: UTF-8 atoms, NEW_PID, NEWER_REFERENCE, NEW_PORT / V4_PORT, NEW_FLOAT, the
 * smallest integer form, STRING_EXT for lists of bytes. Map entries keep their order.
 * Throws {@link TermEncodeError} for values the model does not allow. Terms must be trees (no
 * cycles).
 */
export function encodeTerm(term: Term): Buffer {
  const writer = new Writer();
  writer.u8(VERSION_MAGIC);
  writeTerm(writer, term);
  return writer.finish();
}

/**
 * `term` encoded once, to be sent many times: writing a {@link PreEncoded} copies its bytes,
 * where writing the term walks it (5,000 module atoms cost a code scan about 2 ms per node).
 */
export function preEncode(term: Term): PreEncoded {
  return new PreEncoded(term, encodeTerm(term).subarray(1));
}
