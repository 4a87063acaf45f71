import { describe, expect, it } from 'vitest';

import { safeNext } from '@/server/auth/sign-in';

describe('safeNext: where a sign-in may send the browser', () => {
  it('keeps a path on this site, with its query and fragment', () => {
    expect(safeNext('/clusters/sandbox?at=1700000000000#timeline')).toBe(
      '/clusters/sandbox?at=1700000000000#timeline',
    );
  });

  it('percent-encodes non-ASCII text so it fits a Location header', () => {
    const target = safeNext('/clusters/café?node=gerät@10.0.0.1');
    expect(target).toBe('/clusters/caf%C3%A9?node=ger%C3%A4t@10.0.0.1');
    // A Location header takes Latin-1 only: the unencoded path made this throw.
    expect(() => new Headers({ location: target })).not.toThrow();
  });

  it('refuses anything that leaves this site', () => {
    for (const value of [
      '//evil.example/x',
      '/\\evil.example/x',
      '/\t/evil.example/x',
      'https://evil.example/',
      'javascript:alert(1)',
      '',
      42,
      null,
      `/${'a'.repeat(2048)}`,
    ]) {
      expect(safeNext(value)).toBe('/');
    }
  });

  it('drops CR and LF rather than letting them into a header', () => {
    expect(safeNext('/clusters/x\r\nSet-Cookie: a=b')).toBe('/clusters/xSet-Cookie:%20a=b');
  });
});
