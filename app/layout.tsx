import type { Metadata } from 'next';
import { cookies, headers } from 'next/headers';
import type { ReactNode } from 'react';

import { getAccessGate, SESSION_COOKIE } from '@/server/auth';

import './globals.css';

export const metadata: Metadata = {
  title: 'beamscope',
  description:
    'The pods Kubernetes lists beside the BEAM distribution mesh they really form, live.',
};

/**
 * Every page is rendered per request: the Content-Security-Policy nonce (set by proxy.ts) is
 * put on Next's scripts at render time, and a page prerendered at build time — the not-found
 * page included — would carry scripts without it, which the policy blocks.
 */
export default async function RootLayout({ children }: { children: ReactNode }) {
  await headers();
  // A signed-in session gets a way out: a plain form, so it works without JavaScript.
  const signedIn =
    getAccessGate()?.signsIn === true && (await cookies()).get(SESSION_COOKIE) !== undefined;
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 font-sans text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        {children}
        {signedIn ? (
          <form method="post" action="/api/session/end" className="fixed right-3 bottom-3 z-50">
            <button
              type="submit"
              data-testid="sign-out"
              className="rounded border border-slate-300 bg-white px-3 py-1 text-sm shadow-sm hover:bg-slate-100 dark:border-slate-700 dark:bg-slate-900 dark:hover:bg-slate-800"
            >
              Sign out
            </button>
          </form>
        ) : null}
      </body>
    </html>
  );
}
