import 'server-only';

import type { NextRequest } from 'next/server';

import type { ApiError } from '@/lib/api';

import { getAccessGate } from './gate';
import type { OidcAuthority } from './oidc';
import { continuePage, originOf } from './continue-page';
import { OIDC_TRANSACTION_COOKIE, OIDC_TRANSACTION_TTL_MS } from './oidc-sessions';
import { safeNext, sessionCookieHeader } from './sign-in';

/**
 * The HTTP side of `access.mode: oidc`: `GET /api/session/oidc` starts a sign-in at the provider,
 * `GET /api/session/oidc/callback` finishes it. Sign-out is every mode's (`handleSignOut` in
 * sign-in.ts), which goes on to the provider in this mode. No token, code or secret is ever put
 * in an answer; the session cookie is token mode's.
 */

const NO_STORE = { 'cache-control': 'no-store' };

/** SameSite=Lax, not Strict: the provider's redirect back is a cross-site navigation. */
function transactionCookie(handle: string): string {
  return `${OIDC_TRANSACTION_COOKIE}=${handle}; Path=/; Max-Age=${OIDC_TRANSACTION_TTL_MS / 1000}; HttpOnly; Secure; SameSite=Lax`;
}

function expired(name: string, sameSite: 'Lax' | 'Strict'): string {
  return `${name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=${sameSite}`;
}

function jsonError(status: number, code: 'sign_in_off' | 'starting', message: string) {
  const body: ApiError = { error: { code, message } };
  return Response.json(body, { status, headers: NO_STORE });
}

/** The gate's OIDC side, or the answer to give when there is none. */
function oidcOf(): OidcAuthority | Response {
  const gate = getAccessGate();
  if (!gate) return jsonError(503, 'starting', 'the server is starting; retry in a moment');
  if (!gate.oidc) {
    return jsonError(
      404,
      'sign_in_off',
      `OpenID Connect sign-in is off (access.mode is ${gate.mode})`,
    );
  }
  return gate.oidc;
}

function clientOf(request: NextRequest): string {
  return getAccessGate()?.peer(request.headers) ?? 'unknown';
}

function signInPage(next: string, error: string): string {
  return `/sign-in?${new URLSearchParams({ next, error }).toString()}`;
}

/** `GET /api/session/oidc?next=/path`: off to the provider, with a fresh transaction cookie. */
export async function handleOidcStart(request: NextRequest): Promise<Response> {
  const oidc = oidcOf();
  if (oidc instanceof Response) return oidc;
  const next = safeNext(request.nextUrl.searchParams.get('next'));
  try {
    const { location, handle } = await oidc.begin(next, originOf(request));
    return new Response(null, {
      status: 303,
      headers: { location, 'set-cookie': transactionCookie(handle), ...NO_STORE },
    });
  } catch {
    // The provider is unreachable; the log already says why (once per change).
    return new Response(null, {
      status: 303,
      headers: { location: signInPage(next, 'oidc_unavailable'), ...NO_STORE },
    });
  }
}

/** `GET /api/session/oidc/callback?code=…&state=…`: the provider's answer, checked in full. */
export async function handleOidcCallback(request: NextRequest): Promise<Response> {
  const oidc = oidcOf();
  if (oidc instanceof Response) return oidc;
  const result = await oidc.finish(
    request.nextUrl.searchParams,
    request.cookies.get(OIDC_TRANSACTION_COOKIE)?.value,
    clientOf(request),
  );
  const headers = new Headers(NO_STORE);
  headers.append('set-cookie', expired(OIDC_TRANSACTION_COOKIE, 'Lax'));
  if (!result.ok) {
    headers.set('location', signInPage(result.next, result.error));
    return new Response(null, { status: 303, headers });
  }
  headers.append('set-cookie', sessionCookieHeader(result.cookie));
  return continuePage(result.next, 'Signed in', headers);
}
