import { deflateSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import {
  atom,
  BitBinary,
  Charlist,
  decodeTerm,
  decodeTermAt,
  encodeTerm,
  ErlFloat,
  ErlMap,
  ExportFun,
  ImproperList,
  OpaqueFun,
  Pid,
  Port,
  Reference,
  TermDecodeError,
  TermEncodeError,
  termEquals,
  tuple,
  type Term,
} from '@/server/erlang/codec';
import { BeamscopeError } from '@/server/errors';

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const ascii = (text: string): number[] => Array.from(Buffer.from(text, 'latin1'));
const utf8 = (text: string): number[] => Array.from(Buffer.from(text, 'utf8'));
const u32 = (value: number): number[] => [
  (value >>> 24) & 0xff,
  (value >>> 16) & 0xff,
  (value >>> 8) & 0xff,
  value & 0xff,
];
const smallAtomUtf8 = (name: string): number[] => [119, utf8(name).length, ...utf8(name)];
const nonode = smallAtomUtf8('nonode@nohost');

/** Throws unless `run` throws a TermDecodeError (and nothing else). */
function expectDecodeError(run: () => unknown): TermDecodeError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TermDecodeError);
  const error = caught as TermDecodeError;
  expect(error).toBeInstanceOf(BeamscopeError);
  expect(error.surface).toBe('erlang');
  expect(error.code).toBe('term_decode');
  return error;
}

/**
 * Ground truth from Erlang/OTP 25.2: `term_to_binary(T, [{minor_version, 2}])` unless noted
 * (minor_version 0 for FLOAT_EXT, 1 for the latin-1 ATOM_EXT). Each vector decodes to the given
 * term, and re-encodes to the same bytes when `canonical` (OTP 26+ forms).
 */
