import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { jsonText, jsonTextInParts } from '@/lib/json-text';

describe('jsonTextInParts', () => {
  it('makes the text JSON.stringify makes, yields between parts, and keeps it for jsonText', async () => {
    // JSON-like values with what JSON.stringify leaves out or writes as null: undefined fields,
    // undefined elements, NaN.
    const value = fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.constant(Number.NaN));
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string(), value),
        fc.option(fc.array(value, { maxLength: 40 }), { nil: undefined }),
        fc.integer({ min: 1, max: 7 }),
        async (rest, members, perPart) => {
          const state = { ...rest, members };
          let turns = 0;
          const text = await jsonTextInParts(
            state,
            'members',
            async () => {
              turns += 1;
            },
            perPart,
          );
          expect(text).toBe(JSON.stringify(state));
          expect(turns).toBe(members ? Math.max(0, Math.ceil(members.length / perPart) - 1) : 0);
          expect(jsonText(state)).toBe(text);
        },
      ),
    );
  });
});
