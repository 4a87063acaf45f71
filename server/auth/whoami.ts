import 'server-only';

import type { NextRequest } from 'next/server';

import type { ApiError } from '@/lib/api';

import { getAccessGate } from './gate';
import { SESSION_COOKIE } from './session';

/** Who the caller is, as `GET /api/session` answers it: never a token, a cookie or a claim set. */
export interface WhoAmI {
  mode: string;
  /**
   * As audit lines name the caller: `oidc:<email or sub>`, `proxy:<user>`,
   * `kubernetes:<username>`, `token` (the shared token's holder), `anonymous` (mode none).
   */
  subject: string;
  /** The groups `access.clusters` rules match (mode oidc: from the configured claim). */
  groups: string[];
}

/**
 * `GET /api/session`: who this request acts for, the principal every route authorises. The path
 * is open (the sign-in form posts to it), so this handler asks the gate itself.
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
  const verdict = await gate.authorize({
    headers: request.headers,
    sessionCookie: request.cookies.get(SESSION_COOKIE)?.value,
  });
  if (!verdict.allowed) {
    return refuse(verdict.status, { code: verdict.code, message: verdict.message });
  }
  const { subject, groups } = verdict.principal;
  const answer: WhoAmI = { mode: gate.mode, subject, groups: [...groups] };
  return Response.json(answer, { headers: { 'cache-control': 'no-store' } });
}