const otpVectors: Array<{ name: string; bytes: Buffer; term: Term; canonical: boolean }> = [
  { name: 'SMALL_INTEGER', bytes: bytes(131, 97, 42), term: 42, canonical: true },
  { name: 'INTEGER -1', bytes: bytes(131, 98, 255, 255, 255, 255), term: -1, canonical: true },
  { name: 'INTEGER', bytes: bytes(131, 98, 0, 1, 134, 160), term: 100000, canonical: true },
  {
    name: 'SMALL_BIG',
    bytes: bytes(131, 110, 6, 0, 0, 0, 0, 0, 0, 1),
    term: 1n << 40n,
    canonical: true,
  },
  {
    name: 'SMALL_BIG negative',
    bytes: bytes(131, 110, 6, 1, 0, 0, 0, 0, 0, 1),
    term: -(1n << 40n),
    canonical: true,
  },
  {
    name: 'LARGE_BIG',
    bytes: bytes(131, 111, 0, 0, 1, 0, 0, ...new Array<number>(255).fill(0), 1),
    term: 1n << 2040n,
    canonical: true,
  },
  {
    name: 'FLOAT (old string float)',
    bytes: bytes(131, 99, ...ascii('1.50000000000000000000e+00'), 0, 0, 0, 0, 0),
    term: new ErlFloat(1.5),
    canonical: false,
  },
  {
    name: 'NEW_FLOAT',
    bytes: bytes(131, 70, 63, 248, 0, 0, 0, 0, 0, 0),
    term: new ErlFloat(1.5),
    canonical: true,
  },
  {
    name: 'NEW_FLOAT -0.0',
    bytes: bytes(131, 70, 128, 0, 0, 0, 0, 0, 0, 0),
    term: new ErlFloat(-0),
    canonical: true,
  },
  { name: 'ATOM', bytes: bytes(131, 100, 0, 3, 97, 98, 99), term: atom('abc'), canonical: false },
  {
    name: 'ATOM latin-1 non-ASCII',
    bytes: bytes(131, 100, 0, 2, 228, 98),
    term: atom('äb'),
    canonical: false,
  },
  { name: 'SMALL_ATOM', bytes: bytes(131, 115, 2, 111, 107), term: atom('ok'), canonical: false },
  {
    name: 'SMALL_ATOM_UTF8',
    bytes: bytes(131, 119, 3, 226, 130, 172),
    term: atom('€'),
    canonical: true,
  },
  {
    name: 'ATOM_UTF8 (over 255 bytes)',
    bytes: bytes(131, 118, 1, 44, ...utf8('€'.repeat(100))),
    term: atom('€'.repeat(100)),
    canonical: true,
  },
  {
    name: 'SMALL_TUPLE',
    bytes: bytes(131, 104, 2, 119, 1, 97, 97, 1),
    term: tuple(atom('a'), 1),
    canonical: true,
  },
  {
    name: 'LARGE_TUPLE',
    bytes: bytes(
      131,
      105,
      0,
      0,
      1,
      0,
      ...Array.from({ length: 255 }, (_, index) => [97, index + 1]).flat(),
      98,
      0,
      0,
      1,
      0,
    ),
    term: tuple(...Array.from({ length: 256 }, (_, index) => index + 1)),
    canonical: true,
  },
  { name: 'NIL', bytes: bytes(131, 106), term: [], canonical: true },
  {
    name: 'STRING',
    bytes: bytes(131, 107, 0, 3, 97, 98, 99),
    term: new Charlist('abc'),
    canonical: true,
  },
  {
    name: 'LIST improper',
    bytes: bytes(131, 108, 0, 0, 0, 1, 97, 1, 97, 2),
    term: new ImproperList([1], 2),
    canonical: true,
  },
  {
    name: 'LIST of unicode code points',
    bytes: bytes(131, 108, 0, 0, 0, 2, 98, 0, 0, 32, 172, 97, 97, 106),
    term: [8364, 97],
    canonical: true,
  },
  {
    name: 'BINARY',
    bytes: bytes(131, 109, 0, 0, 0, 3, 1, 2, 3),
    term: new Uint8Array([1, 2, 3]),
    canonical: true,
  },
  {
    name: 'BIT_BINARY',
    bytes: bytes(131, 77, 0, 0, 0, 3, 5, 1, 2, 24),
    term: new BitBinary(new Uint8Array([1, 2, 24]), 5),
    canonical: true,
  },
  {
    name: 'MAP',
    bytes: bytes(131, 116, 0, 0, 0, 2, 119, 1, 97, 97, 1, 109, 0, 0, 0, 1, 98, 107, 0, 1, 2),
    term: new ErlMap([
      [atom('a'), 1],
      [new Uint8Array([98]), new Charlist('\x02')],
    ]),
    canonical: true,
  },
  {
    name: 'EXPORT',
    bytes: bytes(131, 113, ...smallAtomUtf8('lists'), ...smallAtomUtf8('map'), 97, 2),
    term: new ExportFun(atom('lists'), atom('map'), 2),
    canonical: true,
  },
  {
    name: 'NEW_PID',
    bytes: bytes(131, 88, ...nonode, 0, 0, 0, 85, 0, 0, 0, 0, 0, 0, 0, 0),
    term: new Pid(atom('nonode@nohost'), 85, 0, 0),
    canonical: true,
  },
  {
    // Byte layout from the ERTS "External Term Format" chapter (PID_EXT: 1-byte creation).
    name: 'PID (old)',
    bytes: bytes(131, 103, 100, 0, 3, ...ascii('a@h'), ...u32(85), ...u32(2), 3),
    term: new Pid(atom('a@h'), 85, 2, 3),
    canonical: false,
  },
  {
    name: 'NEWER_REFERENCE',
    bytes: bytes(
      131,
      90,
      0,
      3,
      ...nonode,
      0,
      0,
      0,
      0,
      0,
      3,
      35,
      62,
      53,
      240,
      0,
      1,
      221,
      150,
      7,
      73,
    ),
    term: new Reference(atom('nonode@nohost'), 0, [0x0003233e, 0x35f00001, 0xdd960749]),
    canonical: true,
  },
  {
    name: 'NEW_REFERENCE (1-byte creation)',
    bytes: bytes(131, 114, 0, 2, ...smallAtomUtf8('a@h'), 7, ...u32(1), ...u32(2)),
    term: new Reference(atom('a@h'), 7, [1, 2]),
    canonical: false,
  },
  {
    name: 'REFERENCE (old)',
    bytes: bytes(131, 101, ...smallAtomUtf8('a@h'), ...u32(9), 1),
    term: new Reference(atom('a@h'), 1, [9]),
    canonical: false,
  },
  {
    name: 'NEW_PORT',
    bytes: bytes(131, 89, ...nonode, 0, 0, 0, 0, 0, 0, 0, 0),
    term: new Port(atom('nonode@nohost'), 0n, 0),
    canonical: true,
  },
  {
    name: 'PORT (old)',
    bytes: bytes(131, 102, ...smallAtomUtf8('a@h'), ...u32(5), 2),
    term: new Port(atom('a@h'), 5n, 2),
    canonical: false,
  },
  {
    name: 'V4_PORT',
    bytes: bytes(131, 120, ...smallAtomUtf8('a@h'), 0, 0, 0, 1, 0, 0, 0, 5, ...u32(4)),
    term: new Port(atom('a@h'), (1n << 32n) + 5n, 4),
    canonical: true,
  },
];

