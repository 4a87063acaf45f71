import { describe, expect, it } from 'vitest';

import { TermDecodeError } from '@/server/erlang/codec';
import { BeamscopeError } from '@/server/errors';

describe('BeamscopeError', () => {
  it('is recognised across bundle copies of the class, by its registered brand', () => {
    // What a second bundle's copy of the class produces: the same brand, another prototype.
    const foreign = Object.assign(new Error('no cluster'), {
      [Symbol.for('beamscope.BeamscopeError')]: true,
      code: 'cluster_not_found',
    });
    expect(foreign instanceof BeamscopeError).toBe(true);
    expect(new Error('plain') instanceof BeamscopeError).toBe(false);
    expect((null as unknown as object) instanceof BeamscopeError).toBe(false);
  });

  it('keeps the ordinary prototype check for subclasses', () => {
    const decodeError = new TermDecodeError('truncated', 3);
    expect(decodeError instanceof BeamscopeError).toBe(true);
    expect(decodeError instanceof TermDecodeError).toBe(true);
    expect(new BeamscopeError('config', 'config_invalid', 'bad') instanceof TermDecodeError).toBe(
      false,
    );
  });
});
