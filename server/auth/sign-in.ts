import 'server-only';

import type { ApiError } from '@/lib/api';
import type { AuthCode } from '@/lib/codes';

import { getAccessGate } from './gate';
import { SESSION_COOKIE, SESSION_TTL_MS } from './session';

/** The longest token field read: a token is far shorter; anything longer is not one. */
const MAX_FIELD = 4096;

/**
 * Where to go after signing in: a path on this site only (`/clusters/x`), never `//host` or a URL,
 * so the sign-in page cannot be used to bounce someone to another site.
 */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  return value;
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

/** A same-origin check for the sign-in form: a cross-site page must not post to it. */
export function sameOrigin(request: Request): boolean {
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
