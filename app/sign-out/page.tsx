import type { Metadata } from 'next';

import { getAccessGate } from '@/server/auth';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Sign out · beamscope' };

/** What to say where beamscope has no session to end. */
function noSignOut(mode: string | undefined): string {
  if (mode === 'proxy') {
    return 'You are signed in at the authenticating proxy in front of this dashboard: sign out there.';
  }
  if (mode === 'none') {
    return 'This dashboard has no sign-in (it listens on loopback only), so there is nothing to sign out of.';
  }
  return 'The server is starting; reload in a moment.';
}

/**
 * Sign-out in every mode that signs in (token, kubernetes, oidc): a plain form, so it works
 * without JavaScript, posting where the pages' Sign out button does. The server ends the session
 * at once; in mode oidc it then sends the browser to the provider's end-session endpoint, if it
 * has one. The page is guarded like every other: only a signed-in user reaches it.
 */
export default function SignOutPage() {
  const gate = getAccessGate();
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center gap-6 p-6">
      <header className="space-y-1">
        <h1 className="text-2xl font-bold tracking-tight">beamscope</h1>
      </header>
      {gate?.signsIn ? (
        <form method="post" action="/api/session/end" data-testid="sign-out-form">
          <button
            type="submit"
            className="rounded bg-slate-900 px-4 py-2 font-medium text-white dark:bg-slate-100 dark:text-slate-900"
          >
            Sign out
          </button>
        </form>
      ) : (
        <p data-testid="sign-out-elsewhere">{noSignOut(gate?.mode)}</p>
      )}
    </main>
  );
}
