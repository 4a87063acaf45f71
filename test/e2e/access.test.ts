import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { DashboardPage } from './pages/dashboard-page';
import { CHROMIUM_PATH, launchChromium } from './support/browser';
import { freePort, startSandbox, type RunningSandbox } from './support/app';

const root = join(import.meta.dirname, '..', '..');
const serverJs = process.env.BEAMSCOPE_SERVER_JS ?? join(root, '.next/standalone/server.js');
const TOKEN = 'e2e-access-token-7f3c9a1b2d4e6f80';

/** The standalone server — the same `server.js` the image, `npm start` and the demo run. */
interface Server {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function spawnServer(config: string, port: number, env: Record<string, string>): Server {
  const child = spawn(process.execPath, [serverJs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BEAMSCOPE_CONFIG: config, PORT: String(port), ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function startServer(config: string, env: Record<string, string> = {}): Promise<Server> {
  const server = spawnServer(config, await freePort(), { HOSTNAME: '127.0.0.1', ...env });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.child.exitCode !== null)
      throw new Error(`the server exited (${server.child.exitCode}):\n${server.output()}`);
    try {
      if ((await fetch(`${server.url}/api/healthz`)).ok) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server did not start:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The sandbox's configuration with an `access` section, written beside it (relative paths hold). */
async function configWith(sandbox: RunningSandbox, name: string, access: unknown): Promise<string> {
  const config = parse(await readFile(sandbox.config, 'utf8')) as Record<string, unknown>;
  const file = join(dirname(sandbox.config), name);
  await writeFile(file, stringify({ ...config, access }));
  return file;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTP request from a chosen loopback source address: the server sees that address as the
 * TCP peer, which is how the rate limiter and the trusted-proxy check tell clients apart.
 */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        localAddress: options.from ?? '127.0.0.1',
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** The first SSE bytes of a stream, then the connection is dropped. */
async function firstEvent(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  let text = '';
  if (response.ok) {
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    text = new TextDecoder().decode(value);
  }
  controller.abort();
  return { status: response.status, type: response.headers.get('content-type'), text };
}

/** Records CSP violations and console errors from the first script on, in every document. */
async function watchPage(
  page: Page,
): Promise<{ violations: () => Promise<string[]>; errors: string[] }> {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __csp: string[] }).__csp = seen;
    document.addEventListener('securitypolicyviolation', (event) => {
      seen.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
    });
  });
  return {
    errors,
    violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
  };
}

describe('dashboard access', () => {
  let sandbox: RunningSandbox;
  const started: Server[] = [];
  let browser: Browser | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    sandbox = await startSandbox(3);
  });

  afterAll(async () => {
    await closeBrowser?.();
    for (const server of started) await server.stop();
    await sandbox?.stop();
  });

  describe('mode none', () => {
    it('refuses to start on a non-loopback address, with one line saying why and what to do', async () => {
      const config = await configWith(sandbox, 'none.yaml', { mode: 'none' });
      const server = spawnServer(config, await freePort(), { HOSTNAME: '0.0.0.0' });
      started.push(server);
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 30_000);
        server.child.once('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      expect(code).toBe(78);
      const lines = server
        .output()
        .split('\n')
        .filter((line) => line.startsWith('beamscope:'));
      expect(lines).toEqual([
        `beamscope: ${config}: access.mode: none (the default) is accepted only on a loopback address, but the server listens on 0.0.0.0 (HOSTNAME); set access.mode to token or proxy, or HOSTNAME=127.0.0.1`,
      ]);
      expect(server.output()).not.toMatch(/^\s+at /m);
    });
  });

