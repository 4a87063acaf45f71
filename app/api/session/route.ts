import type { NextRequest } from 'next/server';

import { handleSignIn } from '@/server/auth/sign-in';
import { handleWhoAmI } from '@/server/auth/whoami';

export const dynamic = 'force-dynamic';

/** Who the caller is: mode, subject and groups (never a token). */
export async function GET(request: NextRequest): Promise<Response> {
  return handleWhoAmI(request);
}

/** Sign-in with the access token (access.mode token): sets the session cookie. */
export async function POST(request: Request): Promise<Response> {
  return handleSignIn(request);
}
