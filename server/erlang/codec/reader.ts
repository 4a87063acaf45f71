import 'server-only';

// The byte reader the decoders share, and atom names read from it.

import { TermDecodeError } from './errors';
import { MAX_ATOM_CHARACTERS, Tag } from './tags';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads big-endian fields from `bytes[pos, end)`, failing before it reads past `end`. */
export class Reader {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string, at = this.pos): never {
    throw new TermDecodeError(`Malformed Erlang term at byte ${at}: ${message}`, at);
  }

  /** Fails unless `count` more bytes are available; `count` may be any (absurd) number. */
  need(count: number, what: string): void {
    if (count > this.end - this.pos) {
      this.fail(`${what} needs ${count} bytes but only ${this.end - this.pos} remain`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++] as number;
  }
  u16(what: string): number {
    this.need(2, what);
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }
  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }
  i32(what: string): number {
    this.need(4, what);
    const value = this.view.getInt32(this.pos);
    this.pos += 4;
    return value;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const value = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return value;
  }
  f64(what: string): number {
    this.need(8, what);
    const value = this.view.getFloat64(this.pos);
    this.pos += 8;
    return value;
  }
  /** The next 4 bytes as an unsigned integer, without consuming them. */
  peekU32(what: string): number {
    this.need(4, what);
    return this.view.getUint32(this.pos);
  }
  /** Moves past the next `count` bytes, making nothing. */
  skip(count: number, what: string): void {
    this.need(count, what);
    this.pos += count;
  }
  /** A view (not a copy) of the next `count` bytes. */
  view8(count: number, what: string): Uint8Array {
    this.need(count, what);
    const slice = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return slice;
  }
  /**
   * A copy of the next `count` bytes, so a decoded binary never pins a whole network frame.
   * `Buffer.allocUnsafe` carves small copies out of Node's shared pool (every byte is then
   * overwritten), which spares one ArrayBuffer per binary in replies holding thousands.
   */
  copy(count: number, what: string): Uint8Array {
    const source = this.view8(count, what);
    const copy = Buffer.allocUnsafe(count);
    copy.set(source);
    return copy;
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) {
    if ((bytes[index] as number) >= 0x80) return false;
  }
  return true;
}

/** Short byte runs to a string; faster than a Buffer or TextDecoder for atom-sized input. */
function latin1(bytes: Uint8Array): string {
  if (bytes.length > 64) return Buffer.from(bytes).toString('latin1');
  // One call builds a flat string; adding a character at a time builds a rope to flatten later
  // (when the atom table hashes it): ~40 % more CPU over a list of 5,000 module names.
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/**
 * The name of an atom whose tag (`tag`, at byte `at`) was just read: bounded by the atom limits
 * of ERTS, checked UTF-8. A string, not an {@link Atom}: callers that need no interning (a list
 * of 5,000 module names) keep the names as they are.
 */
export function readAtomName(reader: Reader, tag: number, at: number): string {
  const small = tag === Tag.SMALL_ATOM || tag === Tag.SMALL_ATOM_UTF8;
  const length = small ? reader.u8('atom length') : reader.u16('atom length');
  const bytes = reader.view8(length, 'an atom');
  let name: string;
  if (tag === Tag.ATOM || tag === Tag.SMALL_ATOM) {
    if (length > MAX_ATOM_CHARACTERS) reader.fail(`an atom of ${length} characters`, at);
    name = latin1(bytes);
  } else if (isAscii(bytes)) {
    // The common case (module, function, node names): no UTF-8 decoding needed.
    if (length > MAX_ATOM_CHARACTERS) reader.fail(`an atom of ${length} characters`, at);
    name = latin1(bytes);
  } else {
    if (length > MAX_ATOM_CHARACTERS * 4) reader.fail(`an atom of ${length} bytes`, at);
    try {
      name = utf8.decode(bytes);
    } catch (error) {
      throw new TermDecodeError(
        `Malformed Erlang term at byte ${at}: an atom that is not valid UTF-8`,
        at,
        { cause: error },
      );
    }
    let characters = 0;
    for (const _ of name) characters++;
    if (characters > MAX_ATOM_CHARACTERS) reader.fail(`an atom of ${characters} characters`, at);
  }
  return name;
}
