import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { encodeTerm, formatTerm, termEquals } from '@/server/erlang/codec';
import { Atom, Charlist, ImproperList, Tuple, atom, type Term } from '@/server/erlang/codec/terms';
import { readLookupName } from '@/server/erlang/probes';
import { MAX_TERM_ATOMS, MAX_TERM_DEPTH, readTerm } from '@/server/erlang/term-syntax';
import { BeamscopeError } from '@/server/errors';

import { FuzzTarget, timeoutFor } from './support';

/**
 * The name lookup's reader of typed names (plain text, or Elixir/Erlang term syntax) faces
 * whatever a browser or a shell sends. Whatever the text: a set of keys or an
 * `invalid_lookup_name` error in one line — never another exception, a hang, or a key beyond the
 * bounds (depth, distinct atoms, every atom listed for the node check). And what the codec's
 * Erlang formatter prints, or an Elixir rendering of the same term, reads back as that term.
 */
const target = new FuzzTarget('term-syntax', 'typed-name reader');
const RUNS = target.split({
  anyText: 30,
  syntaxShaped: 25,
  erlangRoundTrip: 20,
  elixirRoundTrip: 10,
  mutated: 15,
});

/** No line terminator of any kind: the error is one line on a terminal and in a log. */
const LINE_BREAK = /[\n\r\u0085\u2028\u2029]/;

/** The deepest tuple/list nesting of a term (a scalar is depth 0). */
function depthOf(term: Term): number {
  const children = term instanceof Tuple ? term.elements : Array.isArray(term) ? term : null;
  if (!children) return 0;
  return 1 + Math.max(0, ...children.map(depthOf));
}

function atomsOf(term: Term, into = new Set<string>()): Set<string> {
  if (term instanceof Atom) into.add(term.name);
  else if (term instanceof Tuple) for (const item of term.elements) atomsOf(item, into);
  else if (Array.isArray(term)) for (const item of term) atomsOf(item, into);
  return into;
}

/** The property for any text: keys within bounds, or an invalid_lookup_name in one line. */
function readsOrRefuses(text: string): void {
  let name;
  try {
    name = readLookupName(text);
  } catch (error) {
    if (!(error instanceof BeamscopeError) || error.code !== 'invalid_lookup_name') throw error;
    if (LINE_BREAK.test(error.message)) throw new Error(`a line break in: ${error.message}`);
    if (error.message.length > 400) throw new Error(`a long message: ${error.message}`);
    return;
  }
  if (name.keys.length < 1 || name.keys.length > 4) throw new Error(`${name.keys.length} keys`);
  for (const key of name.keys) {
    if (depthOf(key.term) > MAX_TERM_DEPTH) throw new Error(`too deep: ${key.key}`);
    const atoms = atomsOf(key.term);
    if (atoms.size > MAX_TERM_ATOMS) throw new Error(`${atoms.size} atoms`);
    // Every atom the key holds is listed, so the lookup checks it on the node before sending.
    for (const name_ of atoms) if (!key.atoms.includes(name_)) throw new Error(`unlisted ${name_}`);
    for (const name_ of atoms) if ([...name_].length > 255) throw new Error('atom too long');
    if (key.term instanceof ImproperList) throw new Error('an improper list');
    // It can be sent, and printed.
    encodeTerm(key.term);
    if (key.key !== formatTerm(key.term)) throw new Error(`key ${key.key}`);
  }
}

const syntaxPiece = fc.constantFrom(
  '{',
  '}',
  '[',
  ']',
  '<<',
  '>>',
  '"',
  "'",
  ':',
  '~c',
  '~s',
  '~r',
  '%{',
  '#{',
  ',',
  ' ',
  '|',
  '\\',
  '\\x',
  '\\x{1F600}',
  '\\u{',
  '\\^',
  '/utf8',
  'a',
  'device',
  'B',
  'Foo.Bar',
  'Elixir.',
  'nil',
  '_',
  '0',
  '42',
  '-',
  '16#',
  '0x',
  '1.5',
  '.',
  '@',
  '?',
  'é',
  '名',
  '😀',
  '\u0000',
  '\n',
  '\u2028',
  '\ud800',
);
const syntaxShaped = fc
  .array(syntaxPiece, { maxLength: 60 })
  .map((pieces) => pieces.join(''))
  .filter((text) => text.length > 0);

const anyText = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }),
  fc.string({ unit: 'binary-ascii', minLength: 900, maxLength: 1500 }),
  fc.constantFrom(
    '{'.repeat(1024),
    '['.repeat(1000),
    `:${'a'.repeat(300)}`,
    `{${Array.from({ length: 200 }, (_, index) => `a${index}`).join(',')}}`,
    `"${'\\x{10FFFF}'.repeat(90)}"`,
    `[${'9'.repeat(1000)}]`,
    '"\\',
    "'\\^",
    '<<"',
  ),
);

