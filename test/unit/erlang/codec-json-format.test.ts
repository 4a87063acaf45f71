import { describe, expect, it } from 'vitest';

import {
  atom,
  BitBinary,
  Charlist,
  decodeTerm,
  ErlFloat,
  ErlMap,
  ExportFun,
  formatTerm,
  ImproperList,
  mapGet,
  OpaqueFun,
  Pid,
  Port,
  Reference,
  termEquals,
  termToJson,
  tuple,
} from '@/server/erlang/codec';

const pid = new Pid(atom('a@127.0.0.1'), 123, 0, 7);
const ref = new Reference(atom('a@127.0.0.1'), 7, [205682, 904921089, 3717597001]);
const port = new Port(atom('a@127.0.0.1'), 5n, 7);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);

describe('termToJson', () => {
  it('maps scalars', () => {
    expect(termToJson(42)).toBe(42);
    expect(termToJson(1n << 40n)).toBe(2 ** 40);
    expect(termToJson(1n << 80n)).toBe('1208925819614629174706176');
    expect(termToJson(-(1n << 80n))).toBe('-1208925819614629174706176');
    expect(termToJson(-(1n << 9000n))).toMatch(/^-16#1000+$/);
    expect(termToJson(new ErlFloat(1.5))).toBe(1.5);
    expect(termToJson(atom('ok'))).toBe('ok');
    expect(termToJson(atom('true'))).toBe(true);
    expect(termToJson(atom('false'))).toBe(false);
    expect(termToJson(atom('nil'))).toBeNull();
    expect(termToJson(atom('undefined'))).toBeNull();
  });

  it('maps binaries, charlists and bitstrings', () => {
    expect(termToJson(text('héllo'))).toBe('héllo');
    expect(termToJson(new Uint8Array([0xff, 0]))).toEqual({ base64: '/wA=' });
    expect(termToJson(new Charlist('abc'))).toBe('abc');
    expect(termToJson(new BitBinary(new Uint8Array([1, 0xe0]), 3))).toEqual({
      base64: 'AeA=',
      bits: 11,
    });
  });

  it('maps lists, tuples and improper lists', () => {
    expect(termToJson([1, atom('a'), []])).toEqual([1, 'a', []]);
    expect(termToJson(tuple(atom('ok'), 1))).toEqual(['ok', 1]);
    expect(termToJson(new ImproperList([1], atom('x')))).toEqual({ list: [1], tail: 'x' });
  });

  it('maps maps with atom or UTF-8 binary keys to objects, others to entries', () => {
    const map = new ErlMap([
      [atom('name'), text('x')],
      [text('count'), 3],
      [text('__proto__'), 1],
    ]);
    const json = termToJson(map) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['name', 'count', '__proto__']);
    expect(json.name).toBe('x');
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(termToJson(new ErlMap([[1, 2]]))).toEqual({ entries: [[1, 2]] });
    // `a` and <<"a">> would collide as object keys.
    expect(
      termToJson(
        new ErlMap([
          [atom('a'), 1],
          [text('a'), 2],
        ]),
      ),
    ).toEqual({
      entries: [
        ['a', 1],
        ['a', 2],
      ],
    });
  });

  it('maps pids, references, ports and funs to the text Erlang prints', () => {
    expect(termToJson(pid)).toBe('<0.123.0>');
    expect(termToJson(ref)).toBe('#Ref<0.3717597001.904921089.205682>');
    expect(termToJson(port)).toBe('#Port<0.5>');
    expect(termToJson(pid, { withNodes: true })).toEqual({ pid: '<0.123.0>', node: 'a@127.0.0.1' });
    expect(termToJson(ref, { withNodes: true })).toEqual({
      ref: '#Ref<0.3717597001.904921089.205682>',
      node: 'a@127.0.0.1',
    });
    expect(termToJson(new ExportFun(atom('lists'), atom('map'), 2))).toBe('fun lists:map/2');
  });
});

