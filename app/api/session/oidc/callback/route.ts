import type { NextRequest } from 'next/server';

import { handleOidcCallback } from '@/server/auth/oidc-routes';

export const dynamic = 'force-dynamic';

/** Where the OpenID provider sends the browser back: finishes the sign-in. */
export async function GET(request: NextRequest): Promise<Response> {
  return handleOidcCallback(request);
}
