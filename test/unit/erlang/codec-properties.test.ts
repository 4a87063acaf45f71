import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  decodeTerm,
  decodeTermAt,
  encodeTerm,
  formatTerm,
  TermDecodeError,
  termEquals,
  termToJson,
  type Term,
} from '@/server/erlang/codec';

import { termArbitrary } from './codec-arbitraries';

/** Runs `decode` and fails the property on any exception other than TermDecodeError. */
function decodesOrRejects(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof TermDecodeError)) throw error;
  }
}

describe('codec properties', () => {
  it('round-trips arbitrary terms: decode(encode(t)) =:= t, and the encoding is stable', () => {
    fc.assert(
      fc.property(termArbitrary(), (term: Term) => {
        const encoded = encodeTerm(term);
        const decoded = decodeTerm(encoded);
        expect(termEquals(decoded, term)).toBe(true);
        expect(termEquals(term, decoded)).toBe(true);
        expect(encodeTerm(decoded).equals(encoded)).toBe(true);
        // The decoded form is canonical: decoding it again yields the very same structure.
        expect(decodeTerm(encodeTerm(decoded))).toEqual(decoded);
      }),
      { numRuns: 1000 },
    );
  }, 30_000);

  it('maps and prints arbitrary terms without throwing', () => {
    fc.assert(
      fc.property(termArbitrary(), (term: Term) => {
        expect(typeof JSON.stringify(termToJson(term))).toBe('string');
        expect(typeof JSON.stringify(termToJson(term, { withNodes: true }))).toBe('string');
        expect(formatTerm(term).length).toBeGreaterThan(0);
        expect(formatTerm(term, { maxLength: 20 }).length).toBeLessThanOrEqual(20);
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('throws nothing but TermDecodeError on arbitrary bytes', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((rest) => Uint8Array.from([131, ...rest])),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        decodesOrRejects(() => decodeTerm(bytes));
        decodesOrRejects(() => decodeTermAt(bytes, 0, { maxDepth: 3, maxBytes: 16 }));
      }),
      { numRuns: 10_000 },
    );
  }, 30_000);

  it('throws nothing but TermDecodeError on corrupted valid encodings', () => {
    const corrupted = fc
      .tuple(
        termArbitrary({ maxDepth: 2 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), {
          minLength: 1,
          maxLength: 4,
        }),
      )
      .map(([term, edits]) => {
        const bytes = Uint8Array.from(encodeTerm(term));
        for (const [position, value] of edits) bytes[position % bytes.length] = value;
        return bytes;
      });
    fc.assert(
      fc.property(corrupted, (bytes) => {
        decodesOrRejects(() => decodeTerm(bytes));
        decodesOrRejects(() => decodeTerm(bytes.subarray(0, bytes.length >> 1)));
      }),
      { numRuns: 2000 },
    );
  }, 30_000);
});
