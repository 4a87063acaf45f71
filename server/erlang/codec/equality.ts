import 'server-only';

import { createHash } from 'node:crypto';

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

/*
 * Equality follows Erlang's exact equality (`=:=`) on the terms the model can represent, so that
 * two JS values that encode the same Erlang term compare equal:
 * - integers compare by value whether `number` or `bigint` (`1 =:= 1`, never `1 =:= 1.0`);
 * - floats compare with `Object.is` (so `-0.0` and `0.0` differ, as in OTP 27);
 * - a Charlist equals the list of its character codes; `[a | [b]]` equals `[a, b]`;
 * - a BitBinary whose last byte is whole (8 bits) equals the same bytes as a binary;
 * - maps compare regardless of entry order.
 */

/** `ImproperList([], tail)` is just `tail` in Erlang; peel such wrappers off. */
function unwrap(term: Term): Term {
  let current = term;
  for (;;) {
    if (current instanceof ImproperList && current.elements.length === 0) current = current.tail;
    else if (current instanceof PreEncoded) current = current.term;
    else return current;
  }
}

function isInteger(term: Term): term is number | bigint {
  return typeof term === 'number' || typeof term === 'bigint';
}

function integerEquals(a: number | bigint, b: number | bigint): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a === 'number' && !Number.isInteger(a)) return false;
  if (typeof b === 'number' && !Number.isInteger(b)) return false;
  return BigInt(a) === BigInt(b);
}

/** A list seen as its elements and its tail (`null` for a proper list), nested tails spliced. */
interface ListView {
  items: Term[];
  tail: Term | null;
}

function asList(term: Term): ListView | undefined {
  if (Array.isArray(term)) return { items: term, tail: null };
  if (term instanceof Charlist) return { items: charCodes(term.value), tail: null };
  if (!(term instanceof ImproperList)) return undefined;
  const items = [...term.elements];
  let tail: Term = term.tail;
  for (;;) {
    if (Array.isArray(tail)) {
      items.push(...tail);
      return { items, tail: null };
    }
    if (tail instanceof Charlist) {
      items.push(...charCodes(tail.value));
      return { items, tail: null };
    }
    if (tail instanceof ImproperList) {
      items.push(...tail.elements);
      tail = tail.tail;
      continue;
    }
    return { items, tail };
  }
}

/** The character codes of a charlist's text (one per code point). */
export function charCodes(value: string): number[] {
  const codes: number[] = [];
  for (const char of value) codes.push(char.codePointAt(0) as number);
  return codes;
}

/** A binary or bitstring as whole bytes plus the significant bits of the last one. */
interface BitsView {
  bytes: Uint8Array;
  /** 8 for a binary (or an empty bitstring). */
  bitsInLastByte: number;
}

function asBits(term: Term): BitsView | undefined {
  if (term instanceof Uint8Array) return { bytes: term, bitsInLastByte: 8 };
  if (term instanceof BitBinary) {
    if (term.bytes.length === 0) return { bytes: term.bytes, bitsInLastByte: 8 };
    return { bytes: term.bytes, bitsInLastByte: term.bitsInLastByte };
  }
  return undefined;
}

