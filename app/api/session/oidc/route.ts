import type { NextRequest } from 'next/server';

import { handleOidcStart } from '@/server/auth/oidc-routes';

export const dynamic = 'force-dynamic';

/** Starts an OpenID Connect sign-in (access.mode oidc): a redirect to the provider. */
export async function GET(request: NextRequest): Promise<Response> {
  return handleOidcStart(request);
}
