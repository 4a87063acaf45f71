import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAccess } from '@/server/auth';
import { formatAudit, setAuditSink } from '@/server/auth/audit';
import { AccessGate, setAccessGate } from '@/server/auth/gate';
import { groupsFrom, subjectOf } from '@/server/auth/oidc-claims';
import { OidcSessions, OidcTransactions } from '@/server/auth/oidc-sessions';
import type { Principal } from '@/server/auth/principal';
import { SessionSigner } from '@/server/auth/session';
import { handleSignOut } from '@/server/auth/sign-in';
import { parseConfig, type BeamscopeConfig, type OidcAccessConfig } from '@/server/config';
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
const ISSUER = 'https://login.example.com/realms/ops';

function parse(oidc: unknown, mode = 'oidc') {
  return parseConfig({ ...CLUSTERS, access: { mode, oidc } }, FILE).access;
}

/** The one-line message of the config error. */
function messageOf(oidc: unknown, mode = 'oidc'): string {
  try {
    parse(oidc, mode);
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message.startsWith(`${FILE}: `)).toBe(true);
    return message;
  }
  throw new Error('expected the oidc section to be refused');
}

describe('the access.oidc section', () => {
  it('takes the issuer, the client and where its secret lives, with defaults', () => {
    expect(
      parse({ issuer: ISSUER, clientId: 'beamscope', clientSecretFile: 'oidc/client-secret' }),
    ).toEqual({
      mode: 'oidc',
      oidc: {
        issuer: ISSUER,
        clientId: 'beamscope',
        clientSecretFile: '/etc/beamscope/oidc/client-secret',
        groupsClaim: 'groups',
        scopes: ['openid', 'email', 'profile'],
      },
    });
    expect(
      parse({
        issuer: 'http://127.0.0.1:9000',
        clientId: 'beamscope',
        clientSecretEnv: 'OIDC_CLIENT_SECRET',
        groupsClaim: 'roles',
        scopes: ['openid', 'groups'],
        redirectUrl: 'https://beamscope.example.com/api/session/oidc/callback',
      }),
    ).toMatchObject({
      oidc: {
        clientSecretEnv: 'OIDC_CLIENT_SECRET',
        groupsClaim: 'roles',
        scopes: ['openid', 'groups'],
        redirectUrl: 'https://beamscope.example.com/api/session/oidc/callback',
      },
    });
  });

  it('refuses a client secret written into the file, without repeating it', () => {
    const secret = 'an-oidc-client-secret-that-must-not-be-echoed';
    for (const field of ['clientSecret', 'client_secret', 'secret']) {
      const message = messageOf({ issuer: ISSUER, clientId: 'b', [field]: secret });
      expect(message).toContain(
        `access.oidc.${field}: the OIDC client secret never goes in the configuration file`,
      );
      expect(message).not.toContain(secret);
    }
  });

  it('refuses a section without exactly one secret source', () => {
    expect(messageOf({ issuer: ISSUER, clientId: 'b' })).toBe(
      `${FILE}: access.oidc: expected exactly one of clientSecretFile or clientSecretEnv (got neither)`,
    );
    expect(
      messageOf({ issuer: ISSUER, clientId: 'b', clientSecretFile: 'f', clientSecretEnv: 'E' }),
    ).toMatch(/access\.oidc: .*\(got both\)$/);
  });

  it('refuses an issuer over plain HTTP unless it is on loopback, and one that is not a URL', () => {
    for (const issuer of ['http://login.example.com', 'login.example.com', 'ftp://x', '']) {
      expect(messageOf({ issuer, clientId: 'b', clientSecretEnv: 'E' })).toMatch(
        /access\.oidc\.issuer: expected the OpenID provider's issuer URL/,
      );
    }
    expect(
      parse({ issuer: 'http://localhost:8080/', clientId: 'b', clientSecretEnv: 'E' }),
    ).toMatchObject({ mode: 'oidc' });
  });

  it('refuses scopes without openid and a redirect URL that is not the callback', () => {
    expect(
      messageOf({ issuer: ISSUER, clientId: 'b', clientSecretEnv: 'E', scopes: ['email'] }),
    ).toMatch(/access\.oidc\.scopes: expected the list to include openid/);
    expect(
      messageOf({
        issuer: ISSUER,
        clientId: 'b',
        clientSecretEnv: 'E',
        redirectUrl: 'https://beamscope.example.com/callback',
      }),
    ).toMatch(/access\.oidc\.redirectUrl: .*ending in \/api\/session\/oidc\/callback/);
  });

  it('refuses mode oidc without the section, and the section in another mode', () => {
    expect(messageOf(undefined)).toMatch(/access\.oidc\.issuer: expected the OpenID provider/);
    expect(messageOf({ issuer: ISSUER, clientId: 'b', clientSecretEnv: 'E' }, 'none')).toMatch(
      /access\.oidc: applies to mode oidc only \(mode is none\)/,
    );
  });
});

