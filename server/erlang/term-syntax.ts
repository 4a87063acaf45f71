import 'server-only';

// Reading a name an operator types in Elixir or Erlang term syntax (`{:device, 42}`,
// `{device, 42}`, `<<"id">>`, `'abc'`…) into the project's term model, for the name lookup (the
// dashboard and `beamscope lookup`). Reading creates no atom anywhere: atoms are local `Atom`
// objects, listed in `atoms` so that each can be checked on a node (binary_to_existing_atom)
// before a term holding it is sent there. Bounded: text length, nesting depth, distinct atoms.

import { BeamscopeError } from '../errors';
import { termEquals } from './codec/equality';
import { Charlist, Tuple, atom, type Term } from './codec/terms';

export type TermDialect = 'elixir' | 'erlang';

/** What the outermost value of a name is, as an operator calls it. */
export type TermKind = 'atom' | 'binary' | 'charlist' | 'integer' | 'tuple' | 'list';

/** The longest text read, in UTF-8 bytes. */
export const MAX_TERM_TEXT_BYTES = 1024;
/** How deep tuples and lists may nest (`{a}` is depth 1). */
export const MAX_TERM_DEPTH = 16;
/** How many distinct atoms one name may hold (each is one check per node). */
export const MAX_TERM_ATOMS = 32;
/** The BEAM's own limit on an atom's length, in characters. */
const MAX_ATOM_CHARS = 255;

export interface ParsedTerm {
  term: Term;
  /** The distinct atom names the term holds, in order of first appearance. */
  atoms: string[];
  kind: TermKind;
}

/** One way of reading a name, and the dialects that read it so. */
export interface TermReading extends ParsedTerm {
  dialects: TermDialect[];
}

/** Text that is not term syntax (or is beyond the bounds), with where reading stopped. */
export class TermSyntaxError extends BeamscopeError<'erlang'> {
  constructor(
    readonly reason: string,
    /** Index into the text (UTF-16 code units) where reading stopped. */
    readonly position: number,
    message = `${reason} at character ${position + 1}`,
  ) {
    super('erlang', 'invalid_lookup_name', message);
  }
}

/**
 * Whether `text` is meant as term syntax rather than plain text: it opens a tuple, list, binary,
 * string, quoted atom, Elixir atom, sigil or map. Plain text (`device-00042`, `42`, `foo`) is
 * looked up as it is, in several forms; see `readLookupName` in probes/lookup.ts.
 */
