import { describe, expect, it } from 'vitest';

import { formatTerm, termEquals } from '@/server/erlang/codec';
import { Atom, Charlist, Tuple, atom, tuple, type Term } from '@/server/erlang/codec/terms';
import {
  looksLikeTerm,
  MAX_TERM_ATOMS,
  MAX_TERM_DEPTH,
  parseTerm,
  readTerm,
  TermSyntaxError,
  type TermDialect,
} from '@/server/erlang/term-syntax';

const bin = (text: string) => Uint8Array.from(Buffer.from(text, 'utf8'));

/** The one term `text` reads as in `dialect`, compared with Erlang's `=:=`. */
function expectTerm(text: string, dialect: TermDialect, expected: Term): void {
  const { term } = parseTerm(text, dialect);
  expect(termEquals(term, expected), `${text} as ${dialect}: got ${formatTerm(term)}`).toBe(true);
}

function failure(run: () => unknown): TermSyntaxError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TermSyntaxError);
    return error as TermSyntaxError;
  }
  throw new Error('expected a TermSyntaxError');
}

describe('term syntax: what is term syntax at all', () => {
  it('takes text opening a tuple, list, binary, string, quote, Elixir atom or sigil as a term', () => {
    for (const text of ['{a}', ' [1]', '<<"x">>', '"x"', "'x'", ':x', '~c"x"', '%{}', '#{}']) {
      expect(looksLikeTerm(text), text).toBe(true);
    }
    for (const text of [
      'device-00042',
      '42',
      '-7',
      'foo',
      'MyApp.Worker',
      'a{b}',
      'user:1',
      '<x>',
    ]) {
      expect(looksLikeTerm(text), text).toBe(false);
    }
  });
});

describe('term syntax: Elixir', () => {
  it('reads atoms: :name, :name?, :"quoted", true/false/nil, aliases', () => {
    expectTerm(':device', 'elixir', atom('device'));
    expectTerm(':ok?', 'elixir', atom('ok?'));
    expectTerm(':node@host', 'elixir', atom('node@host'));
    expectTerm(':"with space"', 'elixir', atom('with space'));
    expectTerm(":'single'", 'elixir', atom('single'));
    expectTerm(':Foo', 'elixir', atom('Foo'));
    expectTerm('{nil, true, false}', 'elixir', tuple(atom('nil'), atom('true'), atom('false')));
    expectTerm('{MyApp.Worker}', 'elixir', tuple(atom('Elixir.MyApp.Worker')));
    expectTerm('{Elixir.MyApp}', 'elixir', tuple(atom('Elixir.MyApp')));
    expectTerm('{Elixir}', 'elixir', tuple(atom('Elixir')));
  });

  it('reads "…" as a UTF-8 binary and \'…\' / ~c"…" as a charlist', () => {
    expectTerm('"device-00042"', 'elixir', bin('device-00042'));
    expectTerm('"héllo ✓"', 'elixir', bin('héllo ✓'));
    expectTerm("'abc'", 'elixir', new Charlist('abc'));
    expectTerm('~c"abc"', 'elixir', new Charlist('abc'));
    expectTerm("~c'abc'", 'elixir', new Charlist('abc'));
    expectTerm('~s"abc"', 'elixir', bin('abc'));
    expectTerm("'名前'", 'elixir', [0x540d, 0x524d]);
    expectTerm("''", 'elixir', []);
    expectTerm('""', 'elixir', new Uint8Array());
    expectTerm('<<"é", 1, 255>>', 'elixir', Uint8Array.from([0xc3, 0xa9, 1, 255]));
  });

  it('reads escapes, integers with separators and prefixes, and nesting', () => {
    expectTerm('"\\a\\d\\e\\s\\0\\x41\\u0042\\u{1F600}\\q"', 'elixir', bin('\x07\x7f\x1b \0AB😀q'));
    expectTerm('{0x1F, 0o17, 0b101, 1_000, -42}', 'elixir', tuple(31, 15, 5, 1000, -42));
    expectTerm(
      '{:device, [1, {"a", \'b\'}], <<>>}',
      'elixir',
      tuple(atom('device'), [1, tuple(bin('a'), new Charlist('b'))], new Uint8Array()),
    );
  });

  it('refuses variables, interpolation, other sigils and Erlang-only forms', () => {
    expect(failure(() => parseTerm('{device}', 'elixir')).message).toBe(
      'device is a variable in Elixir: write :device for an atom at character 2',
    );
    expect(failure(() => parseTerm('"a#{b}"', 'elixir')).reason).toMatch(/interpolation/);
    expect(failure(() => parseTerm('~r"x"', 'elixir')).reason).toMatch(/sigils/);
    expect(failure(() => parseTerm('{Foo.bar}', 'elixir')).reason).toMatch(/not an alias/);
  });
});

