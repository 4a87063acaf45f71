import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { DashboardPage } from './pages/dashboard-page';
import { launchChromium } from './support/browser';
import {
  freePort,
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
import { signInAtProvider, startOidcProvider, type RunningProvider } from './support/oidc-provider';

const root = join(import.meta.dirname, '..', '..');
/** The server under test, and beside it the client bundle it serves. */
const serverJs = process.env.BEAMSCOPE_SERVER_JS ?? join(root, '.next/standalone/server.js');
const NODE = /myapp@10\.244\.0\.\d+/g;

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The forms a secret could leak in: as is, and base64-encoded (a cookie, a JSON blob). */
const forms = (secret: string) => [
  secret,
  Buffer.from(secret).toString('base64'),
  Buffer.from(secret).toString('base64url'),
];

/**
 * Secret hygiene (issue 8, item 3): the server runs in access mode `token` (the token read from a
 * file, as from a mounted Secret), the whole sandbox scenario runs through the API with the
 * token and through Chromium with a signed-in session, and every API answer (refusals included),
 * a stretch of the SSE stream, the rendered pages, the DOM, the server's output and the built
 * client bundle are scanned for the Erlang cookie, the access token and the session cookie.
 */
describe('the Erlang cookie and the access token never leave the server', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  const stops: Array<() => Promise<void>> = [];
  let page: Page;
  let view: DashboardPage;
  let cookie: string;
  const token = `secret-scan-${randomBytes(18).toString('base64url')}`;
  let session = '';
  const auth = () => ({ authorization: `Bearer ${token}` });
  /** What was collected, by where it came from. */
  const corpus = new Map<string, string>();

  const add = (source: string, text: string) => {
    corpus.set(source, (corpus.get(source) ?? '') + text);
  };

  const get = async (path: string): Promise<string> => {
    const response = await fetch(`${dashboard.url}${path}`, { headers: auth() });
    const text = await response.text();
    add(`GET ${path}`, `${response.status} ${JSON.stringify([...response.headers])}\n${text}`);
    return text;
  };

  const post = async (path: string, body: unknown): Promise<string> => {
    const response = await fetch(`${dashboard.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    add(`POST ${path}`, `${response.status} ${JSON.stringify([...response.headers])}\n${text}`);
    return text;
  };

  /** Reads the cluster's SSE stream for `ms` milliseconds. */
  const readEvents = async (ms: number): Promise<void> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ms);
    let text = '';
    try {
      const response = await fetch(`${dashboard.url}/api/clusters/sandbox/events`, {
        headers: auth(),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted: the stretch is over
    } finally {
      clearTimeout(timer);
    }
    add('SSE /api/clusters/sandbox/events', text);
  };

  /** Every API answer once, with each node the cluster answer names. */
  const collectApi = async (): Promise<void> => {
    await get('/api/healthz');
    await get('/api/clusters');
    await get('/api/metrics');
    await get('/api/sandbox');
    const cluster = await get('/api/clusters/sandbox');
    for (const node of new Set(cluster.match(NODE) ?? [])) {
      await get(`/api/clusters/sandbox/nodes/${encodeURIComponent(node)}`);
    }
    await get('/api/clusters/sandbox/registry?name=device-00042');
    await get('/api/clusters/sandbox/registry?name=no-such-name-anywhere');
  };

  const nodesInCluster = async (): Promise<number> => {
    const text = await (
      await fetch(`${dashboard.url}/api/clusters/sandbox`, { headers: auth() })
    ).text();
    return new Set(text.match(NODE) ?? []).size;
  };

  const pods = () => sandbox.pods();

  beforeAll(async () => {
    sandbox = await startSandbox(3);
    stops.push(() => sandbox.stop());
    const folder = dirname(sandbox.config);
    cookie = (await readFile(join(folder, 'cookie'), 'utf8')).trim();
    const tokenFile = join(folder, 'access-token');
    await writeFile(tokenFile, `${token}\n`);
    const config = parse(await readFile(sandbox.config, 'utf8')) as Record<string, unknown>;
    const configFile = join(folder, 'beamscope-token.yaml');
    await writeFile(configFile, stringify({ ...config, access: { mode: 'token', tokenFile } }));
    dashboard = await startDashboard(configFile);
    stops.push(() => dashboard.stop());
    const { browser, close } = await launchChromium();
    stops.push(close);
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    view = new DashboardPage(page);
  });

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('runs the sandbox scenario and collects everything a client or a log could see', async () => {
    expect(cookie.length).toBeGreaterThanOrEqual(8);
    // Refusals and the sign-in page, before any credentials.
    for (const path of ['/api/clusters', '/api/clusters/sandbox/events', '/api/sandbox']) {
      const response = await fetch(`${dashboard.url}${path}`);
      add(`GET ${path} (no token)`, `${response.status}\n${await response.text()}`);
    }
    const wrong = await fetch(`${dashboard.url}/api/clusters`, {
      headers: { authorization: `Bearer ${token.slice(0, -2)}xx` },
    });
    add('GET /api/clusters (wrong token)', `${wrong.status}\n${await wrong.text()}`);

    // Sign in through the form, as an operator does.
    await page.goto(dashboard.url);
    add('sign-in page', await page.content());
    await page.locator('input[name="token"]').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
    session = (await page.context().cookies())[0]?.value ?? '';
    await view.open(dashboard.url);
    await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
    await collectApi();

    // Scale up: a fourth node joins.
    await sandbox.control('POST', '/scale', { replicas: 4 });
    await expect.poll(nodesInCluster, { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
    await collectApi();

    // Kill a node; the sandbox restarts it after a back-off.
    const victim = (await pods()).find((pod) => pod.ip === '10.244.0.3')!;
    await sandbox.control('POST', `/pods/${victim.name}/kill`);
    await readEvents(4000);
    await collectApi();

    // Partition, then heal.
    const all = await pods();
    const names = (ips: string[]) => all.filter((pod) => ips.includes(pod.ip)).map((p) => p.name);
    await sandbox.control('POST', '/partition', {
      sides: [names(['10.244.0.2', '10.244.0.3']), names(['10.244.0.4', '10.244.0.5'])],
    });
    await readEvents(3000);
    await collectApi();
    await sandbox.control('POST', '/heal');
    await readEvents(3000);

    // A registry lookup through the UI.
    const matches = await view.lookup('device-00042');
    await expect.poll(() => matches.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);

    // A miscookie through the dashboard's own sandbox route, then the cookie restored.
    const odd = all.find((pod) => pod.ip === '10.244.0.5')!;
    await post('/api/sandbox', { action: 'miscookie', pod: odd.name });
    await readEvents(4000);
    await collectApi();
    await post('/api/sandbox', { action: 'miscookie', pod: odd.name, restore: true });
    await post('/api/sandbox', { action: 'no-such-action' });
    await readEvents(2000);
    await collectApi();

    // The rendered pages as served, and the DOM after all of it.
    await get('/');
    await get('/clusters/sandbox');
    await get('/sign-in');
    add('DOM text', await page.locator('body').innerText());
    add('DOM html', await page.content());

    // Everything the server printed, and the client bundle.
    add('server output', dashboard.output());
    for (const file of await filesUnder(join(dirname(serverJs), '.next', 'static'))) {
      add(`bundle ${file}`, await readFile(file, 'utf8'));
    }
  }, 120_000);

  it('found the cookie, the token and the session nowhere', () => {
    const size = [...corpus.values()].reduce((total, text) => total + text.length, 0);
    console.info(
      `secret scan: ${corpus.size} sources, ${size} characters, cookie ${cookie.length} chars, token ${token.length} chars`,
    );
    // Not vacuous: the secrets are real, the corpus large and about this cluster, and it was
    // collected signed in (the API answered, the dashboard rendered).
    expect(cookie).toMatch(/^\S+$/);
    expect(session).toMatch(/^v1\./);
    expect(corpus.get('GET /api/clusters (no token)')).toMatch(/^401\n/);
    expect(corpus.get('GET /api/clusters (wrong token)')).toMatch(/^401\n/);
    expect(corpus.get('sign-in page')).toContain('Access token');
    expect(corpus.size).toBeGreaterThan(25);
    expect(size).toBeGreaterThan(500_000);
    const api = [...corpus].filter(([source]) => source.startsWith('GET /api'));
    expect(api.map(([, text]) => text).join('\n')).toContain('myapp@10.244.0.2');
    expect(corpus.get('SSE /api/clusters/sandbox/events')).toContain('myapp@10.244.0.');
    expect(corpus.get('DOM text')).toContain('myapp@10.244.0.2');
    expect(corpus.get('GET /clusters/sandbox')).toContain('<html');
    expect([...corpus.keys()].some((source) => source.startsWith('bundle '))).toBe(true);

    const secrets = { cookie, token, session };
    const leaks = Object.entries(secrets).flatMap(([name, secret]) =>
      [...corpus]
        .filter(([, text]) => forms(secret).some((form) => text.includes(form)))
        .map(([source]) => `${name} in ${source}`),
    );
    expect(leaks).toEqual([]);
  });
});

/**
 * The same scan in access mode kubernetes: a user's own Kubernetes token (as a Bearer and through
 * the sign-in form), beamscope's service account token (which makes the TokenReviews — whose
 * answers echo the token reviewed), the session cookie and the Erlang cookie appear in no
 * response, page, log or bundle, refusals and sign-out included.
 */
describe('Kubernetes tokens never leave the server', () => {
  let sandbox: RunningSandbox;
  let dashboard: RunningDashboard;
  let alice: Account;
  let cookie: string;
  let session = '';
  const stops: Array<() => Promise<void>> = [];
  const corpus = new Map<string, string>();
  const add = (source: string, text: string) => {
    corpus.set(source, (corpus.get(source) ?? '') + text);
  };
  const get = async (path: string, headers: Record<string, string>, label = path) => {
    const response = await fetch(`${dashboard.url}${path}`, { headers, redirect: 'manual' });
    add(
      `GET ${label}`,
      `${response.status} ${JSON.stringify([...response.headers])}\n${await response.text()}`,
    );
  };

  beforeAll(async () => {
    sandbox = await startSandbox(2);
    stops.push(() => sandbox.stop());
    cookie = (await readFile(join(dirname(sandbox.config), 'cookie'), 'utf8')).trim();
    await grantReviews(sandbox);
    alice = await createAccount(sandbox, 'alice');
    await bindPodReader(sandbox, await sandboxNamespace(sandbox), 'alice-sandbox', 'alice');
    dashboard = await startDashboard(await kubernetesModeConfig(sandbox, 60));
    stops.push(() => dashboard.stop());
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('collects every answer, page and log line of a sign-in, a session and a sign-out', async () => {
    const bearer = { authorization: `Bearer ${alice.token}` };
    for (const path of [
      '/api/clusters',
      '/api/clusters/sandbox',
      '/api/clusters/staging',
      '/api/metrics',
      '/api/sandbox',
      '/clusters/sandbox',
      '/clusters/staging',
    ]) {
      await get(path, bearer);
      await get(path, {}, `${path} (no token)`);
    }
    // Two wrong tokens only: five in a minute would rate limit this address's sign-in below.
    for (const path of ['/api/clusters', '/clusters/sandbox']) {
      await get(
        path,
        { authorization: `Bearer ${alice.token.slice(0, -2)}xx` },
        `${path} (wrong token)`,
      );
    }
    const { browser, close } = await launchChromium();
    stops.push(close);
    const page = await browser.newPage();
    await page.goto(dashboard.url);
    add('sign-in page', await page.content());
    await page.locator('input[name="token"]').fill(alice.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
    session = (await page.context().cookies())[0]?.value ?? '';
    await new Promise((resolve) => setTimeout(resolve, 2000));
    add('DOM html', await page.content());
    add('DOM text', await page.locator('body').innerText());
    const withSession = { cookie: `__Host-beamscope-session=${session}` };
    await get('/api/clusters/sandbox', withSession, '/api/clusters/sandbox (session)');
    await page.getByTestId('sign-out').click();
    await page.getByTestId('signed-out').waitFor({ timeout: 15_000 });
    add('signed-out page', await page.content());
    await get('/api/clusters', withSession, '/api/clusters (after sign-out)');
    add('server output', dashboard.output());
    for (const file of await filesUnder(join(dirname(serverJs), '.next', 'static'))) {
      add(`bundle ${file}`, await readFile(file, 'utf8'));
    }
  }, 120_000);

  it('found the Kubernetes tokens, the session and the cookie nowhere', () => {
    // Not vacuous: signed in, the API answered with the cluster, and then refused the old session.
    expect(session).toMatch(/^k1\./);
    expect(corpus.get('GET /api/clusters/sandbox (session)')).toMatch(/^200 .*myapp/s);
    expect(corpus.get('GET /api/clusters (after sign-out)')).toMatch(/^401 /);
    expect(corpus.get('GET /api/clusters (wrong token)')).toMatch(/^401 /);
    expect(corpus.get('sign-in page')).toContain('Kubernetes token');
    expect(corpus.get('server output')).toContain('beamscope: audit: action=sign-out');
    const secrets = { aliceToken: alice.token, beamscopeToken: sandbox.token, session, cookie };
    const leaks = Object.entries(secrets).flatMap(([name, secret]) =>
      [...corpus]
        .filter(([, text]) => forms(secret).some((form) => text.includes(form)))
        .map(([source]) => `${name} in ${source}`),
    );
    expect(leaks).toEqual([]);
  });
});

/**
 * The same scan for `access.mode: oidc` (issue 20, item 5): a real OpenID provider on loopback,
 * two users signing in through it in Chromium, the API and the stream read with their sessions,
 * a sign-out, a refused forged ID token; then every answer beamscope gave the browser (headers and
 * bodies), the pages, the DOM, the API, the server's output and the client bundle are scanned for
 * the client secret and every ID and access token the provider issued.
 */
describe('the OIDC client secret and the tokens never leave the server', () => {
  let sandbox: RunningSandbox;
  let provider: RunningProvider;
  let dashboard: RunningDashboard;
  let browser: Browser;
  const stops: Array<() => Promise<void>> = [];
  const corpus = new Map<string, string>();
  const add = (source: string, text: string) => {
    corpus.set(source, (corpus.get(source) ?? '') + text);
  };

  beforeAll(async () => {
    sandbox = await startSandbox(1);
    stops.push(() => sandbox.stop());
    const port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}`, {
      alice: { email: 'alice@example.com', groups: ['team-a'] },
      bob: { email: 'bob@example.com', groups: ['team-b'] },
    });
    stops.push(() => provider.stop());
    const folder = dirname(sandbox.config);
    const clientSecretFile = join(folder, 'oidc-client-secret');
    await writeFile(clientSecretFile, `${provider.clientSecret}\n`);
    const config = parse(await readFile(sandbox.config, 'utf8')) as Record<string, unknown>;
    const configFile = join(folder, 'beamscope-oidc.yaml');
    const oidc = {
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecretFile,
      scopes: ['openid', 'email', 'groups'],
    };
    await writeFile(configFile, stringify({ ...config, access: { mode: 'oidc', oidc } }));
    dashboard = await startDashboard(configFile, port);
    stops.push(() => dashboard.stop());
    const chromium = await launchChromium();
    browser = chromium.browser;
    stops.push(chromium.close);
  });

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  /** A fresh browser whose every answer from beamscope (headers and body) joins the corpus. */
  async function recordedPage(label: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('response', (response) => {
      if (!response.url().startsWith(dashboard.url)) return;
      void (async () => {
        const headers = JSON.stringify(await response.allHeaders());
        // A redirect has no body to read.
        const body = await response.text().catch(() => '');
        add(`${label} ${response.url()}`, `${response.status()} ${headers}\n${body}`);
      })();
    });
    return page;
  }

  async function signIn(login: string): Promise<Page> {
    const page = await recordedPage(login);
    await page.goto(dashboard.url);
    await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
    await signInAtProvider(page, login);
    return page;
  }

  it('signs in, uses, signs out and is refused, collecting everything a client or a log could see', async () => {
    for (const login of ['alice', 'bob']) {
      const page = await signIn(login);
      await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
      await new DashboardPage(page).open(dashboard.url);
      const cookie = (await page.context().cookies(dashboard.url)).find(
        (entry) => entry.name === '__Host-beamscope-session',
      )!.value;
      const headers = { cookie: `__Host-beamscope-session=${cookie}` };
      for (const path of [
        '/api/session',
        '/api/clusters',
        '/api/clusters/sandbox',
        '/api/metrics',
      ]) {
        const response = await fetch(`${dashboard.url}${path}`, { headers });
        add(
          `GET ${path} as ${login}`,
          `${response.status} ${JSON.stringify([...response.headers])}\n${await response.text()}`,
        );
      }
      const controller = new AbortController();
      const stream = await fetch(`${dashboard.url}/api/clusters/sandbox/events`, {
        headers,
        signal: controller.signal,
      });
      const { value } = await stream.body!.getReader().read();
      add(`SSE as ${login}`, new TextDecoder().decode(value));
      controller.abort();
      add(`DOM of ${login}`, `${await page.locator('body').innerText()}\n${await page.content()}`);
      if (login === 'alice') {
        await page.goto(`${dashboard.url}/sign-out`);
        await page.getByTestId('sign-out-form').getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('button', { name: 'Yes, sign me out' }).click();
        await page.waitForURL(`${dashboard.url}/sign-in?out=1`, { timeout: 15_000 });
        add('signed-out page', await page.content());
      }
    }
    // A forged ID token: refused, and the refusal's answers and log line collected too.
    provider.tamper('foreign-key');
    try {
      const page = await signIn('alice');
      await page.waitForURL(/\/sign-in\?/, { timeout: 15_000 });
      add('refused sign-in page', await page.content());
    } finally {
      provider.tamper('honest');
    }
    add('server output', dashboard.output());
    for (const file of await filesUnder(join(dirname(serverJs), '.next', 'static'))) {
      add(`bundle ${file}`, await readFile(file, 'utf8'));
    }
  }, 180_000);

  it('found the client secret and the ID and access tokens nowhere', () => {
    // Not vacuous: real tokens were issued, the sessions worked, the refusal was logged.
    expect(provider.issued.idTokens.length).toBe(3);
    expect(provider.issued.accessTokens.length).toBe(3);
    expect(corpus.get('GET /api/session as bob')).toContain('"subject":"oidc:bob@example.com"');
    expect(corpus.get('GET /api/clusters/sandbox as alice')).toMatch(/^200 /);
    expect(corpus.get('SSE as bob')).toContain('myapp@10.244.0.');
    expect(corpus.get('server output')).toContain(
      'beamscope: audit: action=sign-in outcome=refused who=unknown',
    );
    expect([...corpus.keys()].some((source) => source.includes('/api/session/oidc/callback'))).toBe(
      true,
    );
    expect([...corpus.keys()].some((source) => source.startsWith('bundle '))).toBe(true);

    const secrets: Array<[string, string]> = [
      ['the client secret', provider.clientSecret],
      ...provider.issued.idTokens.flatMap((token, index): Array<[string, string]> => [
        [`ID token ${index}`, token],
        [`ID token ${index}'s signature`, token.split('.')[2]!],
      ]),
      ...provider.issued.accessTokens.map((token, index): [string, string] => [
        `access token ${index}`,
        token,
      ]),
    ];
    const leaks = secrets.flatMap(([name, secret]) =>
      [...corpus]
        .filter(([, text]) => forms(secret).some((form) => text.includes(form)))
        .map(([source]) => `${name} in ${source}`),
    );
    expect(leaks).toEqual([]);
  });
});
