import type { NextRequest } from 'next/server';

import { handleOidcSignOut } from '@/server/auth/oidc-routes';

export const dynamic = 'force-dynamic';

/** Ends the OpenID Connect session, then signs out at the provider when it offers that. */
export async function POST(request: NextRequest): Promise<Response> {
  return handleOidcSignOut(request);
}
