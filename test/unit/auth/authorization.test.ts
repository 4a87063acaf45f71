import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatAudit, setAuditSink } from '@/server/auth/audit';
import { AccessGate } from '@/server/auth/gate';
import { KubernetesAccess, KubernetesSessions } from '@/server/auth/kubernetes-access';
import { ReviewError, type ReviewApi } from '@/server/auth/kubernetes-review';
import { PEER_HEADER, PEER_PROOF_HEADER } from '@/server/auth/peer';
import type { KubernetesUser } from '@/server/auth/principal';
import { FailureLimiter } from '@/server/auth/rate-limit';
import { parseConfig } from '@/server/config';

import { createHmac } from 'node:crypto';

const FILE = '/etc/beamscope/beamscope.yaml';
const audited: string[] = [];
beforeAll(() => setAuditSink((line) => audited.push(line)));
afterAll(() => setAuditSink(undefined));
const SECRET = Buffer.alloc(32, 7);
const cluster = (id: string) => ({
  id,
  discovery: { service: id },
  nodeNaming: { basename: id },
  distribution: { cookieEnv: 'COOKIE' },
});

function messageOf(data: unknown): string {
  try {
    parseConfig(data, FILE);
  } catch (error) {
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a refusal');
}

function fromPeer(address: string, extra: Record<string, string> = {}): Headers {
  const headers = new Headers(extra);
  headers.set(PEER_HEADER, address);
  headers.set(
    PEER_PROOF_HEADER,
    createHmac('sha256', SECRET).update(`peer\0${address}`).digest('base64url'),
  );
  return headers;
}

describe('access.clusters and mode kubernetes in the configuration', () => {
  const proxy = { header: 'X-Forwarded-User', trustedProxies: ['127.0.0.1'] };

  it('takes per-cluster rules in mode proxy, and mode kubernetes with its cache time', () => {
    const config = parseConfig(
      {
        clusters: [cluster('shop'), cluster('billing')],
        access: {
          mode: 'proxy',
          proxy: { ...proxy, groupsHeader: 'X-Forwarded-Groups' },
          clusters: { billing: { groups: ['finance'], users: ['ada'] } },
        },
      },
      FILE,
    );
    expect(config.access).toEqual({
      mode: 'proxy',
      proxy: { ...proxy, groupsHeader: 'X-Forwarded-Groups' },
      clusters: { billing: { groups: ['finance'], users: ['ada'] } },
    });
    expect(
      parseConfig({ clusters: [cluster('shop')], access: { mode: 'kubernetes' } }, FILE).access,
    ).toEqual({ mode: 'kubernetes', kubernetes: { cacheSeconds: 60 } });
    expect(
      parseConfig(
        {
          clusters: [cluster('shop')],
          access: { mode: 'kubernetes', kubernetes: { cacheSeconds: 5 } },
        },
        FILE,
      ).access,
    ).toEqual({ mode: 'kubernetes', kubernetes: { cacheSeconds: 5 } });
  });

  it('refuses, in one line naming the field, a rule for no cluster, an empty rule, or rules where they cannot apply', () => {
    const base = { clusters: [cluster('shop')] };
    expect(
      messageOf({
        ...base,
        access: { mode: 'proxy', proxy, clusters: { shpo: { users: ['a'] } } },
      }),
    ).toBe(`${FILE}: access.clusters.shpo: no cluster has the id "shpo" (expected one of shop)`);
    expect(messageOf({ ...base, access: { mode: 'proxy', proxy, clusters: { shop: {} } } })).toBe(
      `${FILE}: access.clusters.shop: expected users or groups (a rule that names no one would hide the cluster from all)`,
    );
    expect(
      messageOf({
        ...base,
        access: { mode: 'token', tokenEnv: 'T', clusters: { shop: { users: ['a'] } } },
      }),
    ).toBe(
      `${FILE}: access.clusters: applies to modes whose users have a name and groups (proxy, oidc), not token`,
    );
    expect(
      messageOf({ ...base, access: { mode: 'kubernetes', clusters: { shop: { users: ['a'] } } } }),
    ).toMatch(/^.*: access\.clusters: does not apply to mode kubernetes: RBAC decides/);
    expect(
      messageOf({ ...base, access: { mode: 'kubernetes', kubernetes: { cacheSeconds: 0 } } }),
    ).toBe(`${FILE}: access.kubernetes.cacheSeconds: expected from 1 to 600 seconds (got 0)`);
    expect(messageOf({ ...base, access: { mode: 'token', tokenEnv: 'T', kubernetes: {} } })).toBe(
      `${FILE}: access.kubernetes: applies to mode kubernetes only (mode is token)`,
    );
  });
});

describe('audit lines', () => {
  it('name who, what, the outcome and where from, one line whatever the names hold', () => {
    expect(
      formatAudit({ who: 'proxy:ada', action: 'sign-in', outcome: 'allowed', from: '10.0.0.1' }),
    ).toBe('beamscope: audit: action=sign-in outcome=allowed who=proxy:ada from=10.0.0.1');
    const forged = formatAudit({
      who: 'proxy:eve outcome=allowed\nbeamscope: audit: action=sign-in',
      action: 'view-cluster',
      outcome: 'refused',
      from: 'unknown',
      target: 'billing',
    });
    expect(forged).not.toContain('\n');
    expect(forged).toBe(
      'beamscope: audit: action=view-cluster outcome=refused who="proxy:eve outcome=allowed\\nbeamscope: audit: action=sign-in" from=unknown target=billing',
    );
  });
});

describe('per-cluster rules (mode proxy)', () => {
  const gate = new AccessGate(
    {
      mode: 'proxy',
      proxy: {
        header: 'X-Forwarded-User',
        groupsHeader: 'X-Forwarded-Groups',
        trustedProxies: ['10.0.0.1'],
      },
      clusters: { billing: { groups: ['finance'] }, ops: { users: ['ada'] } },
    },
    { peerSecret: SECRET },
  );

  const principalOf = async (user: string, groups?: string) => {
    const verdict = await gate.authorize({
      headers: fromPeer('10.0.0.1', {
        'x-forwarded-user': user,
        ...(groups ? { 'x-forwarded-groups': groups } : {}),
      }),
      sessionCookie: undefined,
    });
    if (!verdict.allowed) throw new Error(verdict.message);
    return verdict.principal;
  };

  it('shows a cluster without a rule to everyone, one with a rule to its users and groups only', async () => {
    const ada = await principalOf('ada', 'dev, ops ,');
    expect(ada).toEqual({ subject: 'proxy:ada', name: 'ada', groups: ['dev', 'ops'] });
    const bob = await principalOf('bob', 'finance');
    const see = async (principal: typeof ada) => {
      const shown: string[] = [];
      for (const id of ['shop', 'billing', 'ops']) {
        if (await gate.mayViewCluster(principal, id)) shown.push(id);
      }
      return shown;
    };
    expect(await see(ada)).toEqual(['shop', 'ops']);
    expect(await see(bob)).toEqual(['shop', 'billing']);
    // A rule named like an Object.prototype member is no rule.
    expect(await gate.mayViewCluster(bob, 'constructor')).toBe(true);
    // Another address claiming to be the proxy: refused, and audited.
    const forged = await gate.authorize({
      headers: fromPeer('10.9.9.9', { 'x-forwarded-user': 'ada' }),
      sessionCookie: undefined,
    });
    expect(forged).toMatchObject({ allowed: false, status: 403 });
    expect(audited).toContain(
      'beamscope: audit: action=request outcome=refused who=unknown from=10.9.9.9 reason="not a trusted proxy"',
    );
  });
});

describe('sign-out in mode token', () => {
  it('refuses the session from then on, even a copy of its cookie', async () => {
    const gate = new AccessGate(
      { mode: 'token', tokenEnv: 'T' },
      { env: { T: 'unit-access-token-0123456789' }, peerSecret: SECRET, log: () => undefined },
    );
    const signedIn = await gate.signIn('unit-access-token-0123456789', '10.0.0.2');
    const cookie = signedIn.ok ? signedIn.cookie : '';
    const request = { headers: fromPeer('10.0.0.2'), sessionCookie: cookie };
    expect((await gate.authorize(request)).allowed).toBe(true);
    await gate.signOut(cookie, '10.0.0.2');
    expect(await gate.authorize(request)).toMatchObject({ allowed: false, status: 401 });
  });
});

/** A review API over a table of tokens and grants, which a test changes as RBAC would. */
function tableApi(server: string) {
  const users = new Map<string, KubernetesUser>();
  const grants = new Set<string>();
  let failing: ReviewError | undefined;
  const calls = { token: 0, access: 0 };
  const api: ReviewApi = {
    server,
    async reviewToken(token) {
      calls.token += 1;
      if (failing) throw failing;
      return users.get(token);
    },
    async mayAccess(user, verb, resource, namespace) {
      calls.access += 1;
      if (failing) throw failing;
      return grants.has(`${user.username} ${verb} ${resource} ${namespace}`);
    },
  };
  return {
    api,
    users,
    grants,
    calls,
    fail: (error: ReviewError | undefined) => (failing = error),
  };
}

describe('mode kubernetes', () => {
  const ALICE = 'alice-token-0123456789abcdef';
  let now = 0;
  const lines: string[] = [];
  const table = tableApi('https://api.example:6443');
  table.users.set(ALICE, { username: 'alice', groups: ['devs'] });
  table.grants.add('alice get pods shop');
  const access = new KubernetesAccess(
    new Map([
      ['shop', { api: table.api, namespace: 'shop' }],
      ['billing', { api: table.api, namespace: 'billing' }],
    ]),
    10_000,
    () => now,
    (line) => lines.push(line),
  );
  const gate = new AccessGate(
    { mode: 'kubernetes', kubernetes: { cacheSeconds: 10 } },
    {
      peerSecret: SECRET,
      limiter: new FailureLimiter(3, 60_000),
      log: (line) => lines.push(line),
      kubernetes: { access, sessions: new KubernetesSessions(60_000, () => now) },
    },
  );

  it('signs in with a token an API server accepts, into a session whose cookie is not the token', async () => {
    expect(gate.signsIn).toBe(true);
    const refused = await gate.signIn('not-a-token', '10.0.0.3');
    expect(refused).toEqual({
      ok: false,
      status: 401,
      message: "no cluster's API server accepts that token",
    });
    const signedIn = await gate.signIn(ALICE, '10.0.0.3');
    expect(signedIn.ok).toBe(true);
    const cookie = signedIn.ok ? signedIn.cookie : '';
    expect(cookie).toMatch(/^k1\.[A-Za-z0-9_-]{43}$/);
    expect(cookie).not.toContain(ALICE);
    const verdict = await gate.authorize({ headers: fromPeer('10.0.0.3'), sessionCookie: cookie });
    expect(verdict).toMatchObject({
      allowed: true,
      principal: { subject: 'kubernetes:alice', name: 'alice', groups: ['devs'] },
    });
    if (!verdict.allowed) return;
    expect(await gate.mayViewCluster(verdict.principal, 'shop')).toBe(true);
    expect(await gate.mayViewCluster(verdict.principal, 'billing')).toBe(false);
    expect(await gate.mayViewCluster(verdict.principal, 'nope')).toBe(false);

    // Cached: a burst of requests asks the API server once per cache time.
    const before = { ...table.calls };
    for (let index = 0; index < 5; index += 1) {
      await gate.authorize({ headers: fromPeer('10.0.0.3'), sessionCookie: cookie });
      await gate.mayViewCluster(verdict.principal, 'shop');
    }
    expect(table.calls).toEqual(before);

    // A revoked grant is refused once the cache time has passed, not before.
    table.grants.delete('alice get pods shop');
    now += 9_999;
    expect(await gate.mayViewCluster(verdict.principal, 'shop')).toBe(true);
    now += 1;
    expect(await gate.mayViewCluster(verdict.principal, 'shop')).toBe(false);

    // Sign-out ends the session on the server.
    await gate.signOut(cookie, '10.0.0.3');
    expect(
      await gate.authorize({ headers: fromPeer('10.0.0.3'), sessionCookie: cookie }),
    ).toMatchObject({ allowed: false, status: 401, code: 'auth_required' });
    expect(lines.join('\n')).not.toContain(ALICE);
    expect(audited).toEqual(
      expect.arrayContaining([
        'beamscope: audit: action=sign-in outcome=refused who=unknown from=10.0.0.3 reason="a failed sign-in"',
        'beamscope: audit: action=sign-in outcome=allowed who=kubernetes:alice from=10.0.0.3',
        'beamscope: audit: action=sign-out outcome=allowed who=kubernetes:alice from=10.0.0.3',
      ]),
    );
    expect(audited.join('\n')).not.toContain(ALICE);
  });

  it('takes the token as a Bearer, rate limits wrong ones, and fails closed when the API server cannot answer', async () => {
    const bearer = (token: string, from = '10.0.0.4') =>
      gate.authorize({
        headers: fromPeer(from, { authorization: `Bearer ${token}` }),
        sessionCookie: undefined,
      });
    expect(await bearer(ALICE)).toMatchObject({ allowed: true });
    for (let index = 0; index < 3; index += 1) {
      expect(await bearer('wrong-token-zzzz', '10.0.0.5')).toMatchObject({
        allowed: false,
        status: 401,
        code: 'auth_failed',
      });
    }
    expect(await bearer(ALICE, '10.0.0.5')).toMatchObject({ allowed: false, status: 429 });

    now += 10_000;
    table.fail(
      new ReviewError(
        'the API server at https://api.example:6443 answered 403 to a TokenReview',
        403,
      ),
    );
    expect(await bearer(ALICE, '10.0.0.6')).toMatchObject({
      allowed: false,
      status: 503,
      code: 'access_unavailable',
    });
    expect(await gate.signIn(ALICE, '10.0.0.6')).toMatchObject({ ok: false, status: 503 });
    // Logged once, however often it happens.
    expect(lines.filter((line) => line.includes('answered 403'))).toHaveLength(1);
    table.fail(undefined);
    expect(await bearer(ALICE, '10.0.0.6')).toMatchObject({ allowed: true });
    expect(lines.join('\n')).not.toContain(ALICE);
  });
});

describe('KubernetesSessions', () => {
  it('expire, end on sign-out, and take no cookie of another shape', () => {
    let now = 0;
    const sessions = new KubernetesSessions(1000, () => now);
    const cookie = sessions.issue('a-token');
    expect(sessions.token(cookie)).toBe('a-token');
    expect(sessions.token(`${cookie}x`)).toBeUndefined();
    expect(sessions.token('v1.abc.1.x')).toBeUndefined();
    now = 1000;
    expect(sessions.token(cookie)).toBeUndefined();
    const other = sessions.issue('b-token');
    expect(sessions.end(other)).toBe(true);
    expect(sessions.token(other)).toBeUndefined();
    expect(sessions.end(other)).toBe(false);
  });
});

describe('the sign-out route', () => {
  it("takes the page's own form (Origin null under no-referrer) and refuses another site", async () => {
    const { setAccessGate } = await import('@/server/auth/gate');
    const { handleSignOut } = await import('@/server/auth/sign-in');
    const gate = new AccessGate(
      { mode: 'token', tokenEnv: 'T' },
      { env: { T: 'unit-access-token-0123456789' }, peerSecret: SECRET, log: () => undefined },
    );
    setAccessGate(gate);
    const signedIn = await gate.signIn('unit-access-token-0123456789', '10.0.0.9');
    const cookie = signedIn.ok ? signedIn.cookie : '';
    const post = (site: string) =>
      handleSignOut(
        new Request('http://beamscope.test/api/session/end', {
          method: 'POST',
          headers: {
            origin: 'null',
            'sec-fetch-site': site,
            cookie: `__Host-beamscope-session=${cookie}`,
          },
        }),
        true,
      );
    const refused = await post('cross-site');
    expect(refused.status).toBe(403);
    const request = { headers: fromPeer('10.0.0.9'), sessionCookie: cookie };
    expect((await gate.authorize(request)).allowed).toBe(true);
    const ended = await post('same-origin');
    expect(ended.status).toBe(303);
    expect(ended.headers.get('location')).toBe('/sign-in?out=1');
    expect(ended.headers.get('set-cookie')).toMatch(
      /^__Host-beamscope-session=; Path=\/; Max-Age=0;/,
    );
    expect((await gate.authorize(request)).allowed).toBe(false);
  });
});