describe('decodeTerm on OTP ground truth', () => {
  for (const vector of otpVectors) {
    it(`decodes ${vector.name}`, () => {
      const decoded = decodeTerm(vector.bytes);
      expect(termEquals(decoded, vector.term)).toBe(true);
      expect(termEquals(decodeTerm(encodeTerm(decoded)), vector.term)).toBe(true);
      if (vector.canonical) expect(encodeTerm(vector.term).equals(vector.bytes)).toBe(true);
    });
  }

  it('keeps integers in the 32-bit signed range as numbers and others as bigints', () => {
    expect(decodeTerm(bytes(131, 110, 4, 1, 0, 0, 0, 128))).toBe(-0x8000_0000);
    expect(decodeTerm(bytes(131, 110, 4, 0, 0, 0, 0, 128))).toBe(0x8000_0000n);
    expect(decodeTerm(bytes(131, 110, 1, 0, 5))).toBe(5);
    expect(decodeTerm(bytes(131, 110, 0, 0))).toBe(0);
    expect(encodeTerm(5n).equals(bytes(131, 97, 5))).toBe(true);
    expect(encodeTerm(-0x8000_0000).equals(bytes(131, 98, 128, 0, 0, 0))).toBe(true);
    expect(encodeTerm(0x8000_0000).equals(bytes(131, 110, 4, 0, 0, 0, 0, 128))).toBe(true);
  });

  it('decodes a closure (NEW_FUN) opaquely and re-encodes it verbatim', () => {
    const body = [
      0,
      ...new Array<number>(16).fill(7),
      ...u32(1),
      ...u32(0),
      ...smallAtomUtf8('m'),
      97,
      1,
      97,
      2,
      ...[88, ...nonode, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    const encoded = bytes(131, 112, ...u32(body.length + 4), ...body);
    const fun = decodeTerm(encoded);
    expect(fun).toBeInstanceOf(OpaqueFun);
    expect(encodeTerm(fun).equals(encoded)).toBe(true);
  });

  it('decodes a COMPRESSED term', () => {
    const inner = encodeTerm(new Charlist('a'.repeat(1000))).subarray(1);
    const compressed = bytes(131, 80, ...u32(inner.length), ...deflateSync(inner));
    expect(termEquals(decodeTerm(compressed), new Charlist('a'.repeat(1000)))).toBe(true);
  });

  it('splices a list tail that is itself a list, as Erlang does', () => {
    // [1 | "bc"] as LIST_EXT with a STRING_EXT tail, and a zero-length LIST_EXT with tail 1.
    expect(decodeTerm(bytes(131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 98, 99))).toEqual([1, 98, 99]);
    expect(decodeTerm(bytes(131, 108, 0, 0, 0, 0, 97, 1))).toBe(1);
  });

  it('drops the unused bits of a bitstring and turns 8 trailing bits into a binary', () => {
    const bits = decodeTerm(bytes(131, 77, 0, 0, 0, 1, 3, 255)) as BitBinary;
    expect(bits.bitsInLastByte).toBe(3);
    expect(Array.from(bits.bytes)).toEqual([0xe0]);
    expect(decodeTerm(bytes(131, 77, 0, 0, 0, 1, 8, 255))).toBeInstanceOf(Uint8Array);
  });

  it('decodes consecutive terms with decodeTermAt', () => {
    const frame = Buffer.concat([bytes(0x70), encodeTerm(tuple(atom('a'))), encodeTerm(7)]);
    const first = decodeTermAt(frame, 1);
    expect(termEquals(first.term, tuple(atom('a')))).toBe(true);
    const second = decodeTermAt(frame, first.next);
    expect(second).toEqual({ term: 7, next: frame.length });
  });

  it('returns binaries that do not share memory with the input', () => {
    const input = bytes(131, 109, 0, 0, 0, 2, 1, 2);
    const binary = decodeTerm(input) as Uint8Array;
    input[6] = 9;
    expect(Array.from(binary)).toEqual([1, 2]);
  });
});

describe('encodeTerm', () => {
  it('uses STRING_EXT for a list of bytes and LIST_EXT otherwise', () => {
    expect(encodeTerm([97, 98n]).equals(bytes(131, 107, 0, 2, 97, 98))).toBe(true);
    expect(encodeTerm(new Charlist('')).equals(bytes(131, 106))).toBe(true);
    expect(encodeTerm(new Charlist('a€'))[1]).toBe(108);
    expect(encodeTerm(new Array<number>(70_000).fill(1))[1]).toBe(108);
  });

  it('encodes an improper list whose tail is a list as the proper list Erlang sees', () => {
    expect(encodeTerm(new ImproperList([1], [2])).equals(bytes(131, 107, 0, 2, 1, 2))).toBe(true);
    expect(encodeTerm(new ImproperList([], atom('x'))).equals(encodeTerm(atom('x')))).toBe(true);
  });

  it('rejects values that are not Erlang terms with TermEncodeError', () => {
    const bad: unknown[] = [
      1.5,
      Number.NaN,
      new ErlFloat(Number.POSITIVE_INFINITY),
      atom('x'.repeat(256)),
      new Reference(atom('a@h'), 0, []),
      new Pid(atom('a@h'), -1, 0, 0),
      new Port(atom('a@h'), -1n, 0),
      new ExportFun(atom('m'), atom('f'), 256),
      new BitBinary(new Uint8Array([1]), 0),
      new ErlMap([
        [1, 1],
        [1n, 2],
      ]),
      tuple(undefined as unknown as Term),
      null,
      'text',
      {},
    ];
    for (const value of bad) {
      expect(() => encodeTerm(value as Term), String(value)).toThrow(TermEncodeError);
    }
  });
});

describe('decodeTerm on malformed input', () => {
  it('fails at every truncation point of every valid encoding', () => {
    for (const vector of otpVectors) {
      for (let length = 0; length < vector.bytes.length; length++) {
        expectDecodeError(() => decodeTerm(vector.bytes.subarray(0, length)));
      }
    }
  });

  it('rejects trailing bytes, a wrong version byte and unknown tags', () => {
    expectDecodeError(() => decodeTerm(bytes(131, 106, 0)));
    expectDecodeError(() => decodeTerm(bytes(130, 106)));
    expectDecodeError(() => decodeTerm(bytes(131, 200)));
    expectDecodeError(() => decodeTerm(bytes()));
  });

  it('rejects atom cache references, old funs and LOCAL_EXT', () => {
    expect(expectDecodeError(() => decodeTerm(bytes(131, 82, 0))).message).toMatch(/atom cache/);
    expectDecodeError(() => decodeTerm(bytes(131, 88, 82, 0, ...new Array<number>(12).fill(0))));
    expectDecodeError(() => decodeTerm(bytes(131, 117, 0, 0, 0, 0)));
    expectDecodeError(() => decodeTerm(bytes(131, 121, 0, 0, 0, 0)));
  });

  it('fails at once on absurd lengths, before allocating', () => {
    const absurd = [
      bytes(131, 108, 255, 255, 255, 255, 97, 1, 97, 1, 97, 1, 106), // list of 2^32-1 elements
      bytes(131, 105, 255, 255, 255, 255, 97, 1),
      bytes(131, 116, 255, 255, 255, 255, 97, 1, 97, 1),
      bytes(131, 109, 255, 255, 255, 255, 1, 2, 3),
      bytes(131, 77, 255, 255, 255, 255, 3, 1, 2, 3),
      bytes(131, 111, 255, 255, 255, 255, 0, 1, 2),
      bytes(131, 118, 255, 255, 97),
      bytes(131, 107, 255, 255, 97),
      bytes(131, 112, 255, 255, 255, 255, 0),
      bytes(131, 90, 255, 255, ...nonode),
      bytes(131, 80, 255, 255, 255, 255, 120, 156),
    ];
    for (const input of absurd) expectDecodeError(() => decodeTerm(input));
  });

  it('decodes list tails that are lists in linear time, whatever their nesting', () => {
    // [1 | [1 | [1 | ... | "bc"]]] nested 200,000 deep through tails: neither the depth bound
    // nor quadratic splicing applies; Erlang sees one flat list.
    const links = 200_000;
    const chain = Buffer.concat([
      bytes(131),
      Buffer.from(new Array<number[]>(links).fill([108, 0, 0, 0, 1, 97, 1]).flat()),
      bytes(107, 0, 2, 98, 99),
    ]);
    const list = decodeTerm(chain) as number[];
    expect(list).toHaveLength(links + 2);
    expect(list.slice(-3)).toEqual([1, 98, 99]);
  });

  it('checks repeated keys of maps nested in map keys in linear time', () => {
    // Each level's key is the previous level (a map holding a 16 KiB binary key): a key string
    // recomputed per level would cost levels² × 16 KiB.
    let map = new ErlMap([[1, 1]]);
    for (let level = 0; level < 500; level++) {
      const filler = Array.from({ length: 8 }, (_, index) => [index, 0] as const);
      map = new ErlMap([[map, 1], [new Uint8Array(16 * 1024).fill(level % 256), 2], ...filler]);
    }
    const decoded = decodeTerm(encodeTerm(map), { maxDepth: 1000 });
    expect(termEquals(decoded, map)).toBe(true);
  });

  it('rejects a repeated key in small and large maps', () => {
    const pairs = (count: number): number[] =>
      Array.from({ length: count }, (_, index) => [97, index, 106]).flat();
    // 12 distinct keys, then key 0 again.
    expectDecodeError(() => decodeTerm(bytes(131, 116, 0, 0, 0, 13, ...pairs(12), 97, 0, 106)));
    expect(decodeTerm(bytes(131, 116, 0, 0, 0, 12, ...pairs(12)))).toBeInstanceOf(ErlMap);
    // {1, <<"x">>} twice, and 1 vs SMALL_BIG 1 (the same integer).
    const key = [104, 2, 97, 1, 109, 0, 0, 0, 1, 120];
    expectDecodeError(() => decodeTerm(bytes(131, 116, 0, 0, 0, 2, ...key, 106, ...key, 106)));
    expectDecodeError(() => decodeTerm(bytes(131, 116, 0, 0, 0, 2, 97, 1, 106, 110, 1, 0, 1, 106)));
  });

  it('rejects values Erlang itself rejects', () => {
    expectDecodeError(() => decodeTerm(bytes(131, 70, 127, 240, 0, 0, 0, 0, 0, 0))); // +inf
    expectDecodeError(() => decodeTerm(bytes(131, 70, 127, 248, 0, 0, 0, 0, 0, 0))); // NaN
    expectDecodeError(() => decodeTerm(bytes(131, 99, ...ascii('not a float'.padEnd(31, '\0')))));
    // A repeated map key.
    expectDecodeError(() => decodeTerm(bytes(131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2)));
    expectDecodeError(() => decodeTerm(bytes(131, 119, 2, 0xc3, 0x28))); // invalid UTF-8 atom
    expectDecodeError(() => decodeTerm(bytes(131, 100, 1, 0, ...new Array<number>(256).fill(97))));
    expectDecodeError(() => decodeTerm(bytes(131, 118, 1, 0, ...new Array<number>(256).fill(97))));
    expectDecodeError(() => decodeTerm(bytes(131, 118, 2, 0, ...utf8('é'.repeat(256)))));
    expect(decodeTerm(bytes(131, 118, 1, 254, ...utf8('é'.repeat(255))))).toBe(
      atom('é'.repeat(255)),
    );
    expectDecodeError(() => decodeTerm(bytes(131, 77, 0, 0, 0, 1, 0, 255))); // 0 bits
    expectDecodeError(() => decodeTerm(bytes(131, 77, 0, 0, 0, 1, 9, 255))); // 9 bits
    expectDecodeError(() => decodeTerm(bytes(131, 110, 1, 2, 5))); // sign byte 2
    expectDecodeError(() => decodeTerm(bytes(131, 90, 0, 6, ...nonode, ...new Array(28).fill(0))));
    expectDecodeError(() => decodeTerm(bytes(131, 90, 0, 0, ...nonode, 0, 0, 0, 0)));
    expectDecodeError(() => decodeTerm(bytes(131, 113, ...smallAtomUtf8('m'), 119, 0, 98, 0)));
    expectDecodeError(() => decodeTerm(bytes(131, 112, 0, 0, 0, 5, 0)));
    expectDecodeError(() => decodeTerm(bytes(131, 104, 1, 80, 0, 0, 0, 1, 0))); // nested 80
  });

  it('bounds nesting depth without overflowing the stack', () => {
    const depth = 100_000;
    const bomb = Buffer.alloc(1 + depth * 2 + 1);
    bomb[0] = 131;
    for (let index = 0; index < depth; index++) {
      bomb[1 + index * 2] = 104;
      bomb[2 + index * 2] = 1;
    }
    bomb[bomb.length - 1] = 106;
    expect(expectDecodeError(() => decodeTerm(bomb)).message).toMatch(/deeper than 512/);
    // With the bound lifted, the iterative decoder still handles it.
    const deep = decodeTerm(bomb, { maxDepth: depth });
    expect(deep).toBeInstanceOf(Object);
    expect(termEquals(deep, deep)).toBe(true);
    expect(encodeTerm(deep).equals(bomb)).toBe(true);

    const nestedLists = Buffer.concat([
      bytes(131),
      Buffer.from(new Array<number[]>(600).fill([108, 0, 0, 0, 1]).flat()),
      bytes(106),
      Buffer.alloc(600, 106),
    ]);
    expectDecodeError(() => decodeTerm(nestedLists));
    expect(Array.isArray(decodeTerm(nestedLists, { maxDepth: 600 }))).toBe(true);
  });

  it('enforces maxBytes, also on the inflated size of a compressed term', () => {
    const big = encodeTerm(new Uint8Array(1000));
    expect(expectDecodeError(() => decodeTerm(big, { maxBytes: 100 })).message).toMatch(/100/);
    expectDecodeError(() => decodeTermAt(big, 0, { maxBytes: 100 }));
    expect(decodeTermAt(big, 0, { maxBytes: big.length }).next).toBe(big.length);

    const inner = encodeTerm(new Uint8Array(10_000)).subarray(1);
    const zipped = Buffer.concat([bytes(131, 80, ...u32(inner.length)), deflateSync(inner)]);
    expectDecodeError(() => decodeTerm(zipped, { maxBytes: 5000 }));
    // A size field that understates the data: inflation stops at the declared size.
    const lying = Buffer.concat([bytes(131, 80, ...u32(100)), deflateSync(inner)]);
    expectDecodeError(() => decodeTerm(lying));
    expectDecodeError(() => decodeTerm(bytes(131, 80, 0, 0, 0, 9, 1, 2, 3)));
  });

  it('rejects bad offsets and options as TermDecodeError', () => {
    expectDecodeError(() => decodeTermAt(bytes(131, 106), 5));
    expectDecodeError(() => decodeTermAt(bytes(131, 106), -1));
    expectDecodeError(() => decodeTermAt(bytes(131, 106), 0.5));
    expectDecodeError(() => decodeTerm(bytes(131, 106), { maxDepth: -1 }));
  });
});
