import { describe, expect, it } from 'vitest';

import { AddressSet, normalizeAddress } from '@/server/auth/cidr';
import { isLoopbackAddress, listensOnLoopbackOnly } from '@/server/auth/listen';
import { FailureLimiter } from '@/server/auth/rate-limit';
import { SessionSigner } from '@/server/auth/session';
import { secretsEqual } from '@/server/auth/token';

const TOKEN = 'correct-horse-battery-staple-42';

describe('AddressSet (access.proxy.trustedProxies)', () => {
  const set = new AddressSet(['10.0.0.0/8', '127.0.0.1', '192.168.1.0/24', 'fd00::/8', '::1']);

  it('matches addresses and blocks, IPv4 and IPv6', () => {
    expect(set.has('10.1.2.3')).toBe(true);
    expect(set.has('127.0.0.1')).toBe(true);
    expect(set.has('192.168.1.254')).toBe(true);
    expect(set.has('fd12:3456::1')).toBe(true);
    expect(set.has('::1')).toBe(true);
  });

  it('does not match what is outside', () => {
    expect(set.has('11.0.0.1')).toBe(false);
    expect(set.has('127.0.0.2')).toBe(false);
    expect(set.has('192.168.2.1')).toBe(false);
    expect(set.has('fe80::1')).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 peer as the IPv4 address it is', () => {
    expect(normalizeAddress('::ffff:10.9.8.7')).toBe('10.9.8.7');
    expect(set.has('::ffff:10.9.8.7')).toBe(true);
    expect(set.has('::ffff:127.0.0.1')).toBe(true);
    expect(set.has('::ffff:11.0.0.1')).toBe(false);
  });

  it('never matches an absent or unparsable address', () => {
    expect(set.has(undefined)).toBe(false);
    expect(set.has('')).toBe(false);
    expect(set.has('10.0.0.1, 1.2.3.4')).toBe(false);
    expect(set.has('not-an-address')).toBe(false);
  });

  it('refuses entries that are not addresses or blocks, naming them', () => {
    expect(() => new AddressSet(['proxy.local'])).toThrow(/"proxy.local" is not an IP address/);
    expect(() => new AddressSet(['10.0.0.0/33'])).toThrow(/prefix length outside 0-32/);
    expect(() => new AddressSet(['fd00::/129'])).toThrow(/prefix length outside 0-128/);
    expect(() => new AddressSet(['10.0.0.0/8/1'])).toThrow(/not an IP address/);
    expect(() => new AddressSet(['10.0.0.0/x'])).toThrow(/prefix length/);
  });
});

describe('loopback', () => {
  it('knows loopback addresses', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])
      expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2'])
      expect(isLoopbackAddress(address), address).toBe(false);
  });

  it('resolves names as listen() would, and never calls the wildcard loopback', async () => {
    expect(await listensOnLoopbackOnly('127.0.0.1')).toBe(true);
    expect(await listensOnLoopbackOnly('localhost')).toBe(true);
    expect(await listensOnLoopbackOnly('0.0.0.0')).toBe(false);
    expect(await listensOnLoopbackOnly('::')).toBe(false);
    expect(await listensOnLoopbackOnly('no-such-host.invalid')).toBe(false);
  });
});

describe('secretsEqual', () => {
  it('is true only for the same secret', () => {
    expect(secretsEqual(TOKEN, TOKEN)).toBe(true);
    expect(secretsEqual(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(secretsEqual('', TOKEN)).toBe(false);
    expect(secretsEqual(TOKEN.slice(0, -1), TOKEN)).toBe(false);
  });
});

describe('SessionSigner', () => {
  it('issues a cookie that is not the token and verifies for that token only', () => {
    const signer = new SessionSigner();
    const cookie = signer.issue(TOKEN);
    expect(cookie).not.toContain(TOKEN);
    expect(cookie).not.toContain(Buffer.from(TOKEN).toString('base64'));
    expect(cookie).not.toContain(Buffer.from(TOKEN).toString('base64url'));
    expect(signer.verify(cookie, TOKEN)).toBe(true);
    // A rotated token ends the session.
    expect(signer.verify(cookie, 'another-token-of-enough-length')).toBe(false);
  });

  it('gives every sign-in a different session', () => {
    const signer = new SessionSigner();
    expect(signer.issue(TOKEN)).not.toBe(signer.issue(TOKEN));
  });

  it('refuses a session from another server process (a restart)', () => {
    const cookie = new SessionSigner().issue(TOKEN);
    expect(new SessionSigner().verify(cookie, TOKEN)).toBe(false);
  });

  it('refuses an expired, tampered or malformed cookie', () => {
    let now = 1_000_000;
    const signer = new SessionSigner(Buffer.alloc(32, 7), () => now);
    const cookie = signer.issue(TOKEN, 60_000);
    now += 59_999;
    expect(signer.verify(cookie, TOKEN)).toBe(true);
    now += 1;
    expect(signer.verify(cookie, TOKEN)).toBe(false);
    now = 1_000_000;
    const [version, id, expiry, mac] = cookie.split('.');
    // A later expiry with the old MAC, another id, a flipped MAC: all refused.
    expect(signer.verify([version, id, Number(expiry) + 1e9, mac].join('.'), TOKEN)).toBe(false);
    expect(signer.verify([version, `${id}x`, expiry, mac].join('.'), TOKEN)).toBe(false);
    const flipped = mac!.startsWith('A') ? `B${mac!.slice(1)}` : `A${mac!.slice(1)}`;
    expect(signer.verify([version, id, expiry, flipped].join('.'), TOKEN)).toBe(false);
    for (const bad of [undefined, '', 'v1', 'v2.a.1.b', `${cookie}.x`, 'x'.repeat(500)])
      expect(signer.verify(bad, TOKEN)).toBe(false);
  });
});

describe('FailureLimiter', () => {
  it('refuses a client after N failures in the window, with the seconds left', () => {
    let now = 0;
    const limiter = new FailureLimiter(3, 60_000, 100, () => now);
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      expect(limiter.check('10.0.0.1')).toEqual({ allowed: true });
      expect(limiter.fail('10.0.0.1')).toBe(attempt);
    }
    now = 15_500;
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: false, retryAfterSeconds: 45 });
    // Another client is not affected.
    expect(limiter.check('10.0.0.2')).toEqual({ allowed: true });
    // The window ends: allowed again, counting from zero.
    now = 60_000;
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: true });
    expect(limiter.fail('10.0.0.1')).toBe(1);
  });

  it('forgets a client on success', () => {
    const limiter = new FailureLimiter(2, 60_000, 100, () => 0);
    limiter.fail('a');
    limiter.succeed('a');
    limiter.fail('a');
    expect(limiter.check('a')).toEqual({ allowed: true });
  });

  it('stays bounded, forgetting the oldest window first', () => {
    const limiter = new FailureLimiter(1, 60_000, 3, () => 0);
    for (const client of ['a', 'b', 'c', 'd']) limiter.fail(client);
    expect(limiter.check('a')).toEqual({ allowed: true });
    expect(limiter.check('d').allowed).toBe(false);
  });
});