describe('term syntax: Erlang', () => {
  it('reads bare and quoted atoms, "…" as a charlist, <<"…">> as bytes', () => {
    expectTerm('{device, 42}', 'erlang', tuple(atom('device'), 42));
    expectTerm("'Elixir.MyApp.Worker'", 'erlang', atom('Elixir.MyApp.Worker'));
    expectTerm("'it''s'".replace("''", "\\'"), 'erlang', atom("it's"));
    expectTerm('"abc"', 'erlang', new Charlist('abc'));
    expectTerm('""', 'erlang', []);
    expectTerm('<<"device-00042">>', 'erlang', bin('device-00042'));
    expectTerm('<<"é">>', 'erlang', Uint8Array.from([0xe9]));
    expectTerm('<<"é"/utf8>>', 'erlang', bin('é'));
    expectTerm('<<1, 2, "a">>', 'erlang', Uint8Array.from([1, 2, 97]));
  });

  it('reads escapes and based integers as erl_scan does', () => {
    expectTerm('"\\101\\x41\\x{1F600}\\^a\\s\\d\\a"', 'erlang', [65, 65, 0x1f600, 1, 32, 127, 97]);
    expectTerm('[16#ff, 2#101, 1_000, -36#z]', 'erlang', [255, 5, 1000, -35]);
  });

  it('refuses variables, Elixir-only forms and wide characters in a plain binary', () => {
    expect(failure(() => parseTerm('{Device}', 'erlang')).message).toBe(
      "Device is a variable in Erlang: quote it ('Device') for an atom at character 2",
    );
    expect(failure(() => parseTerm(':device', 'erlang')).reason).toMatch(/Elixir syntax/);
    expect(failure(() => parseTerm('<<"名">>', 'erlang')).reason).toMatch(/\/utf8/);
    expect(failure(() => parseTerm('37#1', 'erlang')).reason).toMatch(/base/);
  });
});

describe('term syntax: reading a name both ways', () => {
  it('reads text that means the same in both dialects once', () => {
    const readings = readTerm('{1, [2, <<3>>]}');
    expect(readings).toHaveLength(1);
    expect(readings[0]!.dialects).toEqual(['elixir', 'erlang']);
  });

  it('reads a quoted name both ways when the dialects differ: "x" binary or charlist', () => {
    const readings = readTerm('"device-00042"');
    expect(readings.map((reading) => [reading.kind, reading.dialects])).toEqual([
      ['binary', ['elixir']],
      ['charlist', ['erlang']],
    ]);
    const quoted = readTerm("'abc'");
    expect(quoted.map((reading) => [reading.kind, reading.atoms])).toEqual([
      ['charlist', []],
      ['atom', ['abc']],
    ]);
  });

  it('reads a name only one dialect accepts in that dialect only', () => {
    expect(readTerm('{:device, 42}').map((reading) => reading.dialects)).toEqual([['elixir']]);
    expect(readTerm('{device, 42}').map((reading) => reading.dialects)).toEqual([['erlang']]);
    expect(readTerm('{device, "x"}')[0]!.term).toEqual(tuple(atom('device'), new Charlist('x')));
  });

  it('lists each distinct atom once, in order of appearance', () => {
    const [reading] = readTerm('{:b, [:a, :b, {:c, :a}]}');
    expect(reading!.atoms).toEqual(['b', 'a', 'c']);
  });

  it('says why neither dialect reads it, and where', () => {
    const mixed = failure(() => readTerm('{:a, b}'));
    expect(mixed.code).toBe('invalid_lookup_name');
    expect(mixed.message).toBe(
      'not Elixir or Erlang term syntax (as Elixir: b is a variable in Elixir: write :b for an atom at character 6; as Erlang: ":" is Elixir syntax, not Erlang at character 2)',
    );
    expect(failure(() => readTerm('{1, 2')).message).toBe(
      'not Elixir or Erlang term syntax: expected "," or "}", found the end at character 6',
    );
    for (const [text, reason] of [
      ['%{a: 1}', /maps/],
      ['#{a => 1}', /maps/],
      ['{1.5}', /floats/],
      ['[1 | 2]', /improper/],
      ['<<256>>', /0\.\.255/],
      ['{1} x', /after the value/],
      ['"open', /unterminated/],
      ['"\\x{110000}"', /Unicode/],
      ['[', /found the end/],
    ] as const) {
      expect(failure(() => readTerm(text)).reason, text).toMatch(reason);
    }
  });
});

