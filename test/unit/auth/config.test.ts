import { describe, expect, it } from 'vitest';

import { parseConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

const FILE = '/etc/beamscope/beamscope.yaml';
const CLUSTERS = {
  clusters: [
    {
      id: 'shop',
      discovery: { service: 'shop' },
      nodeNaming: { basename: 'shop' },
      distribution: { cookieEnv: 'SHOP_COOKIE' },
    },
  ],
};

/** The one-line message of the config error, or the parsed access section. */
function parse(access: unknown) {
  return parseConfig({ ...CLUSTERS, ...(access === undefined ? {} : { access }) }, FILE).access;
}

function messageOf(access: unknown): string {
  try {
    parse(access);
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    expect((error as BeamscopeError).exitCode).toBe(78);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message.startsWith(`${FILE}: `)).toBe(true);
    return message;
  }
  throw new Error('expected the access section to be refused');
}

describe('the access section', () => {
  it('defaults to none', () => {
    expect(parse(undefined)).toEqual({ mode: 'none' });
    expect(parse({})).toEqual({ mode: 'none' });
  });

  it('takes token mode with a file (resolved beside the config) or an environment variable', () => {
    expect(parse({ mode: 'token', tokenFile: 'token/token' })).toEqual({
      mode: 'token',
      tokenFile: '/etc/beamscope/token/token',
    });
    expect(parse({ mode: 'token', tokenEnv: 'BEAMSCOPE_ACCESS_TOKEN' })).toEqual({
      mode: 'token',
      tokenEnv: 'BEAMSCOPE_ACCESS_TOKEN',
    });
  });

  it('takes proxy mode, with the default identity header', () => {
    expect(
      parse({ mode: 'proxy', proxy: { trustedProxies: ['10.0.0.0/8', '127.0.0.1'] } }),
    ).toEqual({
      mode: 'proxy',
      proxy: { header: 'X-Forwarded-User', trustedProxies: ['10.0.0.0/8', '127.0.0.1'] },
    });
    expect(
      parse({ mode: 'proxy', proxy: { header: 'X-Auth-Request-Email', trustedProxies: ['::1'] } }),
    ).toMatchObject({ proxy: { header: 'X-Auth-Request-Email' } });
  });

  it('refuses token mode without exactly one source', () => {
    expect(messageOf({ mode: 'token' })).toMatch(
      /access: expected exactly one of tokenFile or tokenEnv .*got neither/,
    );
    expect(messageOf({ mode: 'token', tokenFile: 'a', tokenEnv: 'B' })).toMatch(/got both/);
  });

  it('refuses fields of another mode', () => {
    expect(messageOf({ mode: 'none', tokenEnv: 'X' })).toMatch(
      /access\.tokenEnv: applies to mode token only/,
    );
    expect(messageOf({ mode: 'token', tokenEnv: 'X', proxy: { trustedProxies: ['::1'] } })).toMatch(
      /access\.proxy: applies to mode proxy only/,
    );
  });

  it('refuses proxy mode without trusted proxies', () => {
    expect(messageOf({ mode: 'proxy' })).toMatch(
      /access\.proxy\.trustedProxies: expected the addresses/,
    );
    expect(messageOf({ mode: 'proxy', proxy: { trustedProxies: [] } })).toMatch(
      /access\.proxy\.trustedProxies: expected at least one/,
    );
    expect(messageOf({ mode: 'proxy', proxy: { trustedProxies: ['proxy.local'] } })).toMatch(
      /access\.proxy\.trustedProxies\[0\]: expected an IP address or CIDR block/,
    );
    expect(
      messageOf({ mode: 'proxy', proxy: { header: 'X Bad', trustedProxies: ['::1'] } }),
    ).toMatch(/access\.proxy\.header: expected an HTTP header name/);
  });

  it('refuses an unknown mode, naming access.mode', () => {
    expect(messageOf({ mode: 'ldap' })).toMatch(
      /access\.mode: expected one of token, proxy, oidc, kubernetes, none \(got "ldap"\)/,
    );
  });

  it('refuses the token written into the file, without repeating it', () => {
    const secret = 'hunter2-but-much-longer-than-that';
    for (const field of ['token', 'accessToken', 'password', 'secret']) {
      const message = messageOf({ mode: 'token', [field]: secret });
      expect(message).toContain(
        `access.${field}: the access token never goes in the configuration file`,
      );
      expect(message).not.toContain(secret);
    }
  });
});
