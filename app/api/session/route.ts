import type { NextRequest } from 'next/server';

import { handleSignIn, handleSignOut } from '@/server/auth/sign-in';
import { handleWhoAmI } from '@/server/auth/whoami';

export const dynamic = 'force-dynamic';

/** Who the caller is: mode, subject and groups (never a token). */
export async function GET(request: NextRequest): Promise<Response> {
  return handleWhoAmI(request);
}

/** Sign-in with a token (access.mode token or kubernetes): sets the session cookie. */
export async function POST(request: Request): Promise<Response> {
  return handleSignIn(request);
}

/** Sign-out from a script: ends the session on the server and deletes the cookie. */
export async function DELETE(request: Request): Promise<Response> {
  return handleSignOut(request, false);
}