describe('term syntax: hostile input stays bounded', () => {
  it(`nests at most ${MAX_TERM_DEPTH} levels, and fails fast far beyond`, () => {
    const nested = (depth: number) => '{'.repeat(depth) + '}'.repeat(depth);
    expect(readTerm(nested(MAX_TERM_DEPTH))).toHaveLength(1);
    expect(failure(() => readTerm(nested(MAX_TERM_DEPTH + 1))).reason).toMatch(/deeper/);
    // 500 brackets fit in 1024 bytes: refused by depth, without deep recursion.
    expect(failure(() => readTerm('['.repeat(500) + ']'.repeat(500))).reason).toMatch(/deeper/);
  });

  it(`holds at most ${MAX_TERM_ATOMS} distinct atoms (repeats are free) of 255 characters`, () => {
    const atoms = (count: number) =>
      `{${Array.from({ length: count }, (_, index) => `a${index}`).join(', ')}}`;
    expect(readTerm(atoms(MAX_TERM_ATOMS))[0]!.atoms).toHaveLength(MAX_TERM_ATOMS);
    expect(failure(() => readTerm(atoms(MAX_TERM_ATOMS + 1))).reason).toMatch(/distinct atoms/);
    expect(readTerm(`{${Array(100).fill('same').join(',')}}`)[0]!.atoms).toEqual(['same']);
    expect(readTerm(`:${'a'.repeat(255)}`)[0]!.atoms[0]).toHaveLength(255);
    expect(failure(() => readTerm(`:${'a'.repeat(256)}`)).reason).toMatch(/255 characters/);
  });

  it('refuses text over 1024 bytes before reading it, and lone surrogates', () => {
    expect(failure(() => readTerm(`"${'x'.repeat(1100)}"`)).reason).toMatch(/1024 bytes/);
    expect(failure(() => readTerm('{'.repeat(100_000))).reason).toMatch(/1024 bytes/);
    expect(failure(() => readTerm('"\ud800"')).reason).toMatch(/surrogate/);
    expect(failure(() => readTerm('"\\x{d800}"')).reason).toMatch(/Unicode/);
  });

  it('keeps integers exact: 32-bit ones as numbers, larger ones as bigints', () => {
    expect(readTerm('[2147483647, -2147483648]')[0]!.term).toEqual([2147483647, -2147483648]);
    expect(readTerm('[2147483648]')[0]!.term).toEqual([2147483648n]);
    const big = `[${'9'.repeat(600)}]`;
    expect(readTerm(big)[0]!.term).toEqual([BigInt('9'.repeat(600))]);
  });

  it('takes control characters and NUL inside quotes as they are', () => {
    expectTerm('"a\u0000b\u0007"', 'erlang', new Charlist('a\u0000b\u0007'));
  });
});

describe('term syntax: what formatTerm prints reads back as the same term', () => {
  it.each<[string, Term]>([
    ['atoms needing quotes', tuple(atom('Elixir.Foo'), atom('with space'), atom('case'))],
    ['binaries, UTF-8 and not', tuple(bin('id-1'), bin('✓'), Uint8Array.from([0, 200, 255]))],
    ['charlists and code point lists', [new Charlist('a"b\n'), [0x540d, 0x524d], []]],
    ['nested', tuple(atom('device'), [1, -2, tuple(), [[]]], 123456789012345678901234567890n)],
    ['an atom with escapes', atom("it's\t\u0001")],
  ])('%s', (_, term) => {
    const text = formatTerm(term);
    const readings = readTerm(text);
    expect(
      readings.some((reading) => termEquals(reading.term, term)),
      `${text} → ${readings.map((reading) => formatTerm(reading.term)).join(' | ')}`,
    ).toBe(true);
  });

  it('makes atoms as local objects only, listed for the node check', () => {
    const [reading] = readTerm('{device, [nested]}');
    expect(reading!.term).toBeInstanceOf(Tuple);
    expect((reading!.term as Tuple).at(0)).toBeInstanceOf(Atom);
    expect(reading!.atoms).toEqual(['device', 'nested']);
  });
});
