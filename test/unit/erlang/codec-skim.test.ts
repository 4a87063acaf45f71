/**
 * Skipping a term (`codec/skim.ts`) must accept exactly what decoding it accepts and end where it
 * ends: a skimmed reply is only as safe as what it skipped. Both are run over valid encodings,
 * the same encodings mutated byte by byte and cut short, and nestings at the depth limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { encodeTerm, TermDecodeError, tuple, type Term } from '@/server/erlang/codec';
import { decodeBody, DEFAULT_MAX_DEPTH } from '@/server/erlang/codec/decode';
import { Reader } from '@/server/erlang/codec/reader';
import { skipTerm, TermCursor } from '@/server/erlang/codec/skim';
import { atom } from '@/server/erlang/codec/terms';

import { termArbitrary } from './codec-arbitraries';

type Outcome = { end: number } | { error: string };

/** Where reading the body of `bytes` (after its version byte) ends, or the error it fails with. */
function outcome(bytes: Uint8Array, read: (reader: Reader) => void): Outcome {
  const reader = new Reader(bytes, 1, bytes.length);
  try {
    read(reader);
    return { end: reader.pos };
  } catch (error) {
    if (error instanceof TermDecodeError) return { error: error.message };
    throw error;
  }
}

const decoded = (bytes: Uint8Array, depth = DEFAULT_MAX_DEPTH) =>
  outcome(bytes, (reader) => void decodeBody(reader, depth));
const skipped = (bytes: Uint8Array, depth = DEFAULT_MAX_DEPTH) =>
  outcome(bytes, (reader) => skipTerm(reader, depth));

const encodings = termArbitrary({ maxDepth: 4 }).map((term) => encodeTerm(term));

describe('skipTerm', () => {
  it('ends where the decoder ends on every valid encoding', () => {
    fc.assert(
      fc.property(encodings, (bytes) => {
        expect(skipped(bytes)).toEqual({ end: bytes.length });
        expect(decoded(bytes)).toEqual({ end: bytes.length });
      }),
      { numRuns: 3000 },
    );
  });

  it('fails where the decoder fails, with its message, on mutated and truncated encodings', () => {
    const mutated = fc
      .tuple(
        encodings.filter((bytes) => bytes.length > 2),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat()),
      )
      .map(([bytes, flips, cut]) => {
        const copy = Uint8Array.from(bytes);
        for (const [at, value] of flips) copy[1 + (at % (copy.length - 1))] = value;
        return cut === null ? copy : copy.subarray(0, 1 + (cut % copy.length));
      });
    let failures = 0;
    fc.assert(
      fc.property(mutated, (bytes) => {
        const expected = decoded(bytes);
        if ('error' in expected) failures++;
        expect(skipped(bytes)).toEqual(expected);
      }),
      { numRuns: 20_000 },
    );
    // The property has teeth only if many of the cases are refused.
    expect(failures).toBeGreaterThan(5_000);
  });

  it('counts nesting as the decoder does, list tails that are lists included', () => {
    let nested: Term = atom('x');
    for (let level = 0; level < 12; level++) nested = level % 2 ? tuple(nested) : [nested];
    const bytes = encodeTerm(nested);
    for (let depth = 9; depth <= 13; depth++) {
      expect(skipped(bytes, depth)).toEqual(decoded(bytes, depth));
    }
    // [a | [b | [c | ...]]] written as nested LIST tails: one level however long.
    const chain = [131];
    for (let index = 0; index < 600; index++) chain.push(108, 0, 0, 0, 1, 97, index % 256);
    chain.push(106);
    expect(skipped(Uint8Array.from(chain), 1)).toEqual({ end: chain.length });
    expect(decoded(Uint8Array.from(chain), 1)).toEqual({ end: chain.length });
  });
});

describe('TermCursor', () => {
  it('reads the forms asked for and says undefined for others', () => {
    const bytes = encodeTerm(
      tuple(atom('ok'), [1, 2n ** 40n, atom('hidden')], Uint8Array.from([116, 101])),
    );
    const cursor = TermCursor.of(bytes)!;
    expect(cursor.tuple()).toBe(3);
    expect(cursor.atom()?.name).toBe('ok');
    expect(cursor.list()).toBe(3);
    expect(cursor.integer()).toBe(1);
    expect(cursor.integer()).toBe(2n ** 40n);
    expect(cursor.atomOrSkip(2)?.name).toBe('hidden');
    expect(cursor.listEnd()).toBe(true);
    expect(cursor.done).toBe(false);
    expect(cursor.atomOrSkip(1)).toBeNull();
    expect(cursor.done).toBe(true);
    expect(TermCursor.of(encodeTerm([]))!.list()).toBe(0);
    expect(TermCursor.of(encodeTerm(atom('ok')))!.tuple()).toBeUndefined();
    expect(TermCursor.of(Uint8Array.from([130, 106]))).toBeUndefined();
  });
});
