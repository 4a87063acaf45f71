import { handleSignIn } from '@/server/auth/sign-in';

export const dynamic = 'force-dynamic';

/** Sign-in with the access token (access.mode token): sets the session cookie. */
export async function POST(request: Request): Promise<Response> {
  return handleSignIn(request);
}