  describe('mode token', () => {
    let server: Server;
    let tokenFile: string;

    beforeAll(async () => {
      tokenFile = join(dirname(sandbox.config), 'access-token');
      await writeFile(tokenFile, `${TOKEN}\n`);
      const config = await configWith(sandbox, 'token.yaml', { mode: 'token', tokenFile });
      server = await startServer(config);
      started.push(server);
    });

    it('answers the API 401 without the token and 200 with it as a Bearer', async () => {
      const without = await send(`${server.url}/api/clusters`);
      expect(without.status).toBe(401);
      expect(without.headers['www-authenticate']).toBe('Bearer realm="beamscope"');
      expect(JSON.parse(without.text)).toEqual({
        error: {
          code: 'auth_required',
          message:
            'sign in at /sign-in, or send the access token as Authorization: Bearer <token> (access.mode is token)',
        },
      });
      const withToken = await send(`${server.url}/api/clusters`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(withToken.status).toBe(200);
      expect(JSON.parse(withToken.text)).toMatchObject({ clusters: [{ id: 'sandbox' }] });
      // No CORS, and the headers every answer carries.
      expect(
        Object.keys(withToken.headers).filter((name) => name.startsWith('access-control-')),
      ).toEqual([]);
      expect(withToken.headers['x-content-type-options']).toBe('nosniff');
      expect(withToken.headers['referrer-policy']).toBe('no-referrer');
    });

    it('guards every route but the health probe: SSE, node details, the sandbox action route', async () => {
      expect((await send(`${server.url}/api/healthz`)).status).toBe(200);
      for (const path of [
        '/api/metrics',
        '/api/sandbox',
        '/api/clusters/sandbox',
        '/api/clusters/sandbox/registry?name=x',
      ])
        expect((await send(`${server.url}${path}`)).status, path).toBe(401);
      const action = await send(`${server.url}/api/sandbox`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'heal' }),
      });
      expect(action.status).toBe(401);
      expect((await firstEvent(`${server.url}/api/clusters/sandbox/events`, {})).status).toBe(401);
      const stream = await firstEvent(`${server.url}/api/clusters/sandbox/events`, {
        authorization: `Bearer ${TOKEN}`,
      });
      expect(stream.status).toBe(200);
      expect(stream.type).toContain('text/event-stream');
    });

    it('sends a page request without a session to /sign-in', async () => {
      const page = await send(`${server.url}/clusters/sandbox?x=1`);
      expect(page.status).toBe(303);
      expect(page.headers.location).toBe('/sign-in?next=%2Fclusters%2Fsandbox%3Fx%3D1');
      const api = await send(`${server.url}/api/clusters/sandbox/events`);
      expect(api.status).toBe(401);
      expect(api.headers['content-type']).toContain('application/json');
    });

    it('signs in through the form in Chromium, sets a hardened cookie, and the dashboard renders under the CSP', async () => {
      ({ browser, close: closeBrowser } = await launchChromium());
      const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
      const page = await context.newPage();
      const watch = await watchPage(page);
      await page.goto(server.url);
      expect(new URL(page.url()).pathname).toBe('/sign-in');
      // http://127.0.0.1 is a secure context in Chromium, so it keeps Secure cookies here.
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
      await expect.poll(() => page.getByTestId('sign-in-insecure').count()).toBe(0);

      await page.locator('input[name="token"]').fill('not-the-token-at-all-0000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect
        .poll(() => page.getByTestId('sign-in-error').textContent())
        .toBe('that is not the access token');

      await page.locator('input[name="token"]').fill(TOKEN);
      const [dashboardResponse] = await Promise.all([
        page.waitForResponse((response) => response.url().endsWith('/clusters/sandbox')),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      const view = new DashboardPage(page);
      await page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
      await expect.poll(() => view.graphMembers('clustered').count(), { timeout: 30_000 }).toBe(3);
      await expect.poll(() => view.drawnNodes()).toBe(3);
      await expect.poll(() => view.linkState().getAttribute('data-state')).toBe('live');

      const csp = (await dashboardResponse.allHeaders())['content-security-policy'] ?? '';
      const script = csp.split(';').find((part) => part.trim().startsWith('script-src')) ?? '';
      expect(script).toMatch(/'nonce-[A-Za-z0-9+/=]{16,}'/);
      expect(script).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      // Next put the nonce on its scripts: every <script> of the page carries it.
      const nonce = /'nonce-([^']+)'/.exec(script)![1]!;
      const scripts = await page
        .locator('script')
        .evaluateAll((items) => items.map((item) => (item as HTMLScriptElement).nonce));
      expect(scripts.length).toBeGreaterThan(0);
      expect(new Set(scripts)).toEqual(new Set([nonce]));
      expect(await watch.violations()).toEqual([]);
      expect(watch.errors.filter((text) => /Content.Security.Policy|Refused/i.test(text))).toEqual(
        [],
      );
      // Not vacuous: an inline script slipped into the page's HTML (what an XSS would do) is
      // blocked under the same policy, and the listener reports it.
      const attacked = await context.newPage();
      const attackedWatch = await watchPage(attacked);
      await attacked.route('**/clusters/sandbox', async (route) => {
        const original = await route.fetch();
        const html = (await original.text()).replace(
          '<head>',
          '<head><script>window.__injected = true</script>',
        );
        await route.fulfill({ response: original, body: html });
      });
      await attacked.goto(`${server.url}/clusters/sandbox`);
      await attacked.getByTestId('dashboard').waitFor({ timeout: 15_000 });
      await expect
        .poll(() => attackedWatch.violations())
        .toEqual([expect.stringMatching(/^script-src/)]);
      expect(await attacked.evaluate(() => '__injected' in window)).toBe(false);
      await attacked.close();

      const cookies = await context.cookies();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatchObject({
        name: '__Host-beamscope-session',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
        path: '/',
      });
      expect(cookies[0]!.value).not.toContain(TOKEN);
      // The page's script cannot read it.
      expect(await page.evaluate(() => document.cookie)).toBe('');
      await context.close();
    }, 120_000);

    it('does not keep the session on a plain-HTTP origin that is not loopback, and says so', async () => {
      // The same server, reached as http://beamscope.test: not a secure context, so Chromium
      // drops the Secure cookie (the sign-in would loop) and the page warns before it does.
      const port = new URL(server.url).port;
      const other = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--host-resolver-rules=MAP beamscope.test 127.0.0.1',
        ],
      });
      try {
        const page = await other.newPage();
        await page.goto(`http://beamscope.test:${port}/`);
        expect(new URL(page.url()).pathname).toBe('/sign-in');
        await page.getByTestId('sign-in-insecure').waitFor({ timeout: 10_000 });
        await page.locator('input[name="token"]').fill(TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL(/\/sign-in\?next=/, { timeout: 15_000 });
        expect(await page.context().cookies()).toEqual([]);
      } finally {
        await other.close();
      }
    }, 120_000);

