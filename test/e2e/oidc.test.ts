import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { launchChromium } from './support/browser';
import {
  freePort,
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
} from './support/app';
import { signInAtProvider, startOidcProvider, type RunningProvider } from './support/oidc-provider';

const SESSION_COOKIE = '__Host-beamscope-session';

/** Two users in different groups, and one whose provider sends the groups claim as a mapping. */
const USERS = {
  alice: { email: 'alice@example.com', groups: ['team-a'] },
  bob: { email: 'bob@example.com', groups: ['team-b', 'viewers'] },
  carol: { email: 'carol@example.com', groups: { admins: true } },
};

/**
 * Who sees which of the two clusters: `sandbox` (the sandbox's own) its team and the viewers,
 * and carol by name (her groups claim gives her no group); `staging` (the same Service in a
 * namespace beamscope may not read) team-b only. So alice sees sandbox, bob sees both.
 */
const CLUSTER_RULES = {
  sandbox: { groups: ['team-a', 'viewers'], users: ['carol@example.com'] },
  staging: { groups: ['team-b'] },
};

/**
 * `access.mode: oidc` end to end: a real OpenID provider (`oidc-provider`) on loopback, the
 * standalone server in oidc mode with two clusters and `access.clusters` rules, and Chromium
 * driving the provider's own login and consent pages. Identity and groups are read back from
 * `GET /api/session`; which clusters each user sees, from the pages and the API.
 */
