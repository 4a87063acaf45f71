import type { Metadata } from 'next';
import { headers } from 'next/headers';
import type { ReactNode } from 'react';

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
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 font-sans text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        {children}
      </body>
    </html>
  );
}
