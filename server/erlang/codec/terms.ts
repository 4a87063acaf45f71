import 'server-only';

/**
 * The typed model of Erlang terms as beamscope sees them.
 *
 * Mapping (decode → JS, and what encode accepts):
 * - integer in 32-bit range (SMALL_INTEGER_EXT, INTEGER_EXT) → `number`
 * - bignum (SMALL_BIG_EXT, LARGE_BIG_EXT) → `bigint`
 * - float (NEW_FLOAT_EXT, FLOAT_EXT) → {@link ErlFloat}, so `1.0` and `1` stay distinct
 * - atom (any atom tag) → {@link Atom} (interned: compare with `===`)
 * - tuple → {@link Tuple}
 * - proper list → `Term[]` (NIL_EXT → `[]`); improper list → {@link ImproperList}
 * - STRING_EXT (a list of bytes sent compactly) → {@link Charlist}
 * - binary → `Uint8Array` (a `Buffer` is accepted); bitstring → {@link BitBinary}
 * - map → {@link ErlMap}
 * - pid, reference, port → {@link Pid}, {@link Reference}, {@link Port}
 * - external fun (EXPORT_EXT) → {@link ExportFun}; closure (NEW_FUN_EXT) → {@link OpaqueFun}
 * - encode only: {@link PreEncoded}, a term encoded once and sent many times (never decoded to)
 *
 * Canonical forms (what the decoder returns, so decode → encode → decode is exact):
 * - an integer is a `number` exactly when it lies in -2^31..2^31-1, whatever tag carried it
 *   (a SMALL_BIG holding 5 decodes to `5`); the encoder accepts either type for any value and
 *   picks the smallest tag, as OTP does;
 * - a list tail that is a list is spliced in (`[1 | [2]]` decodes to `[1, 2]`), so an
 *   ImproperList has at least one element and a non-list tail; a zero-length LIST_EXT decodes to
 *   its tail;
 * - an empty STRING_EXT decodes to `[]`; a BIT_BINARY_EXT with 8 bits in its last byte decodes
 *   to a binary; unused bits of a bitstring's last byte are zeroed;
 * - binaries are copies (they never share memory with the input).
 * `termEquals` (Erlang's `=:=`) treats the non-canonical spellings as equal: `5n` and `5`, a
 * Charlist and the list of its codes, a BitBinary of 8 bits and a binary.
 */
export type Term =
  | number
  | bigint
  | ErlFloat
  | Atom
  | Tuple
  | Term[]
  | ImproperList
  | Charlist
  | Uint8Array
  | BitBinary
  | ErlMap
  | Pid
  | Reference
  | Port
  | ExportFun
  | OpaqueFun
  | PreEncoded;

/*
 * Atoms are interned so that `===` compares them, but weakly: a peer can send any number of
 * distinct atoms, and a strong table would grow without bound. An atom nobody references any more
 * is collected and its entry removed; while anyone holds it, `Atom.of` returns that same object.
 */
const atomTable = new Map<string, WeakRef<Atom>>();
const atomCollector = new FinalizationRegistry<string>((name) => {
  // A newer Atom with the same name may have replaced the collected one: keep that entry.
  if (atomTable.get(name)?.deref() === undefined) atomTable.delete(name);
});

/** How many names the weak atom table holds now (for the test of its bound). */
export function liveAtomCount(): number {
  return atomTable.size;
}

/** An atom. Instances are interned, so two atoms with one name are the same object. */
export class Atom {
  private constructor(readonly name: string) {}
  /** The one Atom for `name`. Local only: making an Atom never creates one on a remote node. */
  static of(name: string): Atom {
    let existing = atomTable.get(name)?.deref();
    if (!existing) {
      existing = new Atom(name);
      atomTable.set(name, new WeakRef(existing));
      atomCollector.register(existing, name);
    }
    return existing;
  }
  toString(): string {
    return this.name;
  }
}

/** Shorthand for {@link Atom.of}. */
export const atom = (name: string): Atom => Atom.of(name);

export class Tuple {
  constructor(readonly elements: Term[]) {}
  get arity(): number {
    return this.elements.length;
  }
  at(index: number): Term | undefined {
    return this.elements[index];
  }
}

/** Shorthand: `tuple(atom('ok'), 1)`. */
export const tuple = (...elements: Term[]): Tuple => new Tuple(elements);

/** A list whose tail is not `[]`, e.g. `[1 | 2]`. `elements` holds at least one element. */
export class ImproperList {
  constructor(
    readonly elements: Term[],
    readonly tail: Term,
  ) {}
}

/** A list of small integers (0..255) as sent with STRING_EXT; `value` holds one char per byte. */
export class Charlist {
  constructor(readonly value: string) {}
}

export class ErlFloat {
  constructor(readonly value: number) {}
}

/** A bitstring whose last byte holds only `bitsInLastByte` (1..8) significant bits, high bits first. */
export class BitBinary {
  constructor(
    readonly bytes: Uint8Array,
    readonly bitsInLastByte: number,
  ) {}
}

/** A map. Keys are any term, so entries keep their order of arrival; look up with the codec's `mapGet`. */
export class ErlMap {
  constructor(readonly entries: Array<readonly [Term, Term]>) {}
}

export class Pid {
  constructor(
    readonly node: Atom,
    readonly id: number,
    readonly serial: number,
    readonly creation: number,
  ) {}
}

export class Reference {
  constructor(
    readonly node: Atom,
    readonly creation: number,
    /** Up to 5 32-bit words, as NEWER_REFERENCE_EXT carries them. */
    readonly ids: number[],
  ) {}
}

export class Port {
  constructor(
    readonly node: Atom,
    /** 64 bits in V4_PORT_EXT. */
    readonly id: bigint,
    readonly creation: number,
  ) {}
}

/** `fun M:F/A`. */
export class ExportFun {
  constructor(
    readonly module: Atom,
    readonly fun: Atom,
    readonly arity: number,
  ) {}
}

/** A closure: beamscope never calls one, so it keeps the encoded bytes (after the tag) verbatim. */
export class OpaqueFun {
  constructor(readonly encoded: Uint8Array) {}
}

/**
 * A term already in the external format, made by the codec's `preEncode` and written out as is
 * by the encoder: a long argument sent to many nodes (a chunk of 1,000 module atoms in a code
 * scan) is encoded once instead of once per call. The decoder never returns one; equality,
 * formatting and JSON see `term`, the term it stands for.
 */
export class PreEncoded {
  /** Only `preEncode` makes one, so `bytes` is always the encoder's own output for `term`. */
  constructor(
    readonly term: Term,
    /** The encoding of `term` without the 131 version byte. */
    readonly bytes: Uint8Array,
  ) {}
}