function bitsEqual(a: BitsView, b: BitsView): boolean {
  if (a.bytes.length !== b.bytes.length || a.bitsInLastByte !== b.bitsInLastByte) return false;
  const last = a.bytes.length - 1;
  for (let index = 0; index < last; index++) {
    if (a.bytes[index] !== b.bytes[index]) return false;
  }
  if (last < 0) return true;
  const mask = (0xff << (8 - a.bitsInLastByte)) & 0xff;
  return ((a.bytes[last] as number) & mask) === ((b.bytes[last] as number) & mask);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Erlang exact equality (`=:=`) of two terms. Iterative, so deep terms cannot overflow the stack.
 */
export function termEquals(a: Term, b: Term): boolean {
  const pending: Array<[Term, Term]> = [[a, b]];
  for (let pair = pending.pop(); pair; pair = pending.pop()) {
    const x = unwrap(pair[0]);
    const y = unwrap(pair[1]);
    if (x === y) continue;
    if (isInteger(x) || isInteger(y)) {
      if (!isInteger(x) || !isInteger(y) || !integerEquals(x, y)) return false;
      continue;
    }
    if (x instanceof ErlFloat) {
      if (!(y instanceof ErlFloat) || !Object.is(x.value, y.value)) return false;
      continue;
    }
    if (x instanceof Atom || y instanceof Atom) return false; // interned: identity decided it
    if (x instanceof Tuple) {
      if (!(y instanceof Tuple) || x.elements.length !== y.elements.length) return false;
      x.elements.forEach((element, index) => pending.push([element, y.elements[index] as Term]));
      continue;
    }
    const xList = asList(x);
    if (xList) {
      const yList = asList(y);
      if (!yList || xList.items.length !== yList.items.length) return false;
      if ((xList.tail === null) !== (yList.tail === null)) return false;
      if (xList.tail !== null) pending.push([xList.tail, yList.tail as Term]);
      xList.items.forEach((item, index) => pending.push([item, yList.items[index] as Term]));
      continue;
    }
    const xBits = asBits(x);
    if (xBits) {
      const yBits = asBits(y);
      if (!yBits || !bitsEqual(xBits, yBits)) return false;
      continue;
    }
    if (x instanceof ErlMap) {
      if (!(y instanceof ErlMap) || x.entries.length !== y.entries.length) return false;
      const index = keyIndex(y);
      for (const [key, value] of x.entries) {
        const other = index.get(termKey(key));
        if (!other) return false;
        pending.push([value, other[1]]);
      }
      continue;
    }
    if (x instanceof Pid) {
      if (
        !(y instanceof Pid) ||
        x.node !== y.node ||
        x.id !== y.id ||
        x.serial !== y.serial ||
        x.creation !== y.creation
      ) {
        return false;
      }
      continue;
    }
    if (x instanceof Reference) {
      if (
        !(y instanceof Reference) ||
        x.node !== y.node ||
        x.creation !== y.creation ||
        x.ids.length !== y.ids.length ||
        x.ids.some((id, index) => id !== y.ids[index])
      ) {
        return false;
      }
      continue;
    }
    if (x instanceof Port) {
      if (!(y instanceof Port) || x.node !== y.node || x.id !== y.id || x.creation !== y.creation) {
        return false;
      }
      continue;
    }
    if (x instanceof ExportFun) {
      if (
        !(y instanceof ExportFun) ||
        x.module !== y.module ||
        x.fun !== y.fun ||
        x.arity !== y.arity
      ) {
        return false;
      }
      continue;
    }
    if (x instanceof OpaqueFun) {
      if (!(y instanceof OpaqueFun) || !bytesEqual(x.encoded, y.encoded)) return false;
      continue;
    }
    return false;
  }
  return true;
}

/*
 * Container keys are memoized per object and replaced by a digest once long, so that keys nested
 * in keys (maps keyed by maps keyed by maps…) cost time linear in their size overall instead of
 * once per nesting level. Terms are treated as immutable once compared, encoded or looked up.
 */
const containerKeys = new WeakMap<object, string>();
const DIGEST_ABOVE = 64;

function memoized(container: object, compute: () => string): string {
  let key = containerKeys.get(container);
  if (key === undefined) {
    const full = compute();
    key =
      full.length > DIGEST_ABOVE ? `#${createHash('sha256').update(full).digest('base64')}` : full;
    containerKeys.set(container, key);
  }
  return key;
}

/**
 * A string that is equal for two terms exactly when {@link termEquals} holds (up to SHA-256
 * collisions): map lookups and the decoder's repeated-key check use it. Recursive, so meant for
 * keys; depth is bounded by the decoder's `maxDepth` for decoded terms.
 */
export function termKey(term: Term): string {
  const t = unwrap(term);
  if (typeof t === 'bigint') return `i${t}`;
  if (typeof t === 'number') return Number.isInteger(t) ? `i${BigInt(t)}` : `n${t}`;
  if (t instanceof ErlFloat) return Object.is(t.value, -0) ? 'f-0' : `f${t.value}`;
  if (t instanceof Atom) return `a${t.name.length}:${t.name}`;
  if (t instanceof Tuple) {
    return memoized(t, () => `t${t.elements.length}(${t.elements.map(termKey).join(',')})`);
  }
  if (Array.isArray(t) || t instanceof Charlist || t instanceof ImproperList) {
    return memoized(t, () => {
      const list = asList(t) as ListView;
      const tail = list.tail === null ? '' : termKey(list.tail);
      return `l${list.items.length}[${list.items.map(termKey).join(',')}|${tail}]`;
    });
  }
  const bits = asBits(t);
  if (bits) {
    const bytes = Buffer.from(bits.bytes);
    if (bytes.length > 0 && bits.bitsInLastByte < 8) {
      bytes[bytes.length - 1] =
        (bytes[bytes.length - 1] as number) & ((0xff << (8 - bits.bitsInLastByte)) & 0xff);
    }
    return `b${bits.bitsInLastByte}:${bytes.toString('base64')};`;
  }
  if (t instanceof ErlMap) {
    return memoized(t, () => {
      const entries = t.entries.map(([key, value]) => `${termKey(key)}=>${termKey(value)}`);
      return `m${entries.length}{${entries.sort().join(',')}}`;
    });
  }
  if (t instanceof Pid) return `p${termKey(t.node)}${t.id}.${t.serial}.${t.creation}`;
  if (t instanceof Reference) return `r${termKey(t.node)}${t.creation}.${t.ids.join('.')};`;
  if (t instanceof Port) return `o${termKey(t.node)}${t.id}.${t.creation}`;
  if (t instanceof ExportFun) return `e${termKey(t.module)}${termKey(t.fun)}${t.arity}`;
  if (t instanceof OpaqueFun) return `F${Buffer.from(t.encoded).toString('base64')}`;
  return `?${String(t)}`;
}

/** Maps large enough that a linear scan per lookup would hurt get an index, built once. */
const INDEX_THRESHOLD = 16;
const keyIndexes = new WeakMap<ErlMap, Map<string, readonly [Term, Term]>>();

function keyIndex(map: ErlMap): Map<string, readonly [Term, Term]> {
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    for (const entry of map.entries) {
      const key = termKey(entry[0]);
      if (!index.has(key)) index.set(key, entry);
    }
    keyIndexes.set(map, index);
  }
  return index;
}

/**
 * The value stored under `key` in `map` (compared with Erlang exact equality), or `undefined`.
 * Atom keys, the common case, are found by identity.
 */
export function mapGet(map: ErlMap, key: Term): Term | undefined {
  if (key instanceof Atom) {
    for (const [entryKey, value] of map.entries) if (entryKey === key) return value;
    return undefined;
  }
  if (map.entries.length > INDEX_THRESHOLD) return keyIndex(map).get(termKey(key))?.[1];
  for (const [entryKey, value] of map.entries) if (termEquals(entryKey, key)) return value;
  return undefined;
}
