import 'server-only';

import type { NextRequest } from 'next/server';

import type { ApiError } from '@/lib/api';

import { getAccessGate } from './gate';
import type { OidcAuthority } from './oidc';
import { OIDC_TRANSACTION_COOKIE, OIDC_TRANSACTION_TTL_MS } from './oidc-sessions';
import { SESSION_COOKIE } from './session';
import { safeNext, sameOrigin, sessionCookieHeader } from './sign-in';

/**
 * The HTTP side of `access.mode: oidc`: `GET /api/session/oidc` starts a sign-in at the provider,
 * `GET /api/session/oidc/callback` finishes it, `POST /api/session/oidc/sign-out` ends it. No
 * token, code or secret is ever put in an answer; the session cookie is token mode's.
 */

const NO_STORE = { 'cache-control': 'no-store' };

/** SameSite=Lax, not Strict: the provider's redirect back is a cross-site navigation. */
function transactionCookie(handle: string): string {
  return `${OIDC_TRANSACTION_COOKIE}=${handle}; Path=/; Max-Age=${OIDC_TRANSACTION_TTL_MS / 1000}; HttpOnly; Secure; SameSite=Lax`;
}

function expired(name: string, sameSite: 'Lax' | 'Strict'): string {
  return `${name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=${sameSite}`;
}

function jsonError(
  status: number,
  code: 'sign_in_off' | 'cross_origin' | 'starting',
  message: string,
) {
  const body: ApiError = { error: { code, message } };
  return Response.json(body, { status, headers: NO_STORE });
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

/**
 * A page that moves the browser on to `location`. After the provider's redirect a plain 303
 * would carry the cross-site chain along, and Chromium then withholds the SameSite=Strict
 * session cookie from the next request; a navigation started by this page is same-site. After
 * sign-out it also avoids the page's CSP `form-action 'self'`, which would block a form's
 * redirect to the provider.
 */
function continuePage(location: string, what: string, headers: Headers): Response {
  const target = escapeHtml(location);
  headers.set('content-type', 'text/html; charset=utf-8');
  headers.set('cache-control', 'no-store');
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${target}"><title>${what} · beamscope</title></head><body><p>${what}. <a href="${target}">Continue</a></p></body></html>\n`,
    { status: 200, headers },
  );
}

/**
 * Whether a form post comes from this site. Pages are served with `Referrer-Policy: no-referrer`,
 * under which a browser's form post says `Origin: null`; its `Sec-Fetch-Site` still tells a post
 * from this origin apart. Without that header, the Origin check of the sign-in form applies.
 */
function fromThisSite(request: NextRequest): boolean {
  const site = request.headers.get('sec-fetch-site');
  return site !== null ? site === 'same-origin' : sameOrigin(request);
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

/**
 * This server's origin as the browser reached it: the Host header, since Next's `nextUrl` writes
 * 127.0.0.1 as localhost (another origin to the browser and the provider). Behind a proxy that
 * ends TLS or rewrites the host, `access.oidc.redirectUrl` names the origin instead.
 */
function originOf(request: NextRequest): string {
  const host = request.headers.get('host');
  return host ? `${request.nextUrl.protocol}//${host}` : request.nextUrl.origin;
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

/**
 * `POST /api/session/oidc/sign-out` (from this site only): ends beamscope's session at once,
 * clears the cookie, then on to the provider's end-session endpoint when it has one.
 */
export async function handleOidcSignOut(request: NextRequest): Promise<Response> {
  const oidc = oidcOf();
  if (oidc instanceof Response) return oidc;
  if (!fromThisSite(request)) {
    return jsonError(403, 'cross_origin', 'sign out from this site only');
  }
  const location = await oidc.end(
    request.cookies.get(SESSION_COOKIE)?.value,
    originOf(request),
    clientOf(request),
  );
  const headers = new Headers(NO_STORE);
  headers.append('set-cookie', expired(SESSION_COOKIE, 'Strict'));
  return continuePage(location, 'Signed out', headers);
}
