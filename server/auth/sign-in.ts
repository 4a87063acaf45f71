import 'server-only';

import type { ApiError } from '@/lib/api';
import type { AuthCode } from '@/lib/codes';

import { continuePage, originOf } from './continue-page';
import { getAccessGate } from './gate';
import { SESSION_COOKIE, SESSION_TTL_MS, SIGNED_OUT_PAGE } from './session';

/** The longest token field read: a token is far shorter; anything longer is not one. */
const MAX_FIELD = 4096;

/** The origin `safeNext` resolves a path against; never sent anywhere. */
const SAME_SITE_PLACEHOLDER = 'http://beamscope.invalid';

/**
 * Where to go after signing in: a path on this site only (`/clusters/x`), never `//host` or a URL,
 * so the sign-in page cannot be used to bounce someone to another site.
 */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  // Resolved against a placeholder origin and written back percent-encoded: a path with non-ASCII
  // text (`/clusters/café`) must still fit a Location header, which takes Latin-1 only, and
  // anything that resolves off this site (a backslash or tab trick) falls back to the home page.
  let url: URL;
  try {
    url = new URL(value, SAME_SITE_PLACEHOLDER);
  } catch {
    return '/';
  }
  if (url.origin !== SAME_SITE_PLACEHOLDER) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}

/** The Set-Cookie header of a new session: HttpOnly, Secure, SameSite=Strict, this origin only. */
export function sessionCookieHeader(value: string): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${SESSION_TTL_MS / 1000}; HttpOnly; Secure; SameSite=Strict`;
}

function jsonError(
  status: number,
  code: AuthCode | 'bad_request',
  message: string,
  headers: HeadersInit = {},
) {
  const body: ApiError = { error: { code, message } };
  return Response.json(body, { status, headers: { 'cache-control': 'no-store', ...headers } });
}

/**
 * A same-origin check for the sign-in and sign-out forms: a cross-site page must not post to
 * them. A browser's `Sec-Fetch-Site` (which no page can set) decides where it is sent: under
 * `Referrer-Policy: no-referrer` a plain form post carries `Origin: null`, so Origin alone
 * would refuse the page's own form post.
 */
export function sameOrigin(request: Request): boolean {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null) return site === 'same-origin';
  const origin = request.headers.get('origin');
  if (origin === null) return true; // not a browser form post (curl, scripts)
  try {
    return new URL(origin).host === request.headers.get('host');
  } catch {
    return false;
  }
}

/**
 * `POST /api/session`: signs in with the access token. A browser form (urlencoded) is answered
 * with a redirect — to `next` with the session cookie, or back to the sign-in page with the
 * reason; a script (JSON `{ "token": … }`) gets 204 with the cookie, 401, or 429 with
 * Retry-After. The token is read, compared in constant time and forgotten; it is never logged.
 */
export async function handleSignIn(request: Request): Promise<Response> {
  const gate = getAccessGate();
  if (!gate) return jsonError(503, 'starting', 'the server is starting; retry in a moment');
  if (!sameOrigin(request)) return jsonError(403, 'cross_origin', 'sign in from this site only');
  const type = request.headers.get('content-type') ?? '';
  const isForm = type.startsWith('application/x-www-form-urlencoded');
  let token: unknown;
  let next: unknown;
  try {
    if (isForm) {
      const form = new URLSearchParams((await request.text()).slice(0, 2 * MAX_FIELD + 4096));
      token = form.get('token');
      next = form.get('next');
    } else {
      const body = (await request.json()) as { token?: unknown; next?: unknown } | null;
      token = body?.token;
      next = body?.next;
    }
  } catch {
    return jsonError(400, 'bad_request', 'expected a form or JSON body with the access token');
  }
  const submitted = typeof token === 'string' && token.length <= MAX_FIELD ? token.trim() : '';
  const client = gate.peer(request.headers) ?? 'unknown';
  const result = await gate.signIn(submitted, client);
  const target = safeNext(next);
  if (isForm) {
    const location = result.ok
      ? target
      : `/sign-in?${new URLSearchParams({
          next: target,
          error: result.status === 429 ? 'rate_limited' : 'invalid',
          ...(result.retryAfterSeconds !== undefined
            ? { retry: String(result.retryAfterSeconds) }
            : {}),
        }).toString()}`;
    const headers = new Headers({ location, 'cache-control': 'no-store' });
    if (result.ok) headers.set('set-cookie', sessionCookieHeader(result.cookie));
    if (!result.ok && result.retryAfterSeconds !== undefined) {
      headers.set('retry-after', String(result.retryAfterSeconds));
    }
    return new Response(null, { status: 303, headers });
  }
  if (result.ok) {
    return new Response(null, {
      status: 204,
      headers: { 'set-cookie': sessionCookieHeader(result.cookie), 'cache-control': 'no-store' },
    });
  }
  return jsonError(
    result.status,
    result.status === 429
      ? 'rate_limited'
      : result.status === 503
        ? 'access_unavailable'
        : 'auth_failed',
    result.message,
    result.retryAfterSeconds !== undefined
      ? { 'retry-after': String(result.retryAfterSeconds) }
      : {},
  );
}

/** A Set-Cookie that deletes the session cookie. */
const CLEARED_COOKIE = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/**
 * `DELETE /api/session` (a script: 204) and `POST /api/session/end` (the sign-out button's form:
 * 303 to the sign-in page): ends the session on the server — the cookie is refused from now on,
 * even a copy of it — and deletes it from the browser. Same-origin only, like sign-in, so
 * another site cannot sign a user out. In mode oidc the form goes on to the provider's
 * end-session endpoint when it has one (RP-initiated logout), which comes back to the sign-in page.
 */
export async function handleSignOut(request: Request, fromPage: boolean): Promise<Response> {
  const gate = getAccessGate();
  if (!gate) return jsonError(503, 'starting', 'the server is starting; retry in a moment');
  if (!sameOrigin(request)) return jsonError(403, 'cross_origin', 'sign out from this site only');
  const cookie = cookieValue(request.headers.get('cookie'), SESSION_COOKIE);
  await gate.signOut(cookie, gate.peer(request.headers) ?? 'unknown');
  const headers = new Headers({ 'set-cookie': CLEARED_COOKIE, 'cache-control': 'no-store' });
  if (!fromPage) return new Response(null, { status: 204, headers });
  if (gate.oidc) {
    const location = await gate.oidc.signOutLocation(originOf(request));
    if (location !== undefined) return continuePage(location, 'Signed out', headers);
  }
  headers.set('location', SIGNED_OUT_PAGE);
  return new Response(null, { status: 303, headers });
}

/** The value of one cookie in a `Cookie` header. */
export function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}
