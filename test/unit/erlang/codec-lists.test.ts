/**
 * The decoders for long flat lists (`codec/lists.ts`: module names, md5s) and pre-encoded terms:
 * they agree with the general decoder and encoder on everything they accept, and turn every
 * malformed input into a TermDecodeError — truncated, wrong tags, absurd lengths — without a
 * crash or an allocation larger than the input. Real `term_to_binary` output is checked in
 * test/integration/erlang/codec-real-node.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  atom,
  decodeAtomNames,
  decodeCachedAtomNames,
  decodeEqualBinaries,
  decodeTerm,
  encodeTerm,
  formatTerm,
  preEncode,
  TermDecodeError,
  termEquals,
  termToJson,
  tuple,
  type Atom,
  type Term,
} from '@/server/erlang/codec';

import { termArbitrary } from './codec-arbitraries';

/** The error a decoder throws; fails when it throws something else or nothing. */
function decodeError(decode: () => unknown): TermDecodeError {
  try {
    decode();
  } catch (error) {
    if (error instanceof TermDecodeError) return error;
    throw error;
  }
  throw new Error('expected a TermDecodeError');
}

function decodesOrRejects(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof TermDecodeError)) throw error;
  }
}

const atomName = fc.oneof(
  fc.stringMatching(/^[a-z][a-zA-Z0-9_.]{0,40}$/),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

/** LIST_EXT header bytes by hand: 131, 108, a 4-byte length. */
const listHead = (length: number) => {
  const head = Buffer.alloc(6);
  head[0] = 131;
  head[1] = 108;
  head.writeUInt32BE(length, 2);
  return head;
};

describe('decodeAtomNames', () => {
  it('reads what the general decoder reads, as strings', () => {
    fc.assert(
      fc.property(fc.array(atomName, { maxLength: 50 }), (names) => {
        const encoded = encodeTerm(names.map((name) => atom(name)));
        expect(decodeAtomNames(encoded)).toEqual(
          (decodeTerm(encoded) as Atom[]).map((each) => each.name),
        );
      }),
      { numRuns: 300 },
    );
    expect(decodeAtomNames(encodeTerm([]))).toEqual([]);
  });

  it('reads latin-1 atoms (ATOM_EXT, SMALL_ATOM_EXT) as OTP sent them before UTF-8', () => {
    // [abc, 'é'] as SMALL_ATOM_EXT and ATOM_EXT.
    const bytes = Buffer.concat([
      listHead(2),
      Buffer.from([115, 3, 0x61, 0x62, 0x63, 100, 0, 1, 0xe9, 106]),
    ]);
    expect(decodeAtomNames(bytes)).toEqual(['abc', 'é']);
  });

  it('rejects what is not a proper list of atoms, saying where and what', () => {
    expect(decodeError(() => decodeAtomNames(encodeTerm([atom('a'), 7]))).message).toMatch(
      /element 2 of the list is tag 97, not an atom/,
    );
    expect(decodeError(() => decodeAtomNames(encodeTerm(atom('a')))).message).toMatch(
      /where a list was expected/,
    );
    expect(decodeError(() => decodeAtomNames(encodeTerm(tuple()))).message).toMatch(
      /where a list was expected/,
    );
    const improper = Buffer.concat([listHead(1), Buffer.from([119, 1, 0x61, 119, 1, 0x62])]);
    expect(decodeError(() => decodeAtomNames(improper)).message).toMatch(/tail is tag 119/);
    const trailing = Buffer.concat([encodeTerm([atom('a')]), Buffer.from([0])]);
    expect(decodeError(() => decodeAtomNames(trailing)).message).toMatch(/1 bytes after/);
    const version = Buffer.from(encodeTerm([atom('a')]));
    version[0] = 130;
    expect(decodeError(() => decodeAtomNames(version)).message).toMatch(/version byte 130/);
    const badUtf8 = Buffer.concat([listHead(1), Buffer.from([119, 2, 0xc3, 0x28, 106])]);
    expect(decodeError(() => decodeAtomNames(badUtf8)).message).toMatch(/not valid UTF-8/);
    const long = Buffer.concat([listHead(1), Buffer.from([100, 1, 0]), Buffer.alloc(256, 97)]);
    expect(decodeError(() => decodeAtomNames(long)).message).toMatch(/256 characters/);
  });

  it('refuses absurd lengths before allocating anything', () => {
    const absurd = Buffer.concat([listHead(0xffff_ffff), Buffer.from([106])]);
    expect(decodeError(() => decodeAtomNames(absurd)).message).toMatch(/needs \d+ bytes/);
    const longAtom = Buffer.concat([listHead(1), Buffer.from([118, 0xff, 0xff, 97, 106])]);
    expect(decodeError(() => decodeAtomNames(longAtom)).message).toMatch(/needs 65535 bytes/);
  });

  it('throws only TermDecodeError on every truncation and on random corruption', () => {
    const encoded = encodeTerm(['lists', 'élixir', '€uro', ''].map((name) => atom(name)));
    for (let end = 0; end < encoded.length; end++) {
      decodeError(() => decodeAtomNames(encoded.subarray(0, end)));
    }
    fc.assert(
      fc.property(
        fc.array(atomName, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.nat(255),
        (names, where, value) => {
          const bytes = Buffer.from(encodeTerm(names.map((name) => atom(name))));
          bytes[where % bytes.length] = value;
          decodesOrRejects(() => decodeAtomNames(bytes));
        },
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(termArbitrary(), (term: Term) =>
        decodesOrRejects(() => decodeAtomNames(encodeTerm(term))),
      ),
      { numRuns: 300 },
    );
  });
});

/** What a decoder gives: its names, or its error's message. */
function outcome(decode: () => string[]): string[] | string {
  try {
    return decode();
  } catch (error) {
    if (error instanceof TermDecodeError) return `error: ${error.message}`;
    throw error;
  }
}

describe('decodeCachedAtomNames', () => {
  // Node names as a cluster's are (short, ASCII, one prefix), and any other atom name.
  const listName = fc.oneof(fc.stringMatching(/^app@10\.0\.[0-9]{1,3}\.[0-9]{1,3}$/), atomName);

  it('gives what decodeAtomNames gives, read once and again through the cache', () => {
    fc.assert(
      fc.property(fc.array(listName, { maxLength: 60 }), (names) => {
        const encoded = encodeTerm(names.map((name) => atom(name)));
        // The second read finds the names in the cache: the in-place path.
        for (let round = 0; round < 2; round++)
          expect(decodeCachedAtomNames(encoded)).toEqual(decodeAtomNames(encoded));
      }),
      { numRuns: 500 },
    );
  });

  it('takes the latin-1 encodings as decodeAtomNames does', () => {
    const bytes = Buffer.concat([
      listHead(3),
      Buffer.from([115, 3, 0x61, 0x62, 0x63, 100, 0, 1, 0xe9, 118, 0, 3, 0x61, 0x62, 0x63, 106]),
    ]);
    for (let round = 0; round < 2; round++)
      expect(decodeCachedAtomNames(bytes)).toEqual(['abc', 'é', 'abc']);
  });

  it('gives the outcome and the message of decodeAtomNames on cut and corrupted lists', () => {
    fc.assert(
      fc.property(
        fc.array(listName, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.nat(255),
        fc.nat(),
        (names, where, value, cut) => {
          const encoded = encodeTerm(names.map((name) => atom(name)));
          // Warm the cache with the intact names, so a corrupted copy meets them there.
          decodeCachedAtomNames(encoded);
          const bytes = Buffer.from(encoded);
          bytes[where % bytes.length] = value;
          for (const input of [bytes, encoded.subarray(0, cut % encoded.length)])
            expect(outcome(() => decodeCachedAtomNames(input))).toEqual(
              outcome(() => decodeAtomNames(input)),
            );
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('decodeEqualBinaries', () => {
  const md5 = (seed: number) => Buffer.alloc(16, seed);

  it('returns the binaries back to back in one buffer', () => {
    const { count, bytes } = decodeEqualBinaries(encodeTerm([md5(1), md5(2), md5(3)]), 16);
    expect(count).toBe(3);
    expect(bytes).toEqual(Buffer.concat([md5(1), md5(2), md5(3)]));
    expect(decodeEqualBinaries(encodeTerm([]), 16)).toEqual({ count: 0, bytes: Buffer.alloc(0) });
    expect(decodeEqualBinaries(encodeTerm([Buffer.alloc(0)]), 0).count).toBe(1);
  });

  it('rejects other sizes, other tags and improper lists, saying which element', () => {
    expect(
      decodeError(() => decodeEqualBinaries(encodeTerm([md5(1), Buffer.alloc(17)]), 16)).message,
    ).toMatch(/element 2 of the list is 17 bytes, not 16/);
    // Too short for its count: refused from the header, before the buffer is allocated.
    expect(
      decodeError(() => decodeEqualBinaries(encodeTerm([md5(1), Buffer.alloc(15)]), 16)).message,
    ).toMatch(/a list of 2 binaries of 16 bytes and its tail needs 43 bytes but only 42 remain/);
    expect(
      decodeError(() => decodeEqualBinaries(encodeTerm([md5(1), atom('x'.repeat(30))]), 16))
        .message,
    ).toMatch(/element 2 of the list is tag 119, not a binary/);
    const improper = Buffer.concat([
      listHead(1),
      encodeTerm(md5(1)).subarray(1),
      Buffer.from([97, 1]),
    ]);
    expect(decodeError(() => decodeEqualBinaries(improper, 16)).message).toMatch(/tail is tag 97/);
    expect(() => decodeEqualBinaries(encodeTerm([]), -1)).toThrow(TermDecodeError);
  });

  it('refuses absurd lengths before allocating anything', () => {
    const absurd = Buffer.concat([listHead(0x1000_0000), Buffer.from([106])]);
    expect(decodeError(() => decodeEqualBinaries(absurd, 16)).message).toMatch(/needs \d+ bytes/);
    const hugeBinary = Buffer.concat([listHead(1), Buffer.from([109, 0xff, 0xff, 0xff, 0xff])]);
    expect(decodeError(() => decodeEqualBinaries(hugeBinary, 16)).message).toMatch(
      /needs 22 bytes|4294967295 bytes, not 16/,
    );
  });

  it('throws only TermDecodeError on every truncation and on random corruption', () => {
    const encoded = encodeTerm([md5(1), md5(2)]);
    for (let end = 0; end < encoded.length; end++) {
      decodeError(() => decodeEqualBinaries(encoded.subarray(0, end), 16));
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.nat(255), (count, where, value) => {
        const bytes = Buffer.from(encodeTerm(Array.from({ length: count }, (_, i) => md5(i))));
        bytes[where % bytes.length] = value;
        decodesOrRejects(() => decodeEqualBinaries(bytes, 16));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(termArbitrary(), (term: Term) =>
        decodesOrRejects(() => decodeEqualBinaries(encodeTerm(term), 16)),
      ),
      { numRuns: 300 },
    );
  });
});

describe('preEncode', () => {
  it('encodes to the same bytes as the term, and is the term to equality, format and JSON', () => {
    fc.assert(
      fc.property(termArbitrary(), (term: Term) => {
        const pre = preEncode(term);
        expect(encodeTerm(pre)).toEqual(encodeTerm(term));
        // Inside a list it stays a term of its own (a list of bytes is not merged into a
        // STRING_EXT across it), so the bytes may differ but the term is the same.
        expect(termEquals(decodeTerm(encodeTerm([pre, 1])), [term, 1])).toBe(true);
        expect(termEquals(pre, term)).toBe(true);
        expect(termEquals([term], [pre])).toBe(true);
        expect(formatTerm(pre)).toBe(formatTerm(term));
        expect(termToJson(pre)).toEqual(termToJson(term));
      }),
      { numRuns: 300 },
    );
  });
});
