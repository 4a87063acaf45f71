import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium } from './support/browser';
import {
  startDashboard,
  startSandbox,
  type RunningDashboard,
  type RunningSandbox,
} from './support/app';
import {
  bindPodReader,
  createAccount,
  grantReviews,
  kubernetesModeConfig,
  sandboxNamespace,
  type Account,
} from './support/kubernetes-access';

/** The review cache of the server under test: short, so a revocation shows within the test. */
const CACHE_SECONDS = 2;

/**
 * access.mode kubernetes end to end: the production server against the emulated API's
 * TokenReview and SubjectAccessReview (beamscope granted them by the access-review component's
 * objects). Two people with different RoleBindings sign in with their own service account tokens
 * and see different clusters; a forbidden cluster is not found; a deleted RoleBinding is refused
 * within the cache time; sign-out ends the session; every step leaves an audit line, no token.
 */
describe('access mode kubernetes', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let browser: Browser;
  let namespace: string;
  let alice: Account;
  let bob: Account;
  const stops: Array<() => Promise<void>> = [];

  const api = async (
    path: string,
    headers: Record<string, string> = {},
    init: RequestInit = {},
  ) => {
    const response = await fetch(`${dashboard.url}${path}`, {
      ...init,
      headers,
      redirect: 'manual',
    });
    const text = await response.text();
    return { status: response.status, text, headers: response.headers };
  };
  const bearer = (account: Account) => ({ authorization: `Bearer ${account.token}` });
  const clusterIds = async (headers: Record<string, string>) => {
    const answer = await api('/api/clusters', headers);
    expect(answer.status).toBe(200);
    return (JSON.parse(answer.text) as { clusters: Array<{ id: string }> }).clusters.map(
      (cluster) => cluster.id,
    );
  };
  const signIn = async (account: Account): Promise<string> => {
    const answer = await api(
      '/api/session',
      { 'content-type': 'application/json' },
      { method: 'POST', body: JSON.stringify({ token: account.token }) },
    );
    expect(answer.status).toBe(204);
    return answer.headers.get('set-cookie')!.split(';')[0]!;
  };

  beforeAll(async () => {
    sandbox = await startSandbox(2);
    stops.push(() => sandbox.stop());
    namespace = await sandboxNamespace(sandbox);
    await grantReviews(sandbox);
    alice = await createAccount(sandbox, 'alice');
    bob = await createAccount(sandbox, 'bob');
    await bindPodReader(sandbox, namespace, 'alice-sandbox', 'alice');
    await bindPodReader(sandbox, 'staging', 'alice-staging', 'alice');
    await bindPodReader(sandbox, namespace, 'bob-sandbox', 'bob');
    dashboard = await startDashboard(await kubernetesModeConfig(sandbox, CACHE_SECONDS));
    stops.push(() => dashboard.stop());
    const chromium = await launchChromium();
    browser = chromium.browser;
    stops.push(chromium.close);
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('shows each user the clusters whose namespace they may read pods in; a forbidden one is not found', async () => {
    expect(await clusterIds(bearer(alice))).toEqual(['sandbox', 'staging']);
    expect(await clusterIds(bearer(bob))).toEqual(['sandbox']);

    // Every route of a forbidden cluster answers exactly as for one that does not exist.
    const missing = await api('/api/clusters/nope', bearer(bob));
    expect(missing.status).toBe(404);
    for (const path of [
      '',
      '/events',
      '/registries',
      '/registry?name=device-1',
      '/nodes/myapp%40127.0.0.2',
      '?at=2026-01-01T00:00:00Z',
      '/timeline?kind=node_down',
      '/history',
      '/nodes/myapp%40127.0.0.2/history',
    ]) {
      const answer = await api(`/api/clusters/staging${path}`, bearer(bob));
      expect(answer.status, path).toBe(404);
      expect(answer.text, path).toBe(missing.text.replace("'nope'", "'staging'"));
    }
    expect((await api('/api/clusters/staging', bearer(alice))).status).toBe(200);
    // The metrics hold only the visible clusters.
    expect((await api('/api/metrics', bearer(alice))).text).toContain('staging');
    expect((await api('/api/metrics', bearer(bob))).text).not.toContain('staging');

    // No token, or one no API server issued: refused before any cluster is named.
    expect((await api('/api/clusters')).status).toBe(401);
    const wrong = await api('/api/clusters', { authorization: 'Bearer not-issued-by-anyone-0000' });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text)).toMatchObject({ error: { code: 'auth_failed' } });
  });

  it('signs each user in through the form in Chromium, with their own list, and signs out', async () => {
    const bobs = await browser.newContext();
    const bobPage = await bobs.newPage();
    await bobPage.goto(dashboard.url);
    expect(new URL(bobPage.url()).pathname).toBe('/sign-in');
    await bobPage.getByText('Kubernetes token').waitFor();
    await bobPage.locator('input[name="token"]').fill('not-issued-by-anyone-0000');
    await bobPage.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => bobPage.getByTestId('sign-in-error').textContent())
      .toBe("no cluster's API server accepts that token");
    await bobPage.locator('input[name="token"]').fill(bob.token);
    await bobPage.getByRole('button', { name: 'Sign in' }).click();
    // Bob sees one cluster: the home page opens its dashboard.
    await bobPage.waitForURL(/\/clusters\/sandbox$/, { timeout: 15_000 });
    await bobPage.getByTestId('dashboard').waitFor({ timeout: 15_000 });
    // A forbidden cluster's page says what an unknown cluster's says (its data is the API's 404).
    await bobPage.goto(`${dashboard.url}/clusters/staging`);
    const banner = bobPage.getByTestId('load-error');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toContain("no cluster is configured with the id 'staging'");

    const alices = await browser.newContext();
    const alicePage = await alices.newPage();
    await alicePage.goto(`${dashboard.url}/sign-in`);
    await alicePage.locator('input[name="token"]').fill(alice.token);
    await alicePage.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() =>
        alicePage
          .getByTestId('cluster')
          .evaluateAll((items) => items.map((item) => item.getAttribute('data-cluster'))),
      )
      .toEqual(['sandbox', 'staging']);
    const [session] = await alices.cookies();
    expect(session).toMatchObject({
      name: '__Host-beamscope-session',
      httpOnly: true,
      secure: true,
    });
    expect(session!.value).toMatch(/^k1\./);
    expect(session!.value).not.toContain(alice.token);
    const cookie = `${session!.name}=${session!.value}`;
    expect(await clusterIds({ cookie })).toEqual(['sandbox', 'staging']);

    // Sign-out: back to the sign-in page, no cookie, and the old cookie is worth nothing.
    await alicePage.getByTestId('sign-out').click();
    await alicePage.getByTestId('signed-out').waitFor({ timeout: 15_000 });
    expect(new URL(alicePage.url()).pathname).toBe('/sign-in');
    expect(await alices.cookies()).toEqual([]);
    expect((await api('/api/clusters', { cookie })).status).toBe(401);
    await alicePage.goto(dashboard.url);
    expect(new URL(alicePage.url()).pathname).toBe('/sign-in');
    await alices.close();
    await bobs.close();
  }, 120_000);

  it('refuses a revoked RoleBinding within the cache time, and ends its open event stream', async () => {
    const cookie = await signIn(bob);
    expect((await api('/api/clusters/sandbox', { cookie })).status).toBe(200);
    const controller = new AbortController();
    const stream = await fetch(`${dashboard.url}/api/clusters/sandbox/events`, {
      headers: { cookie },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    let ended = false;
    void (async () => {
      try {
        for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) void chunk;
      } catch {
        // aborted at the end of the test
      }
      ended = true;
    })();

    await sandbox.control('DELETE', `/rbac/rolebindings/${namespace}/bob-sandbox`);
    // Past the cache time, the right is asked again and refused.
    await new Promise((resolve) => setTimeout(resolve, CACHE_SECONDS * 1000 + 500));
    expect((await api('/api/clusters/sandbox', { cookie })).status).toBe(404);
    expect(await clusterIds({ cookie })).toEqual([]);
    await expect.poll(() => ended, { timeout: 15_000 }).toBe(true);
    controller.abort();
    // The sandbox panel is for users who see every cluster: bob no longer does.
    const action = await api(
      '/api/sandbox',
      { cookie, 'content-type': 'application/json' },
      { method: 'POST', body: JSON.stringify({ action: 'heal' }) },
    );
    expect(action.status).toBe(404);
    // Given back, the right returns within the cache time too.
    await bindPodReader(sandbox, namespace, 'bob-sandbox', 'bob');
    await new Promise((resolve) => setTimeout(resolve, CACHE_SECONDS * 1000 + 500));
    expect(await clusterIds({ cookie })).toEqual(['sandbox']);
  }, 60_000);

  it('writes an audit line for each sign-in, refusal, sign-out and sandbox action, and never a token', async () => {
    const heal = await api(
      '/api/sandbox',
      { ...bearer(alice), 'content-type': 'application/json' },
      { method: 'POST', body: JSON.stringify({ action: 'heal' }) },
    );
    expect(heal.status).toBe(200);
    const lines = dashboard
      .output()
      .split('\n')
      .filter((line) => line.startsWith('beamscope: audit: '));
    const user = (name: string) => `kubernetes:system:serviceaccount:${namespace}:${name}`;
    expect(lines).toEqual(
      expect.arrayContaining([
        `beamscope: audit: action=sign-in outcome=allowed who=${user('bob')} from=127.0.0.1`,
        `beamscope: audit: action=sign-in outcome=allowed who=${user('alice')} from=127.0.0.1`,
        'beamscope: audit: action=sign-in outcome=refused who=unknown from=127.0.0.1 reason="a failed sign-in"',
        `beamscope: audit: action=sign-out outcome=allowed who=${user('alice')} from=127.0.0.1`,
        `beamscope: audit: action=view-cluster outcome=refused who=${user('bob')} from=127.0.0.1 target=staging`,
        // Refused before its body is read: the line names the user, not the action.
        `beamscope: audit: action=sandbox-action outcome=refused who=${user('bob')} from=127.0.0.1 reason=sandbox_unavailable`,
        `beamscope: audit: action=sandbox-action outcome=allowed who=${user('alice')} from=127.0.0.1 target=heal`,
      ]),
    );
    const output = dashboard.output();
    for (const token of [alice.token, bob.token, sandbox.token]) {
      expect(output).not.toContain(token);
    }
  });
});
