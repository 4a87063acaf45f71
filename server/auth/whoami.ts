import 'server-only';

import type { NextRequest } from 'next/server';

import type { ApiError } from '@/lib/api';

import { getAccessGate } from './gate';
import { principalOfSession } from './oidc';
import { SESSION_COOKIE } from './session';

/** Who the caller is, as `GET /api/session` answers it: never a token, a cookie or a claim set. */
export interface WhoAmI {
  mode: string;
  /** `oidc:<email or sub>` in mode oidc, the proxy's identity header in mode proxy, else null. */
  subject: string | null;
  /** The groups the per-cluster rules are written for (mode oidc: from the configured claim). */
  groups: string[];
}

/**
 * `GET /api/session`: who this request acts for. The path is open (the sign-in form posts to it),
 * so this handler checks access itself, as the gate would.
 */
export async function handleWhoAmI(request: NextRequest): Promise<Response> {
  const gate = getAccessGate();
  const refuse = (status: number, error: ApiError['error']) =>
    Response.json({ error } satisfies ApiError, {
      status,
      headers: { 'cache-control': 'no-store' },
    });
  if (!gate) {
    return refuse(503, { code: 'starting', message: 'the server is starting; retry in a moment' });
  }
  const cookie = request.cookies.get(SESSION_COOKIE)?.value;
  let answer: WhoAmI;
  if (gate.oidc) {
    const session = gate.oidc.session(cookie);
    if (!session) {
      return refuse(401, {
        code: 'auth_required',
        message: 'not signed in: sign in at /sign-in with your identity provider',
      });
    }
    const principal = principalOfSession(session);
    answer = { mode: gate.mode, subject: principal.subject, groups: [...principal.groups] };
  } else {
    const verdict = await gate.authorize({ headers: request.headers, sessionCookie: cookie });
    if (!verdict.allowed) {
      return refuse(verdict.status, { code: verdict.code, message: verdict.message });
    }
    answer = { mode: gate.mode, subject: verdict.identity ?? null, groups: [] };
  }
  return Response.json(answer, { headers: { 'cache-control': 'no-store' } });
}
