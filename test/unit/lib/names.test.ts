import { describe, expect, it } from 'vitest';

import { compareNames } from '@/lib/names';

import { n } from './fixtures';

describe('compareNames', () => {
  it('orders addresses numerically', () => {
    expect([n(10), n(9), n(100), n(1)].sort(compareNames)).toEqual([n(1), n(9), n(10), n(100)]);
  });
});
