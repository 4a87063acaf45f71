import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';

import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import type { Page } from 'playwright-core';

import { freePort } from './app';

/** A user of the test provider: any password signs them in (oidc-provider's dev interactions). */
export interface ProviderUser {
  email: string;
  groups: unknown;
}

/**
 * How the token endpoint's ID token leaves the provider: as signed (`honest`), re-signed with a
 * key the provider never published (`foreign-key`), or re-signed with the provider's own key but
 * expired an hour ago (`expired`). The provider is real; only its answer is altered, as a
 * compromised provider or an attacker on the path would alter it.
 */
export type TokenTampering = 'honest' | 'foreign-key' | 'expired';

export interface RunningProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Every ID and access token the token endpoint handed out, as it sent them. */
  issued: { idTokens: string[]; accessTokens: string[] };
  tamper(mode: TokenTampering): void;
  stop(): Promise<void>;
}

/**
 * Starts a real OpenID provider (`oidc-provider`) on loopback over plain HTTP, with one
 * confidential client for beamscope at `beamscopeUrl` and the given users. PKCE is required, the
 * signing key is generated here (so a test can sign with it), and RP-initiated logout is on.
 */
export async function startOidcProvider(
  beamscopeUrl: string,
  users: Readonly<Record<string, ProviderUser>>,
): Promise<RunningProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'beamscope-e2e';
  const clientSecret = `oidc-client-secret-${randomBytes(24).toString('base64url')}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'e2e-provider', alg: 'RS256' };
  const { privateKey: foreignKey } = await generateKeyPair('RS256');
  const issued = { idTokens: [] as string[], accessTokens: [] as string[] };
  let tampering: TokenTampering = 'honest';

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`${beamscopeUrl}/api/session/oidc/callback`],
        post_logout_redirect_uris: [`${beamscopeUrl}/sign-in?out=1`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    findAccount: (_context, id) => {
      const user = users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email: user.email, email_verified: true, groups: user.groups }),
      };
    },
  });

  provider.use(async (context, next) => {
    await next();
    if (context.path !== '/token' || context.status !== 200) return;
    const body = context.body as { id_token?: string; access_token?: string };
    if (body.id_token === undefined) return;
    if (tampering !== 'honest') {
      const claims = decodeJwt(body.id_token);
      const header = decodeProtectedHeader(body.id_token);
      const now = Math.floor(Date.now() / 1000);
      const resigned = new SignJWT(
        tampering === 'expired' ? { ...claims, iat: now - 7200, exp: now - 3600 } : claims,
      ).setProtectedHeader({ alg: 'RS256', kid: header.kid });
      body.id_token = await resigned.sign(tampering === 'expired' ? privateKey : foreignKey);
    }
    issued.idTokens.push(body.id_token);
    if (body.access_token !== undefined) issued.accessTokens.push(body.access_token);
  });

  const server: Server = await new Promise((resolve) => {
    const listening = provider.listen(port, '127.0.0.1', () => resolve(listening));
  });
  return {
    issuer,
    clientId,
    clientSecret,
    issued,
    tamper: (mode) => {
      tampering = mode;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Signs in at the provider's login page as `login`, then grants beamscope's request. */
export async function signInAtProvider(page: Page, login: string): Promise<void> {
  try {
    await page.locator('input[name="login"]').waitFor({ timeout: 15_000 });
  } catch (error) {
    // Say what the provider showed instead (its error page names the OAuth error).
    const shown = await page
      .locator('body')
      .innerText()
      .catch(() => '');
    throw new Error(`no login form at ${page.url()}: ${shown.slice(0, 500)}`, { cause: error });
  }
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password will do');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const consent = page.getByRole('button', { name: 'Continue' });
  await consent.waitFor({ timeout: 15_000 });
  await consent.click();
}