describe('reading who signed in from the claims', () => {
  it('names the verified e-mail address, else the subject', () => {
    expect(subjectOf({ sub: 'abc', email: 'ada@example.com', email_verified: true })).toBe(
      'oidc:ada@example.com',
    );
    expect(subjectOf({ sub: 'abc', email: 'ada@example.com' })).toBe('oidc:abc');
    expect(subjectOf({ sub: 'abc\nbeamscope: audit: forged', email_verified: true })).toBe(
      'oidc:abc?beamscope:?audit:?forged',
    );
  });

  it('reads a list of groups, one group sent as a string, and says what it ignored', () => {
    expect(groupsFrom({ groups: ['a', 'b', 'a', ' c '] }, 'groups')).toEqual({
      groups: ['a', 'b', 'c'],
    });
    expect(groupsFrom({ roles: 'admins' }, 'roles')).toEqual({ groups: ['admins'] });
    expect(groupsFrom({ groups: ['a', 7, '', null] }, 'groups')).toEqual({
      groups: ['a'],
      problem: expect.stringMatching(/^the claim groups holds 3 entries that are not a group/),
    });
  });

  it('gives no group for a claim of another shape, and tells an absent claim apart', () => {
    expect(groupsFrom({ groups: { admins: true } }, 'groups')).toEqual({
      groups: [],
      problem:
        'the claim groups is a mapping, not a list of group names; the user is given no group',
    });
    expect(groupsFrom({ groups: 3 }, 'groups')?.problem).toMatch(/is a number/);
    expect(groupsFrom({ sub: 'x' }, 'groups')).toBeUndefined();
    expect(groupsFrom({ groups: null }, 'groups')).toBeUndefined();
  });
});

describe('OIDC sessions', () => {
  const principal = {
    subject: 'oidc:ada@example.com',
    name: 'ada@example.com',
    groups: ['team-a'],
  };

  it('keeps who signed in behind a signed cookie, until sign-out ends it', () => {
    const sessions = new OidcSessions(new SessionSigner(Buffer.alloc(32, 1)));
    const cookie = sessions.create(principal);
    expect(cookie).toMatch(/^v1\.[\w-]+\.\d+\.[\w-]+$/);
    expect(sessions.get(cookie)).toMatchObject(principal);
    expect(sessions.end(cookie)).toMatchObject(principal);
    expect(sessions.get(cookie)).toBeUndefined();
    expect(sessions.end(cookie)).toBeUndefined();
  });

  it('refuses an altered, foreign or expired cookie', () => {
    let now = 1_000_000;
    const signer = new SessionSigner(Buffer.alloc(32, 1), () => now);
    const sessions = new OidcSessions(signer, () => now, 100, 60_000);
    const cookie = sessions.create(principal);
    const [version, id, expiry, mac] = cookie.split('.');
    expect(sessions.get(`${version}.${id}.${Number(expiry) + 1}.${mac}`)).toBeUndefined();
    expect(sessions.get(`${cookie}x`)).toBeUndefined();
    // Signed by another server (or before a restart): refused.
    const other = new OidcSessions(new SessionSigner(Buffer.alloc(32, 2), () => now), () => now);
    expect(other.get(cookie)).toBeUndefined();
    // A token-mode cookie of the same server is not an OIDC session.
    expect(sessions.get(signer.issue('some-access-token'))).toBeUndefined();
    now += 60_000;
    expect(sessions.get(cookie)).toBeUndefined();
  });

  it('stays bounded: past the limit the oldest sessions go', () => {
    const sessions = new OidcSessions(new SessionSigner(), Date.now, 3);
    const cookies = Array.from({ length: 5 }, () => sessions.create(principal));
    expect(sessions.size).toBe(3);
    expect(sessions.get(cookies[0])).toBeUndefined();
    expect(sessions.get(cookies[4])).toMatchObject(principal);
  });
});