describe('formatTerm', () => {
  it('prints Erlang syntax', () => {
    expect(formatTerm(tuple(atom('ok'), [1, 2], new ImproperList([1], 2)))).toBe(
      '{ok,[1,2],[1|2]}',
    );
    expect(formatTerm(atom('Elixir.Foo'))).toBe("'Elixir.Foo'");
    expect(formatTerm(atom('end'))).toBe("'end'");
    expect(formatTerm(atom("it's"))).toBe("'it\\'s'");
    expect(formatTerm(atom('a@host'))).toBe('a@host');
    expect(formatTerm(new Charlist('hi\n'))).toBe('"hi\\n"');
    expect(formatTerm(new Charlist('\x01'))).toBe('[1]');
    expect(formatTerm(text('hi'))).toBe('<<"hi">>');
    expect(formatTerm(text('é'))).toBe('<<"é"/utf8>>');
    expect(formatTerm(new Uint8Array([0, 255]))).toBe('<<0,255>>');
    expect(formatTerm(new BitBinary(new Uint8Array([1, 2, 24]), 5))).toBe('<<1,2,3:5>>');
    expect(formatTerm(new ErlMap([[atom('a'), 1]]))).toBe('#{a => 1}');
    expect(formatTerm(new ErlFloat(1))).toBe('1.0');
    expect(formatTerm(new ErlFloat(1e300))).toBe('1.0e300');
    expect(formatTerm(new ErlFloat(-0))).toBe('-0.0');
    expect(formatTerm(new ErlFloat(1.5e-7))).toBe('1.5e-7');
    expect(formatTerm(1n << 70n)).toBe('1180591620717411303424');
    expect(formatTerm(pid)).toBe('<0.123.0>');
    expect(formatTerm(ref)).toBe('#Ref<0.3717597001.904921089.205682>');
    expect(formatTerm(port)).toBe('#Port<0.5>');
    expect(formatTerm(new ExportFun(atom('m'), atom('Fun'), 1))).toBe("fun m:'Fun'/1");
  });

  it('prints a closure as #Fun<Module.OldIndex.OldUniq>', () => {
    // The closure `fun(X) -> X end` from an escript on OTP 25 (truncated free variables).
    const body = [
      0,
      0,
      0,
      0,
      1,
      ...new Array<number>(16).fill(0),
      0,
      0,
      0,
      42,
      0,
      0,
      0,
      0,
      119,
      8,
      ...new TextEncoder().encode('erl_eval'),
      97,
      42,
      98,
      0,
      50,
      155,
      13,
    ];
    expect(formatTerm(new OpaqueFun(Uint8Array.from(body)))).toBe('#Fun<erl_eval.42.3316493>');
    expect(formatTerm(new OpaqueFun(new Uint8Array([1, 2])))).toBe('#Fun<?>');
  });

  it('cuts long output and deep nesting', () => {
    const long = formatTerm(new Array<number>(1000).fill(7), { maxLength: 30 });
    expect(long).toHaveLength(30);
    expect(long.endsWith('...')).toBe(true);
    let deep: unknown = [];
    for (let index = 0; index < 200; index++) deep = tuple(deep as never);
    expect(formatTerm(deep as never, { maxDepth: 3 })).toBe('{{{{...}}}}');
  });
});

describe('termEquals and mapGet', () => {
  it('follows Erlang exact equality', () => {
    expect(termEquals(5, 5n)).toBe(true);
    expect(termEquals(5, new ErlFloat(5))).toBe(false);
    expect(termEquals(new ErlFloat(0), new ErlFloat(-0))).toBe(false);
    expect(termEquals(new Charlist('ab'), [97, 98])).toBe(true);
    expect(termEquals(new ImproperList([97], new Charlist('b')), [97, 98])).toBe(true);
    expect(termEquals(new BitBinary(new Uint8Array([1]), 8), new Uint8Array([1]))).toBe(true);
    expect(termEquals(new BitBinary(new Uint8Array([0xe0]), 3), new Uint8Array([0xe0]))).toBe(
      false,
    );
    expect(
      termEquals(
        new ErlMap([
          [atom('a'), 1],
          [atom('b'), 2],
        ]),
        new ErlMap([
          [atom('b'), 2],
          [atom('a'), 1],
        ]),
      ),
    ).toBe(true);
    expect(termEquals(new ErlMap([[atom('a'), 1]]), new ErlMap([[atom('a'), 2]]))).toBe(false);
    expect(termEquals(tuple(1, 2), [1, 2])).toBe(false);
    expect(termEquals(pid, new Pid(atom('a@127.0.0.1'), 123, 0, 8))).toBe(false);
  });

  it('finds values by any key, in small and large maps', () => {
    const small = new ErlMap([
      [atom('a'), 1],
      [tuple(1, text('x')), 2],
    ]);
    expect(mapGet(small, atom('a'))).toBe(1);
    expect(mapGet(small, tuple(1n, text('x')))).toBe(2);
    expect(mapGet(small, atom('b'))).toBeUndefined();
    const large = new ErlMap(
      Array.from({ length: 100 }, (_, index) => [index, index * 2] as const),
    );
    expect(mapGet(large, 99n)).toBe(198);
    expect(mapGet(large, 100)).toBeUndefined();
  });

  it('decodes the same atom to the same object', () => {
    const decoded = decodeTerm(Buffer.from([131, 104, 2, 119, 1, 97, 100, 0, 1, 97]));
    expect(termEquals(decoded, tuple(atom('a'), atom('a')))).toBe(true);
    expect((decoded as ReturnType<typeof tuple>).at(0)).toBe(atom('a'));
  });
});