    it('refuses a wrong token, then rate limits the address with Retry-After, logging no secret', async () => {
      const wrong = 'wrong-e2e-guess-0123456789abcdef';
      const attempt = (token: string, from: string) =>
        send(`${server.url}/api/session`, {
          method: 'POST',
          from,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token }),
        });
      for (let index = 0; index < 5; index += 1) {
        const answer = await attempt(wrong, '127.0.0.9');
        expect(answer.status).toBe(401);
        expect(answer.headers['set-cookie']).toBeUndefined();
      }
      const limited = await attempt(TOKEN, '127.0.0.9');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(JSON.parse(limited.text)).toMatchObject({ error: { code: 'rate_limited' } });
      // Bearer guesses from that address are refused the same way.
      const bearer = await send(`${server.url}/api/clusters`, {
        from: '127.0.0.9',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(bearer.status).toBe(429);
      // Another address is not affected, and gets a session cookie that is not the token.
      const ok = await attempt(TOKEN, '127.0.0.10');
      expect(ok.status).toBe(204);
      const cookie = String(ok.headers['set-cookie']);
      expect(cookie).toMatch(
        /^__Host-beamscope-session=v1\.[^;]+; Path=\/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict$/,
      );
      expect(cookie).not.toContain(TOKEN);
      const session = cookie.split(';')[0]!;
      expect(
        (await send(`${server.url}/api/clusters`, { headers: { cookie: session } })).status,
      ).toBe(200);

      const log = server.output();
      expect(log).toContain(
        'beamscope: access: a failed sign-in from 127.0.0.9 (failure 5 in this window)',
      );
      expect(log).toContain('refused for');
      expect(log).not.toContain(wrong);
      expect(log).not.toContain(TOKEN);
    });