describe('OIDC sign-ins under way', () => {
  const transaction = {
    state: 's',
    nonce: 'n',
    codeVerifier: 'v',
    redirectUri: 'https://b.example.com/api/session/oidc/callback',
    next: '/',
  };

  it('hands each transaction back once, and not after ten minutes', () => {
    let now = 0;
    const transactions = new OidcTransactions(() => now);
    const handle = transactions.begin(transaction);
    expect(transactions.take(handle)).toMatchObject(transaction);
    expect(transactions.take(handle)).toBeUndefined();
    const late = transactions.begin(transaction);
    now += 10 * 60 * 1000;
    expect(transactions.take(late)).toBeUndefined();
    expect(transactions.take(undefined)).toBeUndefined();
    expect(transactions.take('x'.repeat(100))).toBeUndefined();
  });

  it('stays bounded under anonymous starts', () => {
    const transactions = new OidcTransactions(Date.now, 2);
    const first = transactions.begin(transaction);
    transactions.begin(transaction);
    const third = transactions.begin(transaction);
    expect(transactions.take(first)).toBeUndefined();
    expect(transactions.take(third)).toMatchObject(transaction);
  });
});

describe('starting in mode oidc', () => {
  const config = (oidc: Partial<OidcAccessConfig>): BeamscopeConfig => ({
    access: {
      mode: 'oidc',
      oidc: {
        // Nothing listens on port 9 (discard) on loopback: discovery fails at once.
        issuer: 'http://127.0.0.1:9',
        clientId: 'beamscope',
        groupsClaim: 'groups',
        scopes: ['openid'],
        ...oidc,
      },
    },
    clusters: [],
    sourcePath: FILE,
  });

  it('stops on a client secret it cannot read, naming the file or variable, never a value', async () => {
    const refusal = async (oidc: Partial<OidcAccessConfig>, env: Record<string, string> = {}) => {
      const error = await startAccess(config(oidc), { HOSTNAME: '0.0.0.0', ...env }).then(
        () => new Error('expected a refusal'),
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(BeamscopeError);
      expect((error as BeamscopeError).exitCode).toBe(78);
      return (error as Error).message;
    };
    expect(await refusal({ clientSecretFile: '/nonexistent/oidc-secret' })).toBe(
      `${FILE}: access.mode oidc: cannot read the OIDC client secret file /nonexistent/oidc-secret (access.oidc.clientSecretFile): ENOENT`,
    );
    expect(await refusal({ clientSecretEnv: 'OIDC_SECRET' }, { OIDC_SECRET: '  \n' })).toBe(
      `${FILE}: access.mode oidc: the environment variable OIDC_SECRET (access.oidc.clientSecretEnv) is missing or empty`,
    );
  });

  it('starts with the provider down, says why once, and refuses to authorize without a session', async () => {
    const lines: string[] = [];
    const secret = 'a-client-secret-never-printed';
    const gate = await startAccess(
      config({ clientSecretEnv: 'OIDC_SECRET' }),
      { HOSTNAME: '0.0.0.0', OIDC_SECRET: secret },
      { log: (line) => lines.push(line) },
    );
    expect(gate.mode).toBe('oidc');
    expect(lines).toEqual([
      expect.stringMatching(
        /^beamscope: access: oidc: discovery at http:\/\/127\.0\.0\.1:9 failed: .+; sign-in is unavailable until it answers$/,
      ),
    ]);
    expect(lines.join('\n')).not.toContain(secret);
    const verdict = await gate.authorize({ headers: new Headers(), sessionCookie: undefined });
    expect(verdict).toMatchObject({ allowed: false, status: 401, code: 'auth_required' });
  });
});

describe("an OIDC session's Principal, the per-cluster rules, sign-out and audit", () => {
  const SECRET = Buffer.alloc(32, 9);
  const audited: string[] = [];
  beforeAll(() => setAuditSink((line) => audited.push(line)));
  afterAll(() => setAuditSink(undefined));
  const alice = {
    subject: 'oidc:alice@example.com',
    name: 'alice@example.com',
    groups: ['team-a'],
  };
  const bob = { subject: 'oidc:bob@example.com', name: 'bob@example.com', groups: ['team-b'] };

  const gate = new AccessGate(
    {
      mode: 'oidc',
      oidc: {
        // Nothing listens on port 9 (discard) on loopback: the provider is down.
        issuer: 'http://127.0.0.1:9',
        clientId: 'beamscope',
        clientSecretEnv: 'OIDC_SECRET',
        groupsClaim: 'groups',
        scopes: ['openid'],
      },
      clusters: {
        alpha: { groups: ['team-a'] },
        beta: { groups: ['team-b'] },
        ops: { users: ['bob@example.com'] },
      },
    },
    { env: { OIDC_SECRET: 'unit-client-secret' }, peerSecret: SECRET, log: () => undefined },
  );

  const principalOf = async (cookie: string | undefined) => {
    const verdict = await gate.authorize({ headers: new Headers(), sessionCookie: cookie });
    return verdict.allowed ? verdict.principal : verdict;
  };
  const seen = async (principal: Principal) => {
    const shown: string[] = [];
    for (const id of ['alpha', 'beta', 'ops', 'shop']) {
      if (await gate.mayViewCluster(principal, id)) shown.push(id);
    }
    return shown;
  };

  it('takes access.clusters rules in mode oidc', () => {
    const access = parseConfig(
      {
        clusters: [{ ...CLUSTERS.clusters[0]!, id: 'alpha' }, CLUSTERS.clusters[0]!],
        access: {
          mode: 'oidc',
          oidc: { issuer: ISSUER, clientId: 'beamscope', clientSecretEnv: 'S' },
          clusters: { alpha: { groups: ['team-a'] } },
        },
      },
      FILE,
    ).access;
    expect(access).toMatchObject({ mode: 'oidc', clusters: { alpha: { groups: ['team-a'] } } });
  });

  it('gives a request with a live session the Principal of its user, and the rules decide what it sees', async () => {
    expect(gate.signsIn).toBe(true);
    expect(gate.takesToken).toBe(false);
    const aliceCookie = gate.oidc!.startSession(alice);
    const bobCookie = gate.oidc!.startSession(bob);
    expect(await principalOf(aliceCookie)).toEqual(alice);
    expect(await principalOf(bobCookie)).toEqual(bob);
    expect(await seen(alice)).toEqual(['alpha', 'shop']);
    expect(await seen(bob)).toEqual(['beta', 'ops', 'shop']);
    // A user with no group (a claim of the wrong shape) sees only the clusters without a rule.
    expect(await seen({ subject: 'oidc:carol', name: 'carol', groups: [] })).toEqual(['shop']);
    expect(await principalOf(undefined)).toMatchObject({ allowed: false, status: 401 });
    // The token form is not mode oidc's sign-in.
    expect(await gate.signIn('unit-client-secret', '10.0.0.4')).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('signs out through the gate: the session ends at once, with one audit line', async () => {
    const cookie = gate.oidc!.startSession(alice);
    await gate.signOut(cookie, '10.0.0.5');
    expect(await principalOf(cookie)).toMatchObject({ allowed: false, status: 401 });
    expect(audited).toEqual([
      'beamscope: audit: action=sign-out outcome=allowed who=oidc:alice@example.com from=10.0.0.5',
    ]);
    // A second sign-out with the same cookie has no session to end: no line.
    await gate.signOut(cookie, '10.0.0.5');
    expect(audited).toHaveLength(1);
  });

  it("signs out from the page's form to the sign-in page when the provider cannot be asked", async () => {
    setAccessGate(gate);
    const cookie = gate.oidc!.startSession(bob);
    const ended = await handleSignOut(
      new Request('http://127.0.0.1:3000/api/session/end', {
        method: 'POST',
        headers: {
          host: '127.0.0.1:3000',
          'sec-fetch-site': 'same-origin',
          cookie: `__Host-beamscope-session=${cookie}`,
        },
      }),
      true,
    );
    expect(ended.status).toBe(303);
    expect(ended.headers.get('location')).toBe('/sign-in?out=1');
    expect(ended.headers.get('set-cookie')).toMatch(
      /^__Host-beamscope-session=; Path=\/; Max-Age=0;/,
    );
    expect(await principalOf(cookie)).toMatchObject({ allowed: false, status: 401 });
  });

  it('writes the groups of a sign-in on its audit line, quoted when they need it', () => {
    expect(
      formatAudit({
        who: 'oidc:bob@example.com',
        action: 'sign-in',
        outcome: 'allowed',
        from: '10.0.0.7',
        groups: ['team-b', 'viewers'],
      }),
    ).toBe(
      'beamscope: audit: action=sign-in outcome=allowed who=oidc:bob@example.com from=10.0.0.7 groups="team-b,viewers"',
    );
    expect(
      formatAudit({ who: 'oidc:c', action: 'sign-in', outcome: 'allowed', from: 'x', groups: [] }),
    ).toMatch(/ groups=-$/);
  });
});