export function looksLikeTerm(text: string): boolean {
  return /^\s*(?:[{["':~%#]|<<)/.test(text);
}

/**
 * Reads `text` as Elixir and as Erlang term syntax. Returns the distinct readings: one when only
 * one dialect reads it or both read the same term, two when they differ — only quotes make them
 * differ: `"x"` is a binary in Elixir and a charlist in Erlang, `'x'` a charlist in Elixir and an
 * atom in Erlang. Throws {@link TermSyntaxError} when neither reads it.
 */
export function readTerm(text: string): TermReading[] {
  checkTextSize(text);
  const readings: TermReading[] = [];
  const failures = new Map<TermDialect, TermSyntaxError>();
  for (const dialect of ['elixir', 'erlang'] as const) {
    try {
      const parsed = parseTerm(text, dialect);
      const same = readings.find((reading) => termEquals(reading.term, parsed.term));
      if (same) same.dialects.push(dialect);
      else readings.push({ ...parsed, dialects: [dialect] });
    } catch (error) {
      if (!(error instanceof TermSyntaxError)) throw error;
      failures.set(dialect, error);
    }
  }
  if (readings.length > 0) return readings;
  const elixir = failures.get('elixir')!;
  const erlang = failures.get('erlang')!;
  const further = erlang.position > elixir.position ? erlang : elixir;
  if (elixir.message === erlang.message) {
    throw new TermSyntaxError(
      further.reason,
      further.position,
      `not Elixir or Erlang term syntax: ${further.message}`,
    );
  }
  throw new TermSyntaxError(
    further.reason,
    further.position,
    `not Elixir or Erlang term syntax (as Elixir: ${elixir.message}; as Erlang: ${erlang.message})`,
  );
}

/** Reads `text` as one dialect's term syntax. */
export function parseTerm(text: string, dialect: TermDialect): ParsedTerm {
  checkTextSize(text);
  return new Reader(text, dialect).read();
}

function checkTextSize(text: string): void {
  if (Buffer.byteLength(text, 'utf8') > MAX_TERM_TEXT_BYTES) {
    throw new TermSyntaxError(`longer than ${MAX_TERM_TEXT_BYTES} bytes`, 0);
  }
}

const isDigit = (char: string | undefined) => char !== undefined && char >= '0' && char <= '9';
const isSpace = (char: string | undefined) =>
  char === ' ' || char === '\t' || char === '\n' || char === '\r';
const WORD = /[A-Za-z0-9_@]/;

/** Escapes both dialects read the same way inside quotes. */
const COMMON_ESCAPES: Record<string, number> = {
  n: 10,
  r: 13,
  t: 9,
  b: 8,
  f: 12,
  v: 11,
  e: 27,
  s: 32,
  d: 127,
};

interface Value {
  term: Term;
  kind: TermKind;
}

/** A recursive-descent reader of one dialect over the text; fails with its position. */
class Reader {
  private pos = 0;
  private readonly atoms = new Set<string>();

  constructor(
    private readonly text: string,
    private readonly dialect: TermDialect,
  ) {}

  read(): ParsedTerm {
    this.space();
    if (this.pos >= this.text.length) this.fail('expected a value');
    const { term, kind } = this.value(0);
    this.space();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.peekChar()} after the value`);
    return { term, kind, atoms: [...this.atoms] };
  }

  private fail(reason: string): never {
    throw new TermSyntaxError(reason, this.pos);
  }

  /** The character at `pos` for a message: quoted when printable, else as `U+XXXX`. */
  private peekChar(): string {
    const code = this.text.codePointAt(this.pos) ?? 0;
    const printable = code > 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0);
    return printable && !/[\p{Z}\p{C}]/u.test(String.fromCodePoint(code))
      ? `"${String.fromCodePoint(code)}"`
      : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }

  private space(): void {
    while (isSpace(this.text[this.pos])) this.pos += 1;
  }

  private startsWith(token: string): boolean {
    return this.text.startsWith(token, this.pos);
  }

  private value(depth: number): Value {
    const char = this.text[this.pos];
    if (char === '{') return { term: new Tuple(this.sequence('}', depth)), kind: 'tuple' };
    if (char === '[') return { term: this.sequence(']', depth), kind: 'list' };
    if (this.startsWith('<<')) return { term: this.binary(), kind: 'binary' };
    if (char === '"') {
      const codes = this.quoted('"');
      return this.dialect === 'elixir'
        ? { term: utf8(codes), kind: 'binary' }
        : { term: charlist(codes), kind: 'charlist' };
    }
    if (char === "'") {
      const start = this.pos;
      const codes = this.quoted("'");
      return this.dialect === 'elixir'
        ? { term: charlist(codes), kind: 'charlist' }
        : { term: this.atom(codes, start), kind: 'atom' };
    }
    if (char === ':') return this.elixirOnly(':', () => this.colonAtom());
    if (char === '~') return this.elixirOnly('~', () => this.sigil());
    if (char === '%' || char === '#') this.fail('maps are not supported in a name');
    if (char === '-' || isDigit(char)) return { term: this.integer(), kind: 'integer' };
    if (char !== undefined && /[A-Za-z_]/.test(char)) return this.word();
    if (char === undefined) this.fail('expected a value, found the end');
    this.fail(`unexpected ${this.peekChar()}`);
  }

  private elixirOnly(token: string, read: () => Value): Value {
    if (this.dialect !== 'elixir') this.fail(`"${token}" is Elixir syntax, not Erlang`);
    return read();
  }

  /** Elements up to `close`, comma-separated; the opening bracket is at `pos`. */
  private sequence(close: '}' | ']', depth: number): Term[] {
    if (depth + 1 > MAX_TERM_DEPTH) this.fail(`nested deeper than ${MAX_TERM_DEPTH} levels`);
    this.pos += 1;
    this.space();
    const items: Term[] = [];
    if (this.text[this.pos] === close) {
      this.pos += 1;
      return items;
    }
    for (;;) {
      if (this.pos >= this.text.length) this.fail(`expected a value or "${close}", found the end`);
      items.push(this.value(depth + 1).term);
      this.space();
      const next = this.text[this.pos];
      if (next === close) {
        this.pos += 1;
        return items;
      }
      if (next === '|' && close === ']') this.fail('improper lists are not supported in a name');
      if (next !== ',') {
        this.fail(
          next === undefined
            ? `expected "," or "${close}", found the end`
            : `expected "," or "${close}"`,
        );
      }
      this.pos += 1;
      this.space();
    }
  }

  /** `<<…>>`: strings (Erlang: `/utf8` for characters above 255) and bytes 0..255. */
  private binary(): Uint8Array {
    this.pos += 2;
    this.space();
    const bytes: number[] = [];
    if (this.startsWith('>>')) {
      this.pos += 2;
      return Uint8Array.from(bytes);
    }
    for (;;) {
      const char = this.text[this.pos];
      if (char === '"') {
        const start = this.pos;
        const codes = this.quoted('"');
        this.space();
        if (this.dialect === 'erlang' && this.startsWith('/utf8')) {
          this.pos += 5;
          bytes.push(...utf8(codes));
        } else if (this.dialect === 'elixir') {
          bytes.push(...utf8(codes));
        } else {
          if (codes.some((code) => code > 255)) {
            this.pos = start;
            this.fail('a character above 255 in <<"…">>: write <<"…"/utf8>>');
          }
          bytes.push(...codes);
        }
      } else if (isDigit(char)) {
        const value = this.integer();
        if (value < 0 || value > 255) this.fail('a byte of a binary must be 0..255');
        bytes.push(Number(value));
      } else {
        this.fail('expected a string or a byte in <<…>>');
      }
      this.space();
      if (this.startsWith('>>')) {
        this.pos += 2;
        return Uint8Array.from(bytes);
      }
      if (this.text[this.pos] !== ',') this.fail('expected "," or ">>"');
      this.pos += 1;
      this.space();
    }
  }

  /** A quoted string's code points; `pos` is at the opening quote. */
  private quoted(quote: '"' | "'"): number[] {
    const codes: number[] = [];
    this.pos += 1;
    for (;;) {
      const code = this.text.codePointAt(this.pos);
      if (code === undefined) this.fail(`unterminated ${quote === '"' ? 'string' : 'quote'}`);
      const char = String.fromCodePoint(code);
      if (char === quote) {
        this.pos += 1;
        return codes;
      }
      if (char === '\\') {
        this.pos += 1;
        codes.push(this.escape());
        continue;
      }
      if (this.dialect === 'elixir' && char === '#' && this.text[this.pos + 1] === '{') {
        this.fail('interpolation (#{…}) is not supported in a name');
      }
      if (code >= 0xd800 && code <= 0xdfff) this.fail('a lone surrogate is not a character');
      codes.push(code);
      this.pos += char.length;
    }
  }

  /** The character after a backslash (`pos` is just after it). */
  private escape(): number {
    const char = this.text[this.pos];
    if (char === undefined) this.fail('unterminated escape');
    const common = COMMON_ESCAPES[char];
    if (common !== undefined) {
      this.pos += 1;
      return common;
    }
    if (char === 'x') {
      this.pos += 1;
      if (this.text[this.pos] === '{') return this.bracedHex();
      return this.hexDigits(this.dialect === 'elixir' ? 1 : 2, 2);
    }
    if (this.dialect === 'elixir') {
      if (char === 'a') {
        this.pos += 1;
        return 7;
      }
      if (char === '0') {
        this.pos += 1;
        return 0;
      }
      if (char === 'u') {
        this.pos += 1;
        return this.text[this.pos] === '{' ? this.bracedHex() : this.hexDigits(4, 4);
      }
    } else {
      if (char >= '0' && char <= '7') {
        let value = 0;
        for (let digits = 0; digits < 3; digits++) {
          const digit = this.text[this.pos];
          if (digit === undefined || digit < '0' || digit > '7') break;
          value = value * 8 + Number(digit);
          this.pos += 1;
        }
        return value;
      }
      if (char === '^') {
        const control = this.text.codePointAt(this.pos + 1);
        if (control === undefined) this.fail('unterminated escape');
        this.pos += control > 0xffff ? 3 : 2;
        return control & 31;
      }
    }
    // Any other escaped character stands for itself, in both dialects.
    const code = this.text.codePointAt(this.pos)!;
    if (code >= 0xd800 && code <= 0xdfff) this.fail('a lone surrogate is not a character');
    this.pos += code > 0xffff ? 2 : 1;
    return code;
  }

  private hexDigits(min: number, max: number): number {
    const start = this.pos;
    while (this.pos - start < max && /[0-9A-Fa-f]/.test(this.text[this.pos] ?? '')) this.pos += 1;
    if (this.pos - start < min) this.fail('expected hexadecimal digits in an escape');
    return this.codePoint(parseInt(this.text.slice(start, this.pos), 16));
  }

  private bracedHex(): number {
    this.pos += 1;
    const start = this.pos;
    while (/[0-9A-Fa-f]/.test(this.text[this.pos] ?? '') && this.pos - start < 8) this.pos += 1;
    if (this.pos === start || this.text[this.pos] !== '}') this.fail('expected {hex digits}');
    const value = parseInt(this.text.slice(start, this.pos), 16);
    this.pos += 1;
    return this.codePoint(value);
  }

  private codePoint(value: number): number {
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) {
      this.fail('not a Unicode character');
    }
    return value;
  }

  /** An atom from its characters, bounded and recorded; `start` is where it was written. */
  private atom(codes: number[], start: number): Term {
    if (codes.length > MAX_ATOM_CHARS) {
      this.pos = start;
      this.fail(`an atom holds at most ${MAX_ATOM_CHARS} characters`);
    }
    const name = String.fromCodePoint(...codes);
    if (!this.atoms.has(name)) {
      if (this.atoms.size >= MAX_TERM_ATOMS) {
        this.pos = start;
        this.fail(`a name holds at most ${MAX_TERM_ATOMS} distinct atoms`);
      }
      this.atoms.add(name);
    }
    return atom(name);
  }

  /** Elixir `:name`, `:name?`, `:"quoted"` or `:'quoted'`. */
  private colonAtom(): Value {
    const start = this.pos;
    this.pos += 1;
    const char = this.text[this.pos];
    if (char === '"' || char === "'") {
      return { term: this.atom(this.quoted(char), start), kind: 'atom' };
    }
    const match = /^[A-Za-z_][A-Za-z0-9_@]*[?!]?/.exec(this.text.slice(this.pos, this.pos + 300));
    if (!match) this.fail('expected an atom name after ":"');
    this.pos += match[0].length;
    return { term: this.atom(codesOf(match[0]), start), kind: 'atom' };
  }

  /** Elixir `~c"…"` / `~c'…'` (a charlist) and `~s"…"` / `~s'…'` (a binary). */
  private sigil(): Value {
    const letter = this.text[this.pos + 1];
    const quote = this.text[this.pos + 2];
    if ((letter !== 'c' && letter !== 's') || (quote !== '"' && quote !== "'")) {
      this.fail('only the sigils ~c"…" and ~s"…" are supported');
    }
    this.pos += 2;
    const codes = this.quoted(quote);
    return letter === 'c'
      ? { term: charlist(codes), kind: 'charlist' }
      : { term: utf8(codes), kind: 'binary' };
  }

  /** A bare word: an Erlang atom; in Elixir `true`, `false`, `nil` or an alias (`MyApp.Devices`). */
  private word(): Value {
    const start = this.pos;
    while (WORD.test(this.text[this.pos] ?? '')) this.pos += 1;
    let word = this.text.slice(start, this.pos);
    const shown = cut(word);
    if (this.dialect === 'erlang') {
      if (!/^[a-z]/.test(word)) {
        this.pos = start;
        this.fail(`${shown} is a variable in Erlang: quote it ('${shown}') for an atom`);
      }
      return { term: this.atom(codesOf(word), start), kind: 'atom' };
    }
    if (word === 'true' || word === 'false' || word === 'nil') {
      return { term: this.atom(codesOf(word), start), kind: 'atom' };
    }
    if (!/^[A-Z][A-Za-z0-9_]*$/.test(word)) {
      this.pos = start;
      this.fail(`${shown} is a variable in Elixir: write :${shown} for an atom`);
    }
    // An alias: dot-separated capitalised segments, the atom `Elixir.Segment.Segment`.
    while (this.text[this.pos] === '.' && /[A-Z]/.test(this.text[this.pos + 1] ?? '')) {
      const segment = /^\.[A-Z][A-Za-z0-9_]*/.exec(this.text.slice(this.pos, this.pos + 300))!;
      word += segment[0];
      this.pos += segment[0].length;
    }
    if (WORD.test(this.text[this.pos] ?? '') || this.text[this.pos] === '.') {
      this.fail(`not an alias: ${cut(word)} followed by ${this.peekChar()}`);
    }
    const name = word === 'Elixir' || word.startsWith('Elixir.') ? word : `Elixir.${word}`;
    return { term: this.atom(codesOf(name), start), kind: 'atom' };
  }

  /**
   * An integer: decimal with `_` separators in both dialects, `Base#digits` in Erlang,
   * `0x`/`0o`/`0b` in Elixir. A number when it fits 32 bits (the codec's canonical form), else a
   * bigint.
   */
  private integer(): number | bigint {
    const start = this.pos;
    let negative = false;
    if (this.text[this.pos] === '-') {
      negative = true;
      this.pos += 1;
      this.space();
      if (!isDigit(this.text[this.pos])) this.fail('expected digits after "-"');
    }
    let base = 10;
    if (this.dialect === 'elixir' && this.text[this.pos] === '0') {
      const prefix = { x: 16, o: 8, b: 2 }[this.text[this.pos + 1] ?? ''];
      if (prefix !== undefined) {
        base = prefix;
        this.pos += 2;
      }
    }
    let value = this.digits(base);
    if (base === 10 && this.dialect === 'erlang' && this.text[this.pos] === '#') {
      if (value < 2n || value > 36n) this.fail('a base must be 2..36');
      this.pos += 1;
      value = this.digits(Number(value));
    }
    if (this.text[this.pos] === '.' && isDigit(this.text[this.pos + 1])) {
      this.pos = start;
      this.fail('floats are not supported in a name');
    }
    if (WORD.test(this.text[this.pos] ?? '')) this.fail('not a number');
    const signed = negative ? -value : value;
    return signed >= -(2n ** 31n) && signed < 2n ** 31n ? Number(signed) : signed;
  }

  /** Digits of `base`, single `_` between them. */
  private digits(base: number): bigint {
    let value = 0n;
    let count = 0;
    for (;;) {
      const char = this.text[this.pos];
      const digit = char === undefined ? NaN : parseInt(char, 36);
      if (!Number.isNaN(digit) && digit < base) {
        value = value * BigInt(base) + BigInt(digit);
        count += 1;
        this.pos += 1;
      } else if (char === '_' && count > 0 && digitOf(this.text[this.pos + 1], base)) {
        this.pos += 1;
      } else break;
    }
    if (count === 0) this.fail(`expected base-${base} digits`);
    return value;
  }
}

/** A word for a message: words are ASCII (see WORD); long ones are cut. */
function cut(word: string): string {
  return word.length > 40 ? `${word.slice(0, 40)}…` : word;
}

function digitOf(char: string | undefined, base: number): boolean {
  if (char === undefined) return false;
  const digit = parseInt(char, 36);
  return !Number.isNaN(digit) && digit < base;
}

function codesOf(text: string): number[] {
  return Array.from(text, (char) => char.codePointAt(0)!);
}

/** A charlist term: compact when every code is a byte, else a list of code points. */
function charlist(codes: number[]): Term {
  if (codes.length === 0) return [];
  if (codes.every((code) => code < 256)) {
    let text = '';
    for (const code of codes) text += String.fromCharCode(code);
    return new Charlist(text);
  }
  return codes;
}

/** The UTF-8 bytes of code points. */
function utf8(codes: number[]): Uint8Array {
  let text = '';
  for (const code of codes) text += String.fromCodePoint(code);
  return Uint8Array.from(Buffer.from(text, 'utf8'));
}