    it('ends every session when the token file is rotated', async () => {
      const signIn = await send(`${server.url}/api/session`, {
        method: 'POST',
        from: '127.0.0.11',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: TOKEN }),
      });
      const session = String(signIn.headers['set-cookie']).split(';')[0]!;
      expect(
        (await send(`${server.url}/api/clusters`, { headers: { cookie: session } })).status,
      ).toBe(200);
      const rotated = `${TOKEN}-rotated`;
      await writeFile(tokenFile, `${rotated}\n`);
      await expect
        .poll(
          async () =>
            (await send(`${server.url}/api/clusters`, { headers: { cookie: session } })).status,
          {
            timeout: 10_000,
          },
        )
        .toBe(401);
      const answer = await send(`${server.url}/api/clusters`, {
        headers: { authorization: `Bearer ${rotated}` },
      });
      expect(answer.status).toBe(200);
      await writeFile(tokenFile, `${TOKEN}\n`);
    });
  });

  describe('mode token: sign-out', () => {
    it('ends the session on the server from the page, so a copy of the cookie is refused too', async () => {
      const tokenFile = join(dirname(sandbox.config), 'access-token-sign-out');
      await writeFile(tokenFile, `${TOKEN}\n`);
      const server = await startServer(
        await configWith(sandbox, 'token-sign-out.yaml', { mode: 'token', tokenFile }),
      );
      started.push(server);
      const { browser: own, close } = await launchChromium();
      try {
        const page = await own.newPage();
        await page.goto(`${server.url}/sign-in`);
        await page.locator('input[name="token"]').fill(TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByTestId('dashboard').waitFor({ timeout: 15_000 });
        const [session] = await page.context().cookies();
        const cookie = `${session!.name}=${session!.value}`;
        expect((await send(`${server.url}/api/clusters`, { headers: { cookie } })).status).toBe(
          200,
        );
        await page.getByTestId('sign-out').click();
        await page.getByTestId('signed-out').waitFor({ timeout: 15_000 });
        expect(await page.context().cookies()).toEqual([]);
        expect((await send(`${server.url}/api/clusters`, { headers: { cookie } })).status).toBe(
          401,
        );
        expect(server.output()).toContain(
          'beamscope: audit: action=sign-out outcome=allowed who=token from=127.0.0.1',
        );
      } finally {
        await close();
      }
    }, 120_000);
  });

  describe('mode proxy', () => {
    let server: Server;

    beforeAll(async () => {
      const config = await configWith(sandbox, 'proxy.yaml', {
        mode: 'proxy',
        proxy: { trustedProxies: ['127.0.0.1'] },
      });
      server = await startServer(config);
      started.push(server);
    });

    it('honours the identity header from a trusted proxy address', async () => {
      const answer = await send(`${server.url}/api/clusters`, {
        from: '127.0.0.1',
        headers: { 'x-forwarded-user': 'ada@example.com' },
      });
      expect(answer.status).toBe(200);
      const page = await send(`${server.url}/clusters/sandbox`, {
        from: '127.0.0.1',
        headers: { 'x-forwarded-user': 'ada@example.com' },
      });
      expect(page.status).toBe(200);
      expect(page.headers['content-security-policy']).toMatch(/script-src 'self' 'nonce-/);
      // From the trusted proxy but naming no one: 401.
      expect((await send(`${server.url}/api/clusters`, { from: '127.0.0.1' })).status).toBe(401);
    });

    it('refuses it from any other address, even one that claims to be the proxy', async () => {
      const direct = await send(`${server.url}/api/clusters`, {
        from: '127.0.0.7',
        headers: { 'x-forwarded-user': 'ada@example.com' },
      });
      expect(direct.status).toBe(403);
      expect(JSON.parse(direct.text)).toMatchObject({
        error: { code: 'proxy_untrusted', message: expect.stringContaining('127.0.0.7') },
      });
      const forged = await send(`${server.url}/api/clusters`, {
        from: '127.0.0.7',
        headers: {
          'x-forwarded-user': 'ada@example.com',
          'x-forwarded-for': '127.0.0.1',
          'x-real-ip': '127.0.0.1',
          'x-beamscope-peer': '127.0.0.1',
          'x-beamscope-peer-proof': 'guess',
        },
      });
      expect(forged.status).toBe(403);
      const page = await send(`${server.url}/clusters/sandbox`, {
        from: '127.0.0.7',
        headers: { 'x-forwarded-user': 'ada@example.com' },
      });
      expect(page.status).toBe(403);
      expect((await send(`${server.url}/api/healthz`, { from: '127.0.0.7' })).status).toBe(200);
    });
  });
});
