import { handleSignOut } from '@/server/auth/sign-in';

export const dynamic = 'force-dynamic';

/** Sign-out from the page's form: ends the session, then the sign-in page. */
export async function POST(request: Request): Promise<Response> {
  return handleSignOut(request, true);
}
