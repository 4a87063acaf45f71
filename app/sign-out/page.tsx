import type { Metadata } from 'next';

import { getAccessGate } from '@/server/auth';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Sign out · beamscope' };

/**
 * Sign-out (access.mode oidc): a plain form, so it works without JavaScript. The server ends the
 * session at once, then sends the browser to the provider's end-session endpoint, if it has one.
 * The page is guarded like every other: only a signed-in user reaches it.
 */
export default function SignOutPage() {
  const mode = getAccessGate()?.mode;
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center gap-6 p-6">
      <header className="space-y-1">
        <h1 className="text-2xl font-bold tracking-tight">beamscope</h1>
      </header>
      {mode === 'oidc' ? (
        <form method="post" action="/api/session/oidc/sign-out" data-testid="sign-out-form">
          <button
            type="submit"
            className="rounded bg-slate-900 px-4 py-2 font-medium text-white dark:bg-slate-100 dark:text-slate-900"
          >
            Sign out
          </button>
        </form>
      ) : (
        <p data-testid="sign-out-elsewhere">
          There is no sign-out in access mode {mode ?? 'unknown (the server is starting)'}.
        </p>
      )}
    </main>
  );
}
