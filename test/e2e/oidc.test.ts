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
 * `access.mode: oidc` end to end: a real OpenID provider (`oidc-provider`) on loopback, the
 * standalone server in oidc mode, and Chromium driving the provider's own login and consent
 * pages. Identity and groups are read back from `GET /api/session`.
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
    const config = parse(await readFile(sandbox.config, 'utf8')) as Record<string, unknown>;
    const configFile = join(folder, 'beamscope-oidc.yaml');
    await writeFile(
      configFile,
      stringify({
        ...config,
        access: {
          mode: 'oidc',
          oidc: {
            issuer: provider.issuer,
            clientId: provider.clientId,
            clientSecretFile,
            scopes: ['openid', 'email', 'groups'],
          },
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
      await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
      expect(new URL(page.url()).pathname).toBe('/clusters/sandbox');
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
      'beamscope: audit: sign-in oidc:alice@example.com (groups: team-a) from 127.0.0.1',
    );
    expect(dashboard.output()).toContain(
      'beamscope: audit: sign-in oidc:bob@example.com (groups: team-b, viewers) from 127.0.0.1',
    );
  }, 120_000);

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

  it('signs out: the session ends at once, then at the provider, and other sessions live on', async () => {
    const { page, cookie } = signedIn.get('alice')!;
    await page.goto(`${dashboard.url}/sign-out`);
    await page.getByRole('button', { name: 'Sign out' }).click();
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
    await page.waitForURL(`${dashboard.url}/sign-in`, { timeout: 15_000 });
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
      'beamscope: audit: sign-out oidc:alice@example.com from 127.0.0.1',
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
          .filter((line) => line.startsWith('beamscope: audit: sign-in'));
        expect(lines, tampering).toEqual([
          expect.stringMatching(/^beamscope: audit: sign-in refused from 127\.0\.0\.1: /),
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
      'beamscope: audit: sign-in refused from 127.0.0.1: no OIDC sign-in under way in this browser',
    );
  });

  it('gives a user whose groups claim is not a list no group, and says why in the log', async () => {
    const { context, page } = await signIn('carol');
    await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
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