describe('access mode oidc, against a real OpenID provider', () => {
  let sandbox: RunningSandbox;
  let provider: RunningProvider;
  let dashboard: RunningDashboard;
  let browser: Browser;
  const stops: Array<() => Promise<void>> = [];
  /** The signed-in browsers, by user. */
  const signedIn = new Map<string, { context: BrowserContext; page: Page; cookie: string }>();

  /** A request with a session cookie (or none), as a script would send it. */
  const call = (path: string, cookie?: string) =>
    fetch(`${dashboard.url}${path}`, {
      headers: cookie === undefined ? {} : { cookie: `${SESSION_COOKIE}=${cookie}` },
      redirect: 'manual',
    });

  /** From the dashboard's front door through the provider and back, in a fresh browser. */
  async function signIn(login: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(dashboard.url);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
    expect(new URL(page.url()).origin).toBe(provider.issuer);
    await signInAtProvider(page, login);
    return { context, page };
  }

  beforeAll(async () => {
    sandbox = await startSandbox(1);
    stops.push(() => sandbox.stop());
    const port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}`, USERS);
    stops.push(() => provider.stop());
    const folder = dirname(sandbox.config);
    const clientSecretFile = join(folder, 'oidc-client-secret');
    await writeFile(clientSecretFile, `${provider.clientSecret}\n`);
    const config = parse(await readFile(sandbox.config, 'utf8')) as {
      clusters: Array<Record<string, unknown>>;
    };
    const [first] = config.clusters;
    const configFile = join(folder, 'beamscope-oidc.yaml');
    await writeFile(
      configFile,
      stringify({
        ...config,
        clusters: [
          first,
          { ...first, id: 'staging', displayName: 'staging', namespace: 'staging' },
        ],
        access: {
          mode: 'oidc',
          oidc: {
            issuer: provider.issuer,
            clientId: provider.clientId,
            clientSecretFile,
            scopes: ['openid', 'email', 'groups'],
          },
          clusters: CLUSTER_RULES,
        },
      }),
    );
    dashboard = await startDashboard(configFile, port);
    stops.push(() => dashboard.stop());
    const chromium = await launchChromium();
    browser = chromium.browser;
    stops.push(chromium.close);
  });

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('sends a visitor without a session to the sign-in page, and the API answers 401', async () => {
    const page = await call('/clusters/sandbox');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/sign-in?next=%2Fclusters%2Fsandbox');
    const api = await call('/api/clusters');
    expect(api.status).toBe(401);
    expect(await api.json()).toEqual({
      error: {
        code: 'auth_required',
        message: 'sign in at /sign-in with your identity provider (access.mode is oidc)',
      },
    });
    expect((await call('/api/session')).status).toBe(401);
  });

  it('signs two users in through the provider in Chromium, each with their own groups', async () => {
    for (const [login, subject, groups] of [
      ['alice', 'oidc:alice@example.com', ['team-a']],
      ['bob', 'oidc:bob@example.com', ['team-b', 'viewers']],
    ] as const) {
      const { context, page } = await signIn(login);
      if (login === 'alice') {
        // One cluster to see: the home page opens its dashboard.
        await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
        expect(new URL(page.url()).pathname).toBe('/clusters/sandbox');
      } else {
        // Two: the home page lists them.
        await page.getByTestId('cluster').first().waitFor({ timeout: 30_000 });
        expect(new URL(page.url()).pathname).toBe('/');
      }
      const whoami = await page.evaluate(async () => (await fetch('/api/session')).json());
      expect(whoami).toEqual({ mode: 'oidc', subject, groups });
      // Cookies are per host, not per port: leave out the provider's own (on 127.0.0.1 too).
      const cookies = (await context.cookies(dashboard.url)).filter((cookie) =>
        cookie.name.startsWith('__Host-beamscope'),
      );
      // The transaction cookie is gone once used; the session cookie is token mode's.
      expect(cookies.map((cookie) => cookie.name)).toEqual([SESSION_COOKIE]);
      expect(cookies[0]).toMatchObject({
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
        path: '/',
      });
      expect(cookies[0]!.value).toMatch(/^v1\./);
      expect(await page.evaluate(() => document.cookie)).toBe('');
      signedIn.set(login, { context, page, cookie: cookies[0]!.value });
    }
    expect((await call('/api/clusters', signedIn.get('alice')!.cookie)).status).toBe(200);
    expect(dashboard.output()).toContain(
      'beamscope: audit: action=sign-in outcome=allowed who=oidc:alice@example.com from=127.0.0.1 groups=team-a',
    );
    expect(dashboard.output()).toContain(
      'beamscope: audit: action=sign-in outcome=allowed who=oidc:bob@example.com from=127.0.0.1 groups="team-b,viewers"',
    );
  }, 120_000);

  it("shows each user the clusters their groups allow; another's answers 404 on every route and its stream", async () => {
    const alice = signedIn.get('alice')!;
    const bob = signedIn.get('bob')!;
    // In Chromium: alice's dashboard offers one cluster, bob's home page lists two.
    await alice.page.goto(dashboard.url);
    await alice.page.waitForURL(/\/clusters\/sandbox$/, { timeout: 15_000 });
    await alice.page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
    await expect
      .poll(() =>
        alice.page
          .getByTestId('cluster-switcher')
          .locator('option')
          .evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value)),
      )
      .toEqual(['sandbox']);
    await bob.page.goto(dashboard.url);
    await expect
      .poll(() =>
        bob.page
          .getByTestId('cluster')
          .evaluateAll((items) => items.map((item) => item.getAttribute('data-cluster'))),
      )
      .toEqual(['sandbox', 'staging']);
    const listed = async (page: Page) =>
      page.evaluate(async () => {
        const answer = (await (await fetch('/api/clusters')).json()) as {
          clusters: Array<{ id: string }>;
        };
        return answer.clusters.map((cluster) => cluster.id);
      });
    expect(await listed(alice.page)).toEqual(['sandbox']);
    expect(await listed(bob.page)).toEqual(['sandbox', 'staging']);

    // Staging, to alice: every API route, the stream and the page answer as for no cluster at all.
    const status = (page: Page, path: string) =>
      page.evaluate(async (url) => {
        const controller = new AbortController();
        const answer = await fetch(url, { signal: controller.signal });
        const type = answer.headers.get('content-type') ?? '';
        // A stream never ends by itself: read no further than its headers.
        const text = type.startsWith('text/event-stream') ? '' : await answer.text();
        controller.abort();
        return { status: answer.status, type, text };
      }, path);
    const missing = await status(alice.page, '/api/clusters/nope');
    expect(missing.status).toBe(404);
    for (const path of [
      '',
      '/events',
      '/events/1',
      '/registries',
      '/registry?name=device-1',
      '/nodes/myapp%40127.0.0.2',
    ]) {
      const answer = await status(alice.page, `/api/clusters/staging${path}`);
      expect(answer.status, path).toBe(404);
      expect(answer.text, path).toBe(missing.text.replace("'nope'", "'staging'"));
    }
    const stream = await alice.page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const source = new EventSource('/api/clusters/staging/events');
          source.onopen = () => {
            source.close();
            resolve('open');
          };
          source.onerror = () => {
            source.close();
            resolve('refused');
          };
        }),
    );
    expect(stream).toBe('refused');
    // A forbidden cluster's page is an unknown cluster's: same status, and the API's 404 words.
    const unknown = await alice.page.goto(`${dashboard.url}/clusters/no-such-cluster`);
    const forbidden = await alice.page.goto(`${dashboard.url}/clusters/staging`);
    expect(forbidden?.status()).toBe(unknown?.status());
    const banner = alice.page.getByTestId('load-error');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toContain("no cluster is configured with the id 'staging'");
    // The same routes, to bob: there, and so is the stream.
    expect((await status(bob.page, '/api/clusters/staging')).status).toBe(200);
    expect(await status(bob.page, '/api/clusters/staging/events')).toMatchObject({
      status: 200,
      type: expect.stringMatching(/^text\/event-stream/),
    });
    expect((await call('/api/metrics', alice.cookie)).status).toBe(200);
    expect(await (await call('/api/metrics', alice.cookie)).text()).not.toContain('staging');
    expect(await (await call('/api/metrics', bob.cookie)).text()).toContain('staging');
    expect(dashboard.output()).toContain(
      'beamscope: audit: action=view-cluster outcome=refused who=oidc:alice@example.com from=127.0.0.1 target=staging',
    );
  }, 90_000);

  it('refuses a forged or altered session cookie', async () => {
    const genuine = signedIn.get('bob')!.cookie;
    const [version, id, expiry, mac] = genuine.split('.');
    const flipped = `${mac!.slice(0, -2)}${mac!.endsWith('AA') ? 'BB' : 'AA'}`;
    const forgeries = [
      `${version}.${id}.${expiry}.${flipped}`,
      `${version}.${id}.${Number(expiry) + 3_600_000}.${mac}`,
      `${version}.${'A'.repeat(id!.length)}.${expiry}.${mac}`,
      'v1.made-up.99999999999999.c2lnbmF0dXJl',
    ];
    for (const forged of forgeries) {
      expect((await call('/api/clusters', forged)).status, forged).toBe(401);
      expect((await call('/api/session', forged)).status, forged).toBe(401);
    }
    expect((await call('/api/clusters', genuine)).status).toBe(200);
  });

  it("signs out from the dashboard's button: the session ends at once, then at the provider, and other sessions live on", async () => {
    const { page, cookie } = signedIn.get('alice')!;
    await page.goto(`${dashboard.url}/clusters/sandbox`);
    await page.getByTestId('sign-out').click();
    // RP-initiated logout: the provider asks, then sends the browser back to the sign-in page.
    const confirm = page.getByRole('button', { name: 'Yes, sign me out' });
    await confirm.waitFor({ timeout: 15_000 }).catch(async (error: unknown) => {
      const shown = await page.locator('body').innerText();
      throw new Error(`no sign-out question at ${page.url()}: ${shown.slice(0, 500)}`, {
        cause: error,
      });
    });
    expect(new URL(page.url()).origin).toBe(provider.issuer);
    await confirm.click();
    await page.waitForURL(`${dashboard.url}/sign-in?out=1`, { timeout: 15_000 });
    await page.getByTestId('signed-out').waitFor();
    expect(
      (await page.context().cookies(dashboard.url)).filter((c) => c.name.startsWith('__Host-')),
    ).toEqual([]);
    // The old cookie, replayed: refused.
    expect((await call('/api/clusters', cookie)).status).toBe(401);
    expect((await call('/api/session', cookie)).status).toBe(401);
    // The provider's session ended too: signing in again asks for the login.
    await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
    await page.locator('input[name="login"]').waitFor({ timeout: 15_000 });
    // Bob is still signed in.
    expect((await call('/api/clusters', signedIn.get('bob')!.cookie)).status).toBe(200);
    expect(dashboard.output()).toContain(
      'beamscope: audit: action=sign-out outcome=allowed who=oidc:alice@example.com from=127.0.0.1',
    );
  }, 60_000);

  it('refuses an ID token signed with a key the provider never published, and an expired one', async () => {
    for (const [tampering, reason] of [
      ['foreign-key', /signature/i],
      ['expired', /"exp"|expir/i],
    ] as const) {
      provider.tamper(tampering);
      try {
        const before = dashboard.output().length;
        const { context, page } = await signIn('alice');
        await page.waitForURL(/\/sign-in\?/, { timeout: 15_000 });
        const url = new URL(page.url());
        expect(url.searchParams.get('error'), tampering).toBe('oidc_failed');
        await expect
          .poll(() => page.getByTestId('sign-in-error').textContent())
          .toContain('could not be completed');
        expect(
          (await context.cookies(dashboard.url))
            .map((cookie) => cookie.name)
            .filter((name) => name.startsWith('__Host-')),
          tampering,
        ).toEqual([]);
        const lines = dashboard
          .output()
          .slice(before)
          .split('\n')
          .filter((line) => line.startsWith('beamscope: audit: action=sign-in'));
        expect(lines, tampering).toEqual([
          expect.stringMatching(
            /^beamscope: audit: action=sign-in outcome=refused who=unknown from=127\.0\.0\.1 reason=/,
          ),
        ]);
        expect(lines[0], tampering).toMatch(reason);
        await context.close();
      } finally {
        provider.tamper('honest');
      }
    }
  }, 90_000);

  it('refuses a callback this browser did not start, and a replayed one', async () => {
    const before = dashboard.output().length;
    const forged = await call('/api/session/oidc/callback?code=stolen-code&state=guessed');
    expect(forged.status).toBe(303);
    expect(forged.headers.get('location')).toBe('/sign-in?next=%2F&error=oidc_failed');
    expect(forged.headers.getSetCookie().some((line) => line.startsWith(SESSION_COOKIE))).toBe(
      false,
    );
    expect(dashboard.output().slice(before)).toContain(
      'beamscope: audit: action=sign-in outcome=refused who=unknown from=127.0.0.1 reason="no OIDC sign-in under way in this browser',
    );
  });

  it('gives a user whose groups claim is not a list no group, and says why in the log', async () => {
    const { context, page } = await signIn('carol');
    // No group, but a rule names her: she sees that cluster only.
    await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe('/clusters/sandbox');
    const whoami = await page.evaluate(async () => (await fetch('/api/session')).json());
    expect(whoami).toEqual({ mode: 'oidc', subject: 'oidc:carol@example.com', groups: [] });
    expect(dashboard.output()).toContain(
      'beamscope: access: oidc: oidc:carol@example.com: the claim groups is a mapping, not a list of group names; the user is given no group',
    );
    await context.close();
  }, 60_000);

  it('never prints the client secret or a token the provider issued', () => {
    const output = dashboard.output();
    expect(provider.issued.idTokens.length).toBeGreaterThanOrEqual(5);
    expect(provider.issued.accessTokens.length).toBeGreaterThanOrEqual(5);
    for (const secret of [
      provider.clientSecret,
      ...provider.issued.idTokens,
      ...provider.issued.accessTokens,
    ]) {
      expect(output).not.toContain(secret);
    }
  });
});