/** Terms a name can be: atoms, binaries, charlists, integers, tuples and lists, nested. */
const atomName = fc.oneof(
  fc.constantFrom('device', 'Elixir.MyApp.Worker', 'nil', 'true', 'case', '', 'with space'),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((text) => !/[\ud800-\udfff]/.test(text)),
);
const { name: nameTerm } = fc.letrec<{ name: Term; scalar: Term }>((tie) => ({
  scalar: fc.oneof(
    atomName.map((text) => atom(text) as Term),
    fc.uint8Array({ maxLength: 16 }).map((bytes) => bytes as Term),
    fc
      .string({ unit: 'binary', maxLength: 12 })
      .map((text) => Uint8Array.from(Buffer.from(text)) as Term),
    fc
      .string({
        unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)),
        minLength: 1,
        maxLength: 10,
      })
      .map((text) => new Charlist(text) as Term),
    fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }).map((value) => value as Term),
    fc
      .bigInt({ min: -(1n << 200n), max: 1n << 200n })
      .filter((value) => value < -0x8000_0000n || value > 0x7fff_ffffn)
      .map((value) => value as Term),
  ),
  name: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('scalar'),
    fc.array(tie('name'), { maxLength: 4 }).map((items) => new Tuple(items) as Term),
    fc.array(tie('name'), { maxLength: 4 }).map((items) => items as Term),
  ),
}));
/** Within the reader's bounds: depth, distinct atoms, and 1,024 bytes of text once printed. */
const boundedName = nameTerm.filter(
  (term) =>
    depthOf(term) <= MAX_TERM_DEPTH &&
    atomsOf(term).size <= MAX_TERM_ATOMS &&
    Buffer.byteLength(formatTerm(term)) <= 1024 &&
    Buffer.byteLength(elixirText(term)) <= 1024,
);

/** The term in Elixir syntax (test-only, independent of the reader): `:"a"`, `"…"`, `[1, 2]`. */
function elixirText(term: Term): string {
  const escape = (text: string) =>
    Array.from(text, (char) => {
      const code = char.codePointAt(0)!;
      if (char === '"' || char === '\\' || char === '#') return `\\${char}`;
      return code < 0x20 || (code >= 0x7f && code < 0xa0) ? `\\u{${code.toString(16)}}` : char;
    }).join('');
  if (term instanceof Atom) return `:"${escape(term.name)}"`;
  if (typeof term === 'number' || typeof term === 'bigint') return String(term);
  if (term instanceof Uint8Array) {
    try {
      return `"${escape(new TextDecoder('utf-8', { fatal: true }).decode(term))}"`;
    } catch {
      return `<<${Array.from(term).join(', ')}>>`;
    }
  }
  if (term instanceof Charlist) return `~c"${escape(term.value)}"`;
  if (term instanceof Tuple) return `{${term.elements.map(elixirText).join(', ')}}`;
  if (Array.isArray(term)) return `[${term.map(elixirText).join(', ')}]`;
  throw new Error('not a name term');
}

function readsBackAs(text: string, term: Term): void {
  const readings = readTerm(text);
  if (!readings.some((reading) => termEquals(reading.term, term))) {
    throw new Error(
      `${text} read as ${readings.map((reading) => formatTerm(reading.term)).join(' | ')}`,
    );
  }
}

/** A text edited at random: characters dropped, syntax inserted, a slice repeated. */
const mutated = fc
  .tuple(
    boundedName.map((term) => formatTerm(term)),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'insert', 'repeat'), syntaxPiece), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([text, edits]) => {
    let out = text;
    for (const [at, kind, piece] of edits) {
      const index = out.length === 0 ? 0 : at % out.length;
      if (kind === 'drop') out = out.slice(0, index) + out.slice(index + 1);
      else if (kind === 'insert') out = out.slice(0, index) + piece + out.slice(index);
      else out = out.slice(0, index) + out.slice(index, index + 8).repeat(3) + out.slice(index + 8);
    }
    return out || '{';
  });

afterAll(async () => {
  const record = await target.finish();
  expect(record.failures, JSON.stringify(record.failureDetails)).toBe(0);
});

describe(`typed-name reader fuzzing (${target.requested} cases)`, () => {
  it(
    'any text: keys within bounds, or one line saying why not',
    async () => {
      target.check('any text', RUNS.anyText, [anyText], readsOrRefuses);
      await target.markWarm();
    },
    timeoutFor(RUNS.anyText, 0.3),
  );

  it(
    'text made of term syntax pieces: keys within bounds, or one line saying why not',
    () => {
      target.check('syntax-shaped text', RUNS.syntaxShaped, [syntaxShaped], readsOrRefuses);
    },
    timeoutFor(RUNS.syntaxShaped, 0.3),
  );

  it(
    'what formatTerm prints (Erlang syntax) reads back as the same term',
    () => {
      target.check('Erlang round trip', RUNS.erlangRoundTrip, [boundedName], (term) => {
        const text = formatTerm(term);
        readsOrRefuses(text);
        readsBackAs(text, term);
      });
    },
    timeoutFor(RUNS.erlangRoundTrip, 0.5),
  );

  it(
    'the same term written in Elixir syntax reads back as it',
    () => {
      target.check('Elixir round trip', RUNS.elixirRoundTrip, [boundedName], (term) => {
        readsBackAs(elixirText(term), term);
      });
    },
    timeoutFor(RUNS.elixirRoundTrip, 0.5),
  );

  it(
    'a valid name edited at random: keys within bounds, or one line saying why not',
    () => {
      target.check('mutated names', RUNS.mutated, [mutated], readsOrRefuses);
    },
    timeoutFor(RUNS.mutated, 0.5),
  );
});
