import { NextResponse, type NextRequest } from 'next/server';

import type { ApiError } from '@/lib/api';
import { getAccessGate, isOpenPath, SESSION_COOKIE, type Verdict } from '@/server/auth';
import {
  API_CONTENT_SECURITY_POLICY,
  pageContentSecurityPolicy,
  SECURITY_HEADERS,
} from '@/server/auth/headers';

/*
 * Next 16's proxy (the renamed middleware; Node.js runtime) guards every request but the build's
 * static files: pages, the API, the SSE streams and the sandbox action route. It cannot see the
 * TCP peer address — the startup hook in server/auth/peer.ts stamps it onto the request with a
 * proof — so no custom server entry is needed and every launcher keeps running Next's own
 * standalone `server.js`. It also gives each page response its CSP nonce.
 */

function withSecurityHeaders<T extends Response>(response: T, csp: string): T {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
  response.headers.set('content-security-policy', csp);
  return response;
}

function isApi(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/');
}

/** A refusal: JSON with an operator message for the API, the sign-in page for a page. */
function refuse(request: NextRequest, verdict: Verdict & { allowed: false }): Response {
  const { pathname, search } = request.nextUrl;
  if (!isApi(pathname) && verdict.status === 401 && getAccessGate()?.signsIn === true) {
    const target = new URL('/sign-in', request.url);
    target.search = new URLSearchParams({ next: `${pathname}${search}` }).toString();
    return withSecurityHeaders(NextResponse.redirect(target, 303), API_CONTENT_SECURITY_POLICY);
  }
  const body: ApiError = { error: { code: verdict.code, message: verdict.message } };
  const response = isApi(pathname)
    ? NextResponse.json(body, { status: verdict.status })
    : new NextResponse(`beamscope: ${verdict.message}\n`, {
        status: verdict.status,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
  response.headers.set('cache-control', 'no-store');
  if (verdict.status === 401 && getAccessGate()?.takesToken === true) {
    response.headers.set('www-authenticate', 'Bearer realm="beamscope"');
  }
  if (verdict.retryAfterSeconds !== undefined) {
    response.headers.set('retry-after', String(verdict.retryAfterSeconds));
  }
  return withSecurityHeaders(response, API_CONTENT_SECURITY_POLICY);
}

/**
 * Whether a path holds a segment that is not valid percent-encoding. Next's router fails on
 * such a segment in a dynamic route after the proxy has run, and answers a bare 500 without
 * our headers (vercel/next.js#92527): refuse it here, as the client's error it is.
 */
function undecodable(pathname: string): boolean {
  try {
    for (const segment of pathname.split('/')) decodeURIComponent(segment);
    return false;
  } catch {
    return true;
  }
}

export async function proxy(request: NextRequest): Promise<Response> {
  const { pathname } = request.nextUrl;
  if (undecodable(pathname)) {
    return refuse(request, {
      allowed: false,
      status: 400,
      code: 'bad_request',
      message: 'the path is not valid percent-encoding',
    });
  }
  if (!isOpenPath(pathname)) {
    const gate = getAccessGate();
    const verdict: Verdict = gate
      ? await gate.authorize({
          headers: request.headers,
          sessionCookie: request.cookies.get(SESSION_COOKIE)?.value,
        })
      : {
          // Startup has not built the gate (or failed): refuse rather than guess.
          allowed: false,
          status: 503,
          code: 'starting',
          message: 'the server is starting; retry in a moment',
        };
    if (!verdict.allowed) return refuse(request, verdict);
  }
  if (isApi(pathname)) {
    return withSecurityHeaders(NextResponse.next(), API_CONTENT_SECURITY_POLICY);
  }
  // A page: a fresh nonce, handed to Next's renderer through the request's CSP header (Next
  // reads the nonce from it and puts it on its scripts), and the same policy on the response.
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64');
  const csp = pageContentSecurityPolicy(nonce, process.env.NODE_ENV === 'development');
  const headers = new Headers(request.headers);
  headers.set('content-security-policy', csp);
  return withSecurityHeaders(NextResponse.next({ request: { headers } }), csp);
}

export const config = {
  // Everything but the build's static files, which hold no data (the secret scan checks that).
  matcher: ['/((?!_next/static/).*)'],
};
