import { handleSignIn, handleSignOut } from '@/server/auth/sign-in';

export const dynamic = 'force-dynamic';

/** Sign-in (access.mode token or kubernetes): sets the session cookie. */
export async function POST(request: Request): Promise<Response> {
  return handleSignIn(request);
}

/** Sign-out from a script: ends the session on the server and deletes the cookie. */
export async function DELETE(request: Request): Promise<Response> {
  return handleSignOut(request, false);
}
